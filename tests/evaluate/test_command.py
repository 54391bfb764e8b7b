"""`polychrome evaluate` end to end: a tiny saved model and folders of outputs on tiny photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polychrome.cli import app
from tests.evaluate.photos import PHOTOS, SIZE

FAST = ["--protocol", str(SIZE), "--render-size", str(SIZE), "--workers", "1", "--device", "cpu"]


def _run(*args: str):
    return CliRunner().invoke(app, [*args, *FAST])


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory,
    photos_dir: Path,
    model_dir: Path,
    truth_outputs: Path,
    gray_outputs: Path,
) -> tuple[Path, object]:
    """One full run with the default Fréchet distance (EfficientNet-Lite0 features)."""
    out = tmp_path_factory.mktemp("run") / "report"
    models = ["-m", str(model_dir), "-m", str(truth_outputs), "-m", str(gray_outputs)]
    result = _run("evaluate", *models, "-d", str(photos_dir), "-o", str(out))
    return out, result


def test_metrics_json(report, model_dir: Path, truth_outputs: Path, gray_outputs: Path) -> None:
    out, result = report
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    models = metrics["models"]
    assert list(models) == ["gray", str(model_dir), str(truth_outputs), str(gray_outputs), "truth"]
    assert metrics["data"]["images"] == len(PHOTOS) and metrics["data"]["left_out"] == []
    assert metrics["protocol"]["name"] == f"{SIZE}px" and metrics["protocol"]["size"] == SIZE
    assert metrics["protocol"]["feature_extractors"] == ["fd_effnet_lite0"]

    truth, copy, gray, gray_copy = (
        models[k] for k in ("truth", str(truth_outputs), "gray", str(gray_outputs))
    )
    assert truth["psnr"] == copy["psnr"] == 100.0
    assert copy["colorfulness_delta"] == pytest.approx(0.0, abs=1e-6)
    assert copy["fd_effnet_lite0"] == pytest.approx(0.0, abs=1e-6)
    assert gray["fd_effnet_lite0"] > 1.0  # color is visible to ImageNet features
    assert gray_copy["psnr"] == pytest.approx(gray["psnr"], abs=0.05)
    assert gray_copy["auc"] == pytest.approx(gray["auc"], abs=5e-3)
    assert gray_copy["fd_effnet_lite0"] == pytest.approx(gray["fd_effnet_lite0"], rel=0.1)
    assert 0 < models[str(model_dir)]["auc"] < 1

    per_image = metrics["per_image"]
    assert per_image["names"] == [f"photos/{n}.png" for n in sorted(PHOTOS)]
    assert per_image["truth"]["psnr"] == [100.0] * len(PHOTOS)
    assert len(metrics["cdf"]["thresholds"]) == len(metrics["cdf"]["gray"]["plain"]) == 151


def test_report_html(report, model_dir: Path) -> None:
    out, result = report
    page = (out / "report.html").read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<table>" in page and "fd_effnet_lite0" in page and str(model_dir) in page
    assert page.count("<svg") == 3  # colorfulness histogram, plain and rebalanced error CDFs
    # Grid: 4 photos x 5 rows; best and worst: 3 + 3 rows of 3 pictures for each of the 3 candidates.
    assert page.count('src="data:image/jpeg;base64,') == 4 * 5 + 3 * 6 * 3
    assert 'src="http' not in page and "<script" not in page  # self-contained and static
    assert "fd_effnet_lite0" in result.output and "truth" in result.output


def test_a_folder_missing_an_output_is_reported_not_fatal(
    tmp_path: Path, photos_dir: Path, model_dir: Path, truth_outputs: Path
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(truth_outputs, partial)
    (partial / "rocket.png").unlink()
    out = tmp_path / "report"
    result = _run(
        "evaluate", "-m", str(model_dir), "-m", str(partial), "-d", str(photos_dir), "-o", str(out), "--no-fd"
    )
    assert result.exit_code == 1
    assert (
        "left out: photos/rocket.png" in result.output and "no output for photos/rocket.png" in result.output
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["images"] == len(PHOTOS) - 1
    assert metrics["data"]["left_out"][0]["image"] == "photos/rocket.png"
    assert "fd_effnet_lite0" not in metrics["models"]["gray"]
    assert "photos/rocket.png" in (out / "report.html").read_text()


def test_missing_model_path_fails_before_any_work(tmp_path: Path, photos_dir: Path) -> None:
    out = tmp_path / "report"
    result = _run("evaluate", "-m", str(tmp_path / "nope"), "-d", str(photos_dir), "-o", str(out), "--no-fd")
    assert result.exit_code == 1
    assert "nope: no such model folder, outputs folder or built-in model" in result.output
    assert not out.exists()


def test_model_folder_without_weights(tmp_path: Path, photos_dir: Path, model_dir: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(model_dir / "config.json", broken)
    result = _run("evaluate", "-m", str(broken), "-d", str(photos_dir), "-o", str(tmp_path / "r"), "--no-fd")
    assert result.exit_code == 1 and "model.safetensors: no such file" in result.output


def test_missing_data_and_bad_feature_file(tmp_path: Path, photos_dir: Path, truth_outputs: Path) -> None:
    result = _run(
        "evaluate", "-m", str(truth_outputs), "-d", str(tmp_path / "none"), "-o", str(tmp_path / "r")
    )
    assert result.exit_code == 1 and "none: no such file or folder" in result.output
    junk = tmp_path / "inception.pt"
    junk.write_bytes(b"junk")
    args = ["-m", str(truth_outputs), "-d", str(photos_dir), "-o", str(tmp_path / "r")]
    result = _run("evaluate", *args, "--no-fd", "--fd-features", str(junk))
    assert result.exit_code == 1 and "inception.pt: not a TorchScript file" in result.output


def test_existing_output_needs_overwrite(tmp_path: Path, photos_dir: Path, truth_outputs: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    args = ["evaluate", "-m", str(truth_outputs), "-d", str(photos_dir), "-o", str(out), "--no-fd"]
    refused = _run(*args)
    assert refused.exit_code == 1 and "exists; pass --overwrite" in refused.output
    assert (out / "metrics.json").read_text() == "{}"
    replaced = _run(*args, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / "metrics.json").read_text())["data"]["images"] == len(PHOTOS)


@pytest.mark.parametrize("columns", [80, 200])
def test_the_printed_table_fits_the_terminal(
    tmp_path: Path, photos_dir: Path, model_dir: Path, truth_outputs: Path, columns: int
) -> None:
    models = ["-m", str(model_dir), "-m", str(truth_outputs)]
    args = ["evaluate", *models, "-d", str(photos_dir), "-o", str(tmp_path / "r"), "--no-fd", *FAST]

    result = CliRunner().invoke(app, args, env={"COLUMNS": str(columns)})

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= columns for line in lines[:-1])  # the table; the last line names two paths
    header = "".join(lines[: next(i for i, line in enumerate(lines) if "━" in line)])  # may wrap long names
    if columns == 80:  # too narrow for a row per model: a row per measure, the models as columns
        assert "measure" in header and "truth" in header
        assert any(line.lstrip().startswith("SSIM") for line in lines)
    else:
        assert "model" in header and "SSIM" in header


def test_outputs_identical_to_large_truth_jpegs_score_as_the_truth(tmp_path: Path) -> None:
    # The truth of a large photo is decoded reduced (JPEG draft): its outputs must be decoded alike.
    from PIL import Image
    from skimage import data

    photos, outputs = tmp_path / "photos", tmp_path / "outputs"
    photos.mkdir()
    big = Image.fromarray(data.astronaut()).resize((900, 900))
    big.save(photos / "astronaut.jpg", quality=90)
    outputs.mkdir()
    (outputs / "astronaut.jpg").write_bytes((photos / "astronaut.jpg").read_bytes())

    result = _run("evaluate", "-m", str(outputs), "-d", str(photos), "-o", str(tmp_path / "r"), "--no-fd")

    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["models"][str(outputs)]["psnr"] == 100.0


def test_an_outputs_folder_that_cannot_be_read_whole_is_reported(
    tmp_path: Path, photos_dir: Path, truth_outputs: Path, unreadable
) -> None:
    outputs = tmp_path / "outputs"
    shutil.copytree(truth_outputs, outputs)
    (outputs / "more").mkdir()
    unreadable(outputs / "more")

    result = _run("evaluate", "-m", str(outputs), "-d", str(photos_dir), "-o", str(tmp_path / "r"), "--no-fd")

    assert result.exit_code == 1
    assert f"error: {outputs / 'more'} ({outputs}): permission denied" in result.stderr
    assert (tmp_path / "r" / "metrics.json").is_file()  # the rest is judged all the same


def test_a_report_that_cannot_be_written_is_one_line(
    tmp_path: Path, photos_dir: Path, truth_outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from polychrome import _atomic

    def full(path: Path, folder: Path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_atomic, "_create_temp_beside", full)
    out = tmp_path / "r"
    result = _run("evaluate", "-m", str(truth_outputs), "-d", str(photos_dir), "-o", str(out), "--no-fd")

    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: cannot write {out / 'metrics.json'} (no space left on device)"
