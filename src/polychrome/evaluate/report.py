"""What `polychrome evaluate` writes: ``metrics.json`` (every number) and ``report.html`` (one page to read).

The HTML is self-contained: the table, a colorfulness histogram and the ab-error CDFs as inline SVG, and
pictures as embedded JPEGs (gray | each model | truth for the first photos, then each model's best and worst
photos by PSNR), so it can be mailed or attached to a paper review as it is.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from polychrome._atomic import atomic_write, remove_stale_temporaries
from polychrome._messages import printable_name
from polychrome.evaluate.ab_error import BIN_GRID, MAX_THRESHOLD
from polychrome.evaluate.candidates import GRAY, TRUTH
from polychrome.evaluate.scoring import PSNR_CAP, Evaluation, Example
from polychrome.evaluate.svg import histogram_chart, line_chart

METRICS_NAME = "metrics.json"
REPORT_NAME = "report.html"

# (key, column title, which way is better) in table order; Fréchet distances follow.
COLUMNS = (
    ("psnr", "PSNR (dB)", "↑"),
    ("ssim", "SSIM", "↑"),
    ("colorfulness", "colorfulness", ""),
    ("colorfulness_delta", "ΔCF", "↓"),
    ("auc", "AuC", "↑"),
    ("auc_rebalanced", "AuC rebal.", "↑"),
    ("bin_accuracy", "bin acc.", "↑"),
)


def protocol_text(evaluation: Evaluation) -> str:
    render = evaluation.render_size
    seen = (
        f"networks see the gray photo (the truth's L, a = b = 0) at a render size of {render} px"
        if render is not None
        else "outputs go through the same protocol"
    )
    return (
        f"{evaluation.protocol.describe()}; {seen}; PSNR and SSIM on sRGB in 0..1 (PSNR capped at "
        f"{PSNR_CAP:g} dB), averaged per photo; colorfulness of Hasler & Süsstrunk; AuC of the per-pixel ab "
        f"error for thresholds 0..{MAX_THRESHOLD} (rebalanced: each true ab bin of grid {BIN_GRID} weighs "
        "the same); Fréchet distances to the truth's features; "
        + ("gray photos kept" if evaluation.keep_gray else "photos already gray (mean chroma < 2) left out")
    )


def metrics_document(evaluation: Evaluation) -> dict[str, Any]:
    """Everything measured, as JSON-ready data."""
    return {
        "protocol": {
            "name": evaluation.protocol.name,
            "description": protocol_text(evaluation),
            "size": evaluation.protocol.size,
            "render_size": evaluation.render_size,
            "keep_gray": evaluation.keep_gray,
            "psnr_cap_db": PSNR_CAP,
            "ab_error_thresholds": [0, MAX_THRESHOLD],
            "ab_bin_grid": BIN_GRID,
            "feature_extractors": evaluation.extractors,
        },
        "data": {
            "sources": evaluation.sources,
            "images": len(evaluation.names),
            "dropped": dict(sorted(evaluation.dropped.items())),
            "unreadable": [list(f) for f in evaluation.failures],
            "left_out": [
                {"model": label, "image": name, "reason": reason}
                for label, name, reason in evaluation.problems
            ],
        },
        "models": evaluation.summary(),
        "cdf": {
            "thresholds": list(range(MAX_THRESHOLD + 1)),
            **{
                label: {"plain": evaluation.cdf(label), "rebalanced": evaluation.cdf(label, rebalanced=True)}
                for label in evaluation.labels
            },
        },
        "per_image": {
            "names": evaluation.names,
            **{label: scores.per_image for label, scores in evaluation.scores.items()},
        },
    }


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (a model that output NaN, say) replaced by None, as JSON has
    no NaN or infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _jpeg(picture: np.ndarray, quality: int = 88) -> str:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _shown(name: str) -> str:
    """A file name, a model or a message naming one, in the page: undecodable bytes and controls escaped."""
    return html.escape(printable_name(name))


def _img(picture: np.ndarray, title: str) -> str:
    return f'<img src="{_jpeg(picture)}" alt="{html.escape(title)}" title="{html.escape(title)}">'


def _number(value: Any, key: str) -> str:
    if value is None:
        return "–"
    if key in ("ssim", "auc", "auc_rebalanced", "bin_accuracy"):
        return f"{value:.4f}"
    return f"{value:.2f}"


def _table(evaluation: Evaluation, summary: dict[str, dict[str, Any]]) -> str:
    columns = [*COLUMNS, *((name, name, "↓") for name in evaluation.extractors)]
    head = "".join(f"<th>{html.escape(title)} {arrow}</th>" for _, title, arrow in columns)
    rows = []
    for label, row in summary.items():
        cells = "".join(f"<td>{_number(row.get(key), key)}</td>" for key, _, _ in columns)
        css = ' class="reference"' if row["kind"] == "reference" else ""
        name = f'<th title="{_shown(row["source"])}">{_shown(label)}</th>'
        rows.append(f"<tr{css}>{name}<td>{html.escape(row['kind'])}</td>{cells}</tr>")
    return f"<table><tr><th>model</th><th>kind</th>{head}</tr>{''.join(rows)}</table>"


def _grid(evaluation: Evaluation) -> str:
    labels = evaluation.labels
    count = min(len(evaluation.scores[label].samples) for label in labels)
    head = "".join(f"<th>{_shown(label)}</th>" for label in labels)
    rows = []
    for i in range(count):
        name = evaluation.names[i]
        cells = "".join(
            f"<td>{_img(evaluation.scores[label].samples[i], f'{label}: {printable_name(name)}')}</td>"
            for label in labels
        )
        rows.append(f'<tr><td class="name">{_shown(name)}</td>{cells}</tr>')
    return f'<table class="pictures"><tr><th>photo</th>{head}</tr>{"".join(rows)}</table>'


def _examples(label: str, examples: list[Example]) -> str:
    rows = []
    for e in examples:
        pictures = (_img(e.gray, "gray"), _img(e.output, label), _img(e.truth, "truth"))
        cells = "".join(f"<td>{p}</td>" for p in pictures)
        rows.append(f'<tr><td class="name">{_shown(e.name)}<br>{e.psnr:.2f} dB</td>{cells}</tr>')
    return "".join(rows)


def _extremes(evaluation: Evaluation) -> str:
    parts = []
    for label, scores in evaluation.scores.items():
        if label in (GRAY, TRUTH) or not scores.best:
            continue
        head = f"<tr><th>photo, PSNR</th><th>gray</th><th>{_shown(label)}</th><th>truth</th></tr>"
        parts.append(f"<h3>{_shown(label)}</h3>")
        parts.append(
            f'<table class="pictures">{head}<tr><th colspan="4">best</th></tr>{_examples(label, scores.best)}'
            f'<tr><th colspan="4">worst</th></tr>{_examples(label, scores.worst)}</table>'
        )
    return "\n".join(parts)


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
tr.reference { color: #666; background: #f6f6f6; }
table.pictures td { padding: 2px; text-align: center; }
table.pictures img { width: 160px; height: 160px; display: block; }
td.name { text-align: left; font-size: 0.8em; max-width: 12em; word-break: break-all; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.note { color: #555; font-size: 0.9em; max-width: 60em; }
"""


