"""Color hints through the colorizer: the hinted color comes out at its point, stays on its side of a strong
edge, on either backend, and bad hints are one-line errors naming the hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import polychrome.pipelines.numpy_path as numpy_path
from polychrome._model_files import ONNX_NAME, read_config
from polychrome.color.lab import rgb_to_lab
from polychrome.export import export_onnx
from polychrome.models import create_model, save_pretrained
from polychrome.pipelines.hints import Hint, HintError, hint_ab, load_hints, parse_hint, spread_hints
from polychrome.pipelines.image import Colorizer


def _ab(rgb: np.ndarray) -> np.ndarray:
    """Lab a and b of float RGB ``(H, W, 3)``."""
    return rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None].double())[0, 1:].permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    torch.manual_seed(0)
    return Colorizer(create_model("effunet_tiny_reg"))


def _halves() -> np.ndarray:
    """A gray photo, 96 x 128: a darker left half and a lighter right half, each flat."""
    photo = np.full((96, 128), 0.35, np.float32)
    photo[:, 64:] = 0.8
    return photo


def test_a_hint_comes_out_at_its_point_and_not_across_the_edge(colorizer: Colorizer) -> None:
    photo = _halves()
    plain = colorizer(photo, output_type="np").images[0]
    hinted = colorizer(photo, output_type="np", hints=[Hint(20, 40, "#3a7f2b", radius=3)]).images[0]
    wanted = hint_ab([Hint(0, 0, "#3a7f2b")])[0]
    assert np.allclose(_ab(hinted)[40, 20], wanted, atol=2.0)
    # The whole flat left half turns most of the way to the hint; the right half keeps the model's colors.
    before, after = _ab(plain)[80, 55], _ab(hinted)[80, 55]
    assert np.linalg.norm(after - wanted) < 0.25 * np.linalg.norm(before - wanted)
    assert np.abs(hinted[:, 72:] - plain[:, 72:]).max() < 2 / 255
    # The photo's own lightness is kept everywhere.
    lightness = rgb_to_lab(torch.from_numpy(hinted).permute(2, 0, 1)[None].double())[0, 0].numpy()
    gray = rgb_to_lab(torch.from_numpy(np.dstack([photo] * 3)).permute(2, 0, 1)[None].double())[0, 0].numpy()
    assert np.abs(lightness - gray).max() < 0.5


def test_a_hint_holds_its_color_beside_another_hint_of_another_color(colorizer: Colorizer) -> None:
    # Without its own cells around the point, the blue hint 24 px away pulled the red point 9 Lab units off.
    photo = np.full((96, 128), 0.5, np.float32)
    red, blue = Hint(40, 48, "#b22222"), Hint(64, 48, "#1e3cc8")
    alone = _ab(colorizer(photo, output_type="np", hints=[red]).images[0])[48, 40]
    together = _ab(colorizer(photo, output_type="np", hints=[red, blue]).images[0])
    assert np.linalg.norm(together[48, 40] - alone) < 2.5
    assert np.linalg.norm(together[48, 64] - hint_ab([blue])[0]) < 3.0


def test_python_takes_one_hint_or_the_command_lines_strings(colorizer: Colorizer) -> None:
    photo = _halves()
    listed = colorizer(photo, output_type="np", hints=[Hint(20, 40, "#3a7f2b", radius=3)]).images[0]
    for given in (Hint(20, 40, "#3a7f2b", radius=3), "20,40,3=#3a7f2b", ["20,40,3=#3a7f2b"]):
        assert np.array_equal(colorizer(photo, output_type="np", hints=given).images[0], listed)
    for wrong, name in ((42, "int"), ([Hint(1, 1, "red"), (1, 2)], "tuple")):
        with pytest.raises(
            TypeError, match=rf"^hints must be Hint objects or strings such as .*, got {name}$"
        ):
            colorizer(photo, hints=wrong)
    with pytest.raises(HintError, match="write it as X,Y=#rrggbb"):
        colorizer(photo, hints="somewhere red")


def test_a_plain_model_spreads_hints_alike_on_onnx_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    model = create_model("effunet_tiny_reg")
    folder = save_pretrained(model, tmp_path / "model")
    export_onnx(model, folder / ONNX_NAME, read_config(folder))
    spread: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> np.ndarray:
        spread.append(1)
        return spread_hints(*args, **kwargs)

    monkeypatch.setattr(numpy_path, "spread_hints", counted)
    hints = [Hint(20, 40, "#3a7f2b", radius=3)]
    out = {
        b: Colorizer.from_pretrained(folder, backend=b)(_halves(), output_type="np", hints=hints).images[0]
        for b in ("torch", "onnx")
    }

    assert spread == [1]  # the ONNX path spread them, once for the one photo
    assert np.allclose(_ab(out["onnx"])[40, 20], hint_ab(hints)[0], atol=2.0)
    assert np.abs(out["onnx"] - out["torch"]).max() < 3 / 255


def test_fractions_name_the_same_point_as_pixels(colorizer: Colorizer) -> None:
    photo = _halves()
    by_pixels = colorizer(photo, output_type="np", hints=[parse_hint("32,48=#b22222")]).images[0]
    by_fraction = colorizer(photo, output_type="np", hints=[parse_hint("0.25,0.5=#b22222")]).images[0]
    assert np.abs(by_pixels - by_fraction).max() < 1 / 255


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("120,80", "write it as X,Y=#rrggbb"),
        ("a,80=#ffffff", "must be numbers"),
        ("10,10=#zzzzzz", "is not a color"),
        ("10,10=rgb(300,0,0)", r"'rgb\(300,0,0\)' has a channel outside 0..255"),
        ("10,10=rgb(120%,0%,0%)", "has a channel outside 0..255"),
        ("10,10=#b2222280", "'#b2222280' is transparent; a hint is an opaque color"),
        ("10,10=rgba(1,2,3,0)", "is transparent"),
        ("10,10,-2=red", "radius must be 0 to 65536 pixels"),
        ("10,10,1e300=red", "radius must be 0 to 65536 pixels, got 1e\\+300"),
    ],
)
def test_bad_hints_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(HintError, match=message) as info:
        parse_hint(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("120,80,-3=red", "hint 120,80,-3=red: the radius must be 0 to 65536 pixels, got -3"),
        ("120, 80 ,-3=red", "hint 120, 80 ,-3=red: the radius must be 0 to 65536 pixels, got -3"),
        ("0.5,0.5,2=nocolor", "hint 0.5,0.5,2=nocolor: 'nocolor' is not a color (use #rrggbb)"),
    ],
)
def test_a_refused_hint_is_quoted_as_written(text: str, message: str) -> None:
    with pytest.raises(HintError) as refused:
        parse_hint(text)
    assert str(refused.value) == message


def test_a_hint_made_in_python_is_described_with_its_radius() -> None:
    with pytest.raises(
        HintError, match=r"^hint 120,80,-3=red: the radius must be 0 to 65536 pixels, got -3$"
    ):
        Hint(120, 80, "red", radius=-3)


def test_a_hint_outside_the_photo_is_refused(colorizer: Colorizer) -> None:
    with pytest.raises(HintError, match=r"hint 200,10=red: outside the 128x96 photo"):
        colorizer(_halves(), hints=[parse_hint("200,10=red")])
    with pytest.raises(HintError, match="outside"):
        colorizer(_halves(), hints=[Hint(1.5, 0.5, "red", relative=True)])


def test_parsing_tells_pixels_from_fractions() -> None:
    assert parse_hint("3,4=#b22222ff").rgb() == (178, 34, 34)  # an opaque alpha is no slip
    assert parse_hint("0.5,0.9=#3a5f0b") == Hint(0.5, 0.9, "#3a5f0b", 0.0, relative=True)
    assert parse_hint("1,0=#3a5f0b").relative is False  # integers are pixels
    assert parse_hint("120.5,80.25=#3a5f0b").relative is False  # decimals beyond 1 too
    mixed = {"0,0.5=red": ("0.5", "0"), "1.01,0.5=red": ("0.5", "1.01"), "0.5,120=red": ("0.5", "120")}
    for text, (fraction, pixels) in mixed.items():  # a fraction beside a pixel count: a slip, named as such
        with pytest.raises(HintError) as refused:
            parse_hint(text)
        assert str(refused.value).startswith(
            f"hint {text!r}: {fraction} reads as a fraction of the photo but {pixels} as pixels; write"
        )
    assert parse_hint("12,8,4=red") == Hint(12, 8, "red", 4.0)


def test_hints_from_json(tmp_path: Path) -> None:
    path = tmp_path / "hints.json"
    path.write_text(
        json.dumps(
            [{"x": 10, "y": 12, "color": "#b22222"}, {"x": 0.5, "y": 0.25, "color": "red", "radius": 3}]
        )
    )
    assert load_hints(path) == [Hint(10, 12, "#b22222"), Hint(0.5, 0.25, "red", 3.0, relative=True)]
    path.write_text(json.dumps([{"x": 1, "y": 2}]))
    with pytest.raises(HintError, match=r"hints.json: hint 1: needs"):
        load_hints(path)
    path.write_text(json.dumps([{"x": 1.5, "y": 0.5, "color": "red"}]))  # the command line refuses it too
    with pytest.raises(
        HintError, match=r"hints.json: hint 1: 0.5 reads as a fraction of the photo but 1.5 as"
    ):
        load_hints(path)
    path.write_text("{not json")
    with pytest.raises(HintError, match="not a JSON list"):
        load_hints(path)
    with pytest.raises(HintError, match="cannot read"):
        load_hints(tmp_path / "missing.json")
