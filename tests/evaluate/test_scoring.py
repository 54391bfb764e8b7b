"""Judging candidates on the same photos: references, networks, output folders, left-out images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from polychrome.evaluate.candidates import OutputsCandidate, resolve_candidate
from polychrome.evaluate.metrics import colorfulness
from polychrome.evaluate.protocol import PhotoStream, get_protocol
from polychrome.evaluate.scoring import ScoringOptions, score_colorizers
from polychrome.pipelines.image import Colorizer
from tests.evaluate.photos import PHOTOS, SIZE, gray_copy, small_photo

CPU = torch.device("cpu")
PROTOCOL = get_protocol(SIZE)
OPTIONS = ScoringOptions(grid_images=2, extremes=2)


def _score(candidates, folder: Path, extractors=(), batch_size: int = 3, **stream):
    photos = PhotoStream([str(folder)], PROTOCOL, workers=1, batch_size=batch_size, **stream)
    return score_colorizers(candidates, photos, PROTOCOL, extractors, OPTIONS)


class MeanAndSpread:
    """A cheap feature extractor (per-channel mean and standard deviation): the protocol, no weights."""

    name = "fd_mean_spread"
    device = CPU

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        return torch.cat((rgb.mean(dim=(2, 3)), rgb.std(dim=(2, 3))), dim=1)


@pytest.fixture(scope="module")
def evaluation(photos_dir: Path, model_dir: Path, truth_outputs: Path, gray_outputs: Path):
    candidates = [
        resolve_candidate(str(spec), PROTOCOL, CPU, SIZE, workers=1)
        for spec in (model_dir, truth_outputs, gray_outputs)
    ]
    return _score(candidates, photos_dir, [MeanAndSpread()])


def test_rows_and_references(evaluation, model_dir: Path, truth_outputs: Path, gray_outputs: Path) -> None:
    summary = evaluation.summary()
    assert list(summary) == ["gray", str(model_dir), str(truth_outputs), str(gray_outputs), "truth"]
    assert [summary[k]["kind"] for k in summary] == ["reference", "model", "outputs", "outputs", "reference"]
    assert evaluation.names == [f"photos/{name}.png" for name in sorted(PHOTOS)]
    assert all(row["images"] == 4 for row in summary.values())
    assert evaluation.problems == []

    truth = summary["truth"]
    assert truth["psnr"] == 100.0 and truth["ssim"] == pytest.approx(1.0)
    assert truth["colorfulness_delta"] == 0.0 and truth["fd_mean_spread"] == pytest.approx(0.0, abs=1e-9)
    assert truth["auc"] == truth["auc_rebalanced"] == truth["bin_accuracy"] == 1.0

    # Outputs identical to the originals score exactly as the truth does.
    copy = summary[str(truth_outputs)]
    for key in ("psnr", "colorfulness", "colorfulness_delta", "auc", "auc_rebalanced", "bin_accuracy"):
        assert copy[key] == pytest.approx(truth[key], abs=1e-6), key
    assert copy["fd_mean_spread"] == pytest.approx(0.0, abs=1e-9)


def test_truth_colorfulness_is_the_photos_own(evaluation) -> None:
    photos = torch.from_numpy(np.stack([small_photo(n) for n in sorted(PHOTOS)])).permute(0, 3, 1, 2) / 255
    expected = colorfulness(photos.float()).double().numpy()
    np.testing.assert_allclose(evaluation.scores["truth"].per_image["colorfulness"], expected, rtol=1e-5)


def test_gray_reference_is_psnr_of_the_gray_photo(evaluation) -> None:
    for name, value in zip(sorted(PHOTOS), evaluation.scores["gray"].per_image["psnr"], strict=True):
        photo = small_photo(name)
        gray = gray_copy(photo)  # 8-bit, so only near the float reference
        assert value == pytest.approx(peak_signal_noise_ratio(photo, gray), abs=0.05)
    summary = evaluation.summary()
    assert summary["gray"]["colorfulness"] < 0.01
    assert summary["gray"]["colorfulness_delta"] == pytest.approx(summary["truth"]["colorfulness"], abs=0.01)
    assert summary["gray"]["fd_mean_spread"] > 1e-4


def test_outputs_that_add_no_color_score_as_the_gray_reference(evaluation, gray_outputs: Path) -> None:
    summary = evaluation.summary()
    gray, copy = summary["gray"], summary[str(gray_outputs)]
    assert copy["psnr"] == pytest.approx(gray["psnr"], abs=0.05)
    assert copy["ssim"] == pytest.approx(gray["ssim"], abs=1e-3)
    assert copy["colorfulness"] < 0.1  # 8-bit rounding of gray leaves a trace of chroma
    for key in ("auc", "auc_rebalanced", "bin_accuracy"):
        assert copy[key] == pytest.approx(gray[key], abs=5e-3), key


def test_network_rows_are_what_the_colorizer_makes(evaluation, model_dir: Path) -> None:
    colorizer = Colorizer.from_pretrained(model_dir)
    expected = []
    for name in sorted(PHOTOS):
        photo = small_photo(name)
        out = colorizer(gray_copy(photo), render_size=SIZE, output_type="np").images[0]
        expected.append(peak_signal_noise_ratio(photo.astype(np.float64) / 255, out.astype(np.float64)))
    # The gray input is rounded to 8 bits here and not in the evaluation: close, not equal.
    np.testing.assert_allclose(evaluation.scores[str(model_dir)].per_image["psnr"], expected, atol=0.1)


def test_an_exported_onnx_file_is_judged_on_onnx_runtime_as_its_model(
    evaluation, photos_dir: Path, model_dir: Path, tmp_path: Path
) -> None:
    from polychrome._model_files import read_config
    from polychrome.export import export_onnx
    from polychrome.models import load_pretrained

    exported = export_onnx(load_pretrained(model_dir), tmp_path / "model.onnx", read_config(model_dir))
    candidate = resolve_candidate(str(exported), PROTOCOL, CPU, SIZE, workers=1)
    assert candidate.kind == "model" and candidate.colorizer.backend == "onnx"

    scored = _score([candidate], photos_dir)
    expected = evaluation.scores[str(model_dir)].per_image["psnr"]
    np.testing.assert_allclose(scored.scores[str(exported)].per_image["psnr"], expected, atol=0.05)


def test_report_material(evaluation, model_dir: Path) -> None:
    scores = evaluation.scores[str(model_dir)]
    assert len(scores.samples) == 2 and scores.samples[0].shape == (SIZE, SIZE, 3)
    psnrs = sorted(scores.per_image["psnr"])
    assert [e.psnr for e in scores.best] == pytest.approx(psnrs[::-1][:2])
    assert [e.psnr for e in scores.worst] == pytest.approx(psnrs[:2])
    worst = scores.worst[0]
    np.testing.assert_array_equal(worst.truth, small_photo(Path(worst.name).stem))
    cdf = evaluation.cdf(str(model_dir))
    assert len(cdf) == 151 and all(a <= b for a, b in zip(cdf, cdf[1:], strict=False)) and cdf[-1] <= 1


def test_a_missing_output_leaves_the_photo_out_for_everyone(
    tmp_path: Path, photos_dir: Path, model_dir: Path, truth_outputs: Path
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(truth_outputs, partial)
    (partial / "coffee.png").unlink()
    (partial / "rocket.png").write_bytes(b"not an image")
    candidates = [resolve_candidate(str(s), PROTOCOL, CPU, SIZE, 1) for s in (model_dir, partial)]
    result = _score(candidates, photos_dir)
    assert result.names == ["photos/astronaut.png", "photos/chelsea.png"]
    reasons = {name: reason for _, name, reason in result.problems}
    assert set(reasons) == {"photos/coffee.png", "photos/rocket.png"}
    assert "no output" in reasons["photos/coffee.png"] and "not an image" in reasons["photos/rocket.png"]
    assert all(len(s.per_image["psnr"]) == 2 for s in result.scores.values())
    assert result.summary()[str(partial)]["psnr"] == 100.0


def test_limit_and_keep_gray(tmp_path: Path, photos_dir: Path, truth_outputs: Path) -> None:
    folder = tmp_path / "photos"
    shutil.copytree(photos_dir, folder)
    Image.fromarray(gray_copy(small_photo("coffee"))).save(folder / "gray.png")
    candidate = [OutputsCandidate("copy", truth_outputs, PROTOCOL)]
    limited = _score(candidate, folder, limit=2)
    assert limited.names == ["photos/astronaut.png", "photos/chelsea.png"]
    default = _score(candidate, folder)
    assert "photos/gray.png" not in default.names and default.dropped["grayscale"] == 1
    with_gray = _score(candidate, folder, keep_gray=True)
    assert any("gray.png" in name for _, name, _ in with_gray.problems)  # the outputs have no gray.png


def test_matching_by_relative_path_then_by_unique_name(tmp_path: Path) -> None:
    folder = tmp_path / "outs"
    for relative in ("a/x.png", "b/x.png", "y.jpg", "deep/er/z.png", ".hidden/w.png"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / relative)
    outputs = OutputsCandidate("outs", folder, PROTOCOL)
    assert outputs.match("photos/a/x.jpg") == folder / "a/x.png"
    assert outputs.match("shard.tar.gz/y.png") == folder / "y.jpg"
    assert outputs.match("z.png") == folder / "deep/er/z.png"  # the only z anywhere
    with pytest.raises(LookupError, match="several outputs"):
        outputs.match("photos/c/x.png")
    with pytest.raises(LookupError, match="no output"):
        outputs.match("photos/w.png")  # hidden folders are not outputs


def test_outputs_are_cropped_like_the_truth_and_must_keep_its_shape(tmp_path: Path) -> None:
    wide = np.asarray(Image.fromarray(small_photo("astronaut", 96)).resize((96, 48)))
    square = small_photo("coffee")
    photos, good, bad = tmp_path / "photos", tmp_path / "good", tmp_path / "bad"
    for folder in (photos, good, bad):
        folder.mkdir()
        Image.fromarray(square).save(folder / "square.png")
    Image.fromarray(wide).save(photos / "wide.png")
    Image.fromarray(wide).resize((48, 24), Image.Resampling.LANCZOS).save(good / "wide.png")  # half size
    Image.fromarray(wide[:, :48]).save(bad / "wide.png")  # a square: another framing of the photo
    alone = _score([OutputsCandidate("good", good, PROTOCOL)], photos)
    assert alone.names == ["photos/square.png", "photos/wide.png"] and alone.problems == []
    assert alone.scores["good"].per_image["psnr"][1] > 25  # the same framing, only softer

    candidates = [OutputsCandidate("good", good, PROTOCOL), OutputsCandidate("bad", bad, PROTOCOL)]
    both = _score(candidates, photos)
    assert both.names == ["photos/square.png"]
    [(label, name, reason)] = both.problems
    assert (label, name) == ("bad", "photos/wide.png")
    assert "48x48 does not have the shape of the photo (96x48)" in reason


def test_bad_arguments(photos_dir: Path, truth_outputs: Path, tmp_path: Path) -> None:
    copy = OutputsCandidate("x", truth_outputs, PROTOCOL)
    with pytest.raises(ValueError, match="distinct names"):
        _score([copy, copy], photos_dir)
    with pytest.raises(ValueError, match="distinct names"):
        _score([OutputsCandidate("gray", truth_outputs, PROTOCOL)], photos_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no photo to evaluate"):
        _score([copy], empty)
    with pytest.raises(ValueError, match="neither a model folder nor a folder of outputs"):
        resolve_candidate(str(empty), PROTOCOL, CPU)
    with pytest.raises(FileNotFoundError, match="no such model folder, outputs folder or built-in model"):
        resolve_candidate(str(tmp_path / "nowhere"), PROTOCOL, CPU)
    with pytest.raises(ValueError, match="reference row"):
        resolve_candidate("truth", PROTOCOL, CPU)
