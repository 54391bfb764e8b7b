"""The built-in hint network (method 2 of docs/hints.md), on photos that scikit-image ships.

It ships as ONNX only (float16 weights) beside the built-in model, and takes that model's hints when asked
(``hint_method="network"``); spreading them stays the default.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.color import rgb2lab
from typer.testing import CliRunner

from polychrome import Colorizer, builtin_models
from polychrome.cli import app
from polychrome.pipelines.hints import Hint
from polychrome.pipelines.image import HINT_MODELS

pytestmark = pytest.mark.builtin_weights


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return Colorizer.from_pretrained()


def _truth_hints(truth: np.ndarray, count: int, seed: int = 0) -> list[Hint]:
    """``count`` hints at random points, each the mean color of the truth's 5x5 square there."""
    height, width = truth.shape[:2]
    points = np.random.default_rng(seed).integers(0, [width, height], size=(count, 2))
    hints = []
    for x, y in points:
        red, green, blue = truth[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3].reshape(-1, 3).mean(0).round()
        hints.append(Hint(float(x), float(y), f"#{int(red):02x}{int(green):02x}{int(blue):02x}", radius=2))
    return hints


def _psnr(out: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / ((out.astype(float) - truth) ** 2).mean()))


def test_the_hint_network_ships_for_onnx_runtime_beside_the_built_in_model(colorizer: Colorizer) -> None:
    assert HINT_MODELS["effunet-lite0"] in builtin_models()
    assert colorizer.hint_model == "effunet-lite0-hints"
    hint_network = Colorizer.from_pretrained("effunet-lite0-hints")
    assert hint_network.backend == "onnx" and hint_network.model.takes_hints
    assert hint_network.hint_model is None  # it takes its hints itself
    with pytest.raises(FileNotFoundError, match="only model.onnx: this model colors on ONNX Runtime"):
        Colorizer.from_pretrained("effunet-lite0-hints", backend="torch")


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_ten_true_hints_bring_the_photo_and_the_hinted_points_closer_to_the_truth(
    colorizer: Colorizer, name: str
) -> None:
    # Measured: 21.4 -> 23.8, 18.4 -> 25.1 and 22.1 -> 29.6 dB; ab error at the points 16-27 -> 1.5-6.1.
    truth = getattr(data, name)()
    gray = np.asarray(Image.fromarray(truth).convert("L"))
    hints = _truth_hints(truth, 10)
    without = np.asarray(colorizer(gray).images[0])
    hinted = np.asarray(colorizer(gray, hints=hints, hint_method="network").images[0])

    assert _psnr(hinted, truth) > _psnr(without, truth) + 1.5

    def error_at_hints(out: np.ndarray) -> float:
        lab, true_lab = rgb2lab(out), rgb2lab(truth)
        return float(
            np.mean(
                [np.hypot(*(lab[int(h.y), int(h.x), 1:] - true_lab[int(h.y), int(h.x), 1:])) for h in hints]
            )
        )

    assert error_at_hints(hinted) < min(8.0, error_at_hints(without) / 2)


@pytest.mark.parametrize(
    "point", [(0, 0), (1023, 0), (0, 767), (1023, 767), (512, 767), (0, 384), (1023, 384)]
)
def test_a_hint_at_the_photos_edge_or_corner_is_seen_by_the_network(point: tuple[int, int]) -> None:
    # The network ignores hints in its outer rows and columns; placed a few pixels in, this one is seen.
    network = Colorizer.from_pretrained("effunet-lite0-hints")
    gray = np.full((768, 1024), 128, np.uint8)
    x, y = point
    without = rgb2lab(np.asarray(network(gray).images[0]))
    hinted = rgb2lab(np.asarray(network(gray, hints=[Hint(float(x), float(y), "#0000ff")]).images[0]))
    change = np.linalg.norm(hinted[..., 1:] - without[..., 1:], axis=-1)
    near = change[max(y - 30, 0) : y + 30, max(x - 30, 0) : x + 30]
    assert near.max() > 30  # measured 55-80 a corner or edge away; 1-11 before hints were moved in


