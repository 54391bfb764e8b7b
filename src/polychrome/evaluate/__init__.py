"""Judging colorizers: metrics (PSNR, SSIM, colorfulness), the ab-error AuC, Fréchet distances on deep
features, the evaluation protocol, and `polychrome evaluate`'s comparison and report.

Modules: ``metrics`` · ``ab_error`` · ``frechet`` · ``protocol`` · ``candidates`` (what is judged) ·
``compare`` (the streamed pass) · ``report`` (metrics.json and report.html) · ``svg`` · ``quality``
(the single-colorizer scoring used by benchmarks).
"""
