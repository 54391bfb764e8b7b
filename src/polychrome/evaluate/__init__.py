"""Judging colorizers: metrics (PSNR, SSIM, colorfulness), the ab-error AuC, Fréchet distances on deep
features, the named evaluation protocols, and the one scoring path that `polychrome evaluate`, calibration,
training validation and the benchmarks share.

Modules: ``metrics`` · ``ab_error`` · ``frechet`` · ``protocol`` (which pixels of which photos) ·
``candidates`` (what is judged) · ``scoring`` (the streamed pass) · ``report`` (metrics.json and
report.html) · ``svg``.
"""