def test_spreading_keeps_the_models_colors_away_from_a_hint_and_the_network_recolors_the_photo(
    colorizer: Colorizer,
) -> None:
    truth = data.astronaut()
    gray = np.asarray(Image.fromarray(truth).convert("L"))
    hints = [Hint(40.0, 40.0, "#b22222", radius=2)]  # a corner of the flag, far from most of the photo
    without = np.asarray(colorizer(gray).images[0]).astype(int)
    auto = np.asarray(colorizer(gray, hints=hints).images[0]).astype(int)
    spread = np.asarray(colorizer(gray, hints=hints, hint_method="spread").images[0]).astype(int)
    network = np.asarray(colorizer(gray, hints=hints, hint_method="network").images[0]).astype(int)
    hint_network = Colorizer.from_pretrained("effunet-lite0-hints")
    assert np.array_equal(network, np.asarray(hint_network(gray, hints=hints).images[0]))
    assert np.array_equal(auto, spread)  # the built-in model does not take hints itself
    far = np.zeros(gray.shape, bool)
    far[256:, 256:] = True  # the lower right quarter, hundreds of pixels from the hint

    def changed(out: np.ndarray) -> float:
        return float((np.abs(out - without).max(-1) > 2)[far].mean())

    assert changed(spread) < 0.01  # spreading leaves the model's colors where the hint does not reach
    assert changed(network) > 0.2  # the hint network colors the whole photo itself


def test_a_misspelt_or_impossible_hint_method_is_refused(colorizer: Colorizer, tmp_path) -> None:
    gray = np.full((32, 32), 128, np.uint8)
    hints = [Hint(0.5, 0.5, "#ff0000")]
    with pytest.raises(ValueError, match="hint_method must be one of auto, spread, network, got 'net'"):
        colorizer(gray, hints=hints, hint_method="net")
    copy = tmp_path / "mine"  # the built-in model as a user's own folder: no hint network of its own
    copy.mkdir()
    for name in ("config.json", "model.onnx"):
        shutil.copy(colorizer.model.path.parent / name, copy / name)
    plain = Colorizer.from_pretrained(copy)
    assert plain.hint_model is None
    with pytest.raises(ValueError, match="'network' needs a model that takes hints"):
        plain(gray, hints=hints, hint_method="network")
    with pytest.raises(ValueError, match="takes its hints itself"):
        Colorizer.from_pretrained("effunet-lite0-hints")(gray, hints=hints, hint_method="spread")


def test_the_cli_takes_hint_method_and_refuses_a_misspelt_one(tmp_path) -> None:
    photo = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).convert("L").save(photo)
    runner = CliRunner()
    outputs = {}
    for method in ("auto", "spread", "network"):
        out = tmp_path / f"{method}.png"
        args = ["colorize", str(photo), "-o", str(out), "--hint", "0.5,0.5=#2050d0", "--hint-method", method]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs[method] = np.asarray(Image.open(out))
    assert np.array_equal(outputs["auto"], outputs["spread"])
    assert not np.array_equal(outputs["network"], outputs["spread"])

    result = runner.invoke(
        app, ["colorize", str(photo), "-o", str(tmp_path / "x.png"), "--hint-method", "net"]
    )
    assert result.exit_code == 2 and "'net': choose auto, spread, network" in result.output
    assert not (tmp_path / "x.png").exists()


def test_the_built_in_model_named_by_a_relative_path_keeps_its_hint_network(monkeypatch, tmp_path) -> None:
    from polychrome.pipelines.image import resolve_model_path

    folder = resolve_model_path("effunet-lite0")
    monkeypatch.chdir(folder.parent)
    assert Colorizer.from_pretrained(folder.name).hint_model == "effunet-lite0-hints"
    assert (
        Colorizer.from_pretrained(f"../{folder.parent.name}/{folder.name}").hint_model
        == "effunet-lite0-hints"
    )


def test_hint_is_importable_from_the_package_as_the_readme_writes_it() -> None:
    import polychrome

    assert polychrome.Hint is Hint
