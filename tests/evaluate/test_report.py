"""The report's pieces: SVG charts put points where they belong, and JSON never holds NaN."""

from __future__ import annotations

import errno
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from polychrome import _atomic
from polychrome._atomic import WriteError
from polychrome.evaluate.protocol import PhotoStream, get_protocol
from polychrome.evaluate.report import json_safe, write_report
from polychrome.evaluate.scoring import Evaluation, score_colorizers
from polychrome.evaluate.svg import histogram_chart, line_chart
from tests.evaluate.photos import SIZE, small_photo

SVG = "{http://www.w3.org/2000/svg}"


def _polylines(svg: str) -> list[list[tuple[float, float]]]:
    root = ET.fromstring(svg)  # also checks the SVG is well-formed XML
    return [
        [tuple(float(v) for v in point.split(",")) for point in line.get("points").split()]
        for line in root.iter(f"{SVG}polyline")
    ]


def test_line_chart_maps_data_to_the_plot_corners() -> None:
    # 520 x 320 with margins left 56, right 150, top 14, bottom 44: the plot spans x 56..370, y 14..276.
    svg = line_chart({"model <A>": ([0, 75, 150], [0.0, 0.5, 1.0])}, "threshold", "share", (0, 150), (0, 1))
    [points] = _polylines(svg)
    assert points == [(56.0, 276.0), (213.0, 145.0), (370.0, 14.0)]
    assert "model &lt;A&gt;" in svg  # labels are escaped


def test_line_chart_styles_references_and_skips_non_finite_points() -> None:
    series = {
        "gray": ([0, 1], [0.0, 1.0]),
        "truth": ([0, 1], [1.0, 1.0]),
        "m": ([0, 1, 2], [0.0, float("nan"), 1.0]),
    }
    svg = line_chart(series, "x", "y")
    lines = _polylines(svg)
    assert [len(p) for p in lines] == [2, 2, 2]
    assert re.search(r'stroke="#999999" stroke-width="1.6" stroke-dasharray="4 3"', svg)  # gray: dashed gray


def test_histogram_chart_draws_the_share_of_values_per_bin() -> None:
    # Values 1, 1, 3 on 2 bins over 0..3: shares 2/3 and 1/3; the y axis runs to the largest share.
    svg = histogram_chart({"a": [1.0, 1.0, 3.0]}, "colorfulness", bins=2)
    [points] = _polylines(svg)
    xs = sorted({x for x, _ in points})
    assert xs == pytest.approx([56.0, 213.0, 370.0])  # edges 0, 1.5, 3
    tops = sorted({y for _, y in points})
    assert tops == pytest.approx([14.0, 14.0 + 262 / 2, 276.0])  # 2/3 at the top, 1/3 halfway, 0


def test_json_safe_replaces_non_finite_numbers() -> None:
    document = {"psnr": float("nan"), "rows": [1.5, float("inf"), {"x": -float("inf")}], "n": 3, "s": "a"}
    safe = json_safe(document)
    assert safe == {"psnr": None, "rows": [1.5, None, {"x": None}], "n": 3, "s": "a"}
    json.dumps(safe, allow_nan=False)


@pytest.fixture(scope="module")
def references_only(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    """The gray and truth references judged on two photos, one named with bytes that are not UTF-8."""
    photos = tmp_path_factory.mktemp("data") / "photos"
    photos.mkdir()
    Image.fromarray(small_photo("coffee")).save(photos / "coffee.png")
    Image.fromarray(small_photo("rocket")).save(photos / "caf\udce9 \udcff.png")
    protocol = get_protocol(SIZE)
    return score_colorizers([], PhotoStream([str(photos)], protocol, workers=1), protocol)


def test_a_report_that_cannot_be_written_names_its_file(
    references_only: Evaluation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: Path, folder: Path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_atomic, "_create_temp_beside", full)
    with pytest.raises(WriteError) as info:
        write_report(references_only, tmp_path / "out")
    assert str(info.value) == f"cannot write {tmp_path / 'out' / 'metrics.json'} (no space left on device)"


def test_names_that_are_not_utf8_are_shown_escaped_and_kept_in_the_metrics(
    references_only: Evaluation, tmp_path: Path
) -> None:
    metrics_path, report_path = write_report(references_only, tmp_path / "out")

    page = report_path.read_text(encoding="utf-8")
    assert "photos/caf\\xe9 \\xff.png" in page and "\udce9" not in page
    assert sorted(json.loads(metrics_path.read_text())["per_image"]["names"]) == [
        "photos/caf\udce9 \udcff.png",
        "photos/coffee.png",
    ]