def render_html(evaluation: Evaluation, summary: dict[str, dict[str, Any]] | None = None) -> str:
    """The report page as one string."""
    summary = summary or evaluation.summary()
    labels = evaluation.labels
    thresholds = list(range(MAX_THRESHOLD + 1))
    cdf_plain = {label: (thresholds, evaluation.cdf(label)) for label in labels}
    cdf_rebalanced = {label: (thresholds, evaluation.cdf(label, rebalanced=True)) for label in labels}
    # The gray row is 0 for every photo; its spike would flatten everyone else's histogram.
    colorfulness = {
        label: evaluation.scores[label].per_image["colorfulness"] for label in labels if label != GRAY
    }
    dropped = ", ".join(f"{n} {reason}" for reason, n in sorted(evaluation.dropped.items())) or "none"
    problems = "".join(
        f"<li>{_shown(label)}: {_shown(name)}: {_shown(reason)}</li>"
        for label, name, reason in evaluation.problems
    )
    problems += "".join(f"<li>{_shown(reason)}</li>" for _, reason in evaluation.failures)
    sources = ", ".join(_shown(s) for s in evaluation.sources)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polychrome evaluate</title><style>{_STYLE}</style></head>
<body>
<h1>Colorization evaluation</h1>
<p>{len(evaluation.names)} photos from {sources}. Left out: {html.escape(dropped)}.</p>
<p class="note">Protocol: {html.escape(protocol_text(evaluation))}.</p>
<h2>Metrics</h2>
{_table(evaluation, summary)}
<p class="note">gray: the photo's lightness with no color, what doing nothing scores; truth: the original
photo. ΔCF is the gap between a row's mean colorfulness and the truth's. AuC is the normalised area under the
cumulative distribution of the per-pixel ab error (Zhang et al. 2016); fd_effnet_lite0 is a Fréchet distance
on EfficientNet-Lite0 ImageNet features, not Inception FID.</p>
{f"<h2>Problems</h2><ul>{problems}</ul>" if problems else ""}
<h2>Colorfulness</h2>
<div class="charts">{histogram_chart(colorfulness, "colorfulness (Hasler & Süsstrunk)")}</div>
<p class="note">The gray output scores 0 on every photo and is not drawn.</p>
<h2>ab error</h2>
<div class="charts">
{line_chart(cdf_plain, "threshold (Lab units)", "share of pixels within", (0, MAX_THRESHOLD), (0, 1))}
{line_chart(cdf_rebalanced, "threshold (Lab units)", "rebalanced share within", (0, MAX_THRESHOLD), (0, 1))}
</div>
<h2>Side by side</h2>
{_grid(evaluation)}
<h2>Best and worst photos per model (PSNR)</h2>
{_extremes(evaluation)}
</body></html>
"""


def write_report(evaluation: Evaluation, directory: str | Path) -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``report.html`` into ``directory`` (created), each atomically."""
    directory = Path(directory)
    remove_stale_temporaries(directory)
    document = metrics_document(evaluation)
    text = json.dumps(json_safe(document), indent=1, allow_nan=False) + "\n"
    page = render_html(evaluation, document["models"])
    metrics_path = atomic_write(directory / METRICS_NAME, lambda f: f.write(text.encode()))
    report_path = atomic_write(directory / REPORT_NAME, lambda f: f.write(page.encode()))
    return metrics_path, report_path
