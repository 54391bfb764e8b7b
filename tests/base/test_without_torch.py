"""The base install colorizes without PyTorch: every test runs polychrome in a fresh interpreter in which
`import torch` fails, as it does where PyTorch is not installed. These tests import no PyTorch themselves, so
CI runs them in the base install too (scripts/test)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.blocked_imports import environment_without


@pytest.fixture
def no_torch(tmp_path: Path) -> dict[str, str]:
    """An environment whose interpreters cannot import what the base install leaves out: torch, and the
    film packages PyAV and OpenCV."""
    return environment_without(tmp_path / "no_torch", ["torch", "av", "cv2"])


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def _gray_photo(path: Path) -> Path:
    y, x = np.mgrid[0:48, 0:64]
    gray = (127 + 100 * np.sin(x / 7.0) * np.cos(y / 5.0)).astype(np.uint8)
    Image.fromarray(gray, "L").save(path, quality=95)
    return path


def test_the_cli_colorizes_without_torch(tmp_path: Path, no_torch: dict[str, str]) -> None:
    photo = _gray_photo(tmp_path / "old.jpg")

    done = _run(
        [sys.executable, "-m", "polychrome", "colorize", str(photo), "-o", str(tmp_path / "out")], no_torch
    )

    assert done.returncode == 0, done.stderr[-2000:]
    out = np.asarray(Image.open(tmp_path / "out" / "old.jpg").convert("RGB"), dtype=float)
    assert out.shape == (48, 64, 3)
    chroma = np.abs(out[..., 0] - out[..., 2]).mean() + np.abs(out[..., 1] - out[..., 2]).mean()
    assert chroma > 1.0  # colors were added
    assert "colorized 1" in done.stdout


@pytest.mark.parametrize("method", ["spread", "network"])
def test_hints_work_without_torch_by_either_method(
    tmp_path: Path, no_torch: dict[str, str], method: str
) -> None:
    photo = _gray_photo(tmp_path / "old.png")
    out = tmp_path / f"{method}.png"
    hint = ["--hint", "32,24=#2050d0", "--hint-method", method]

    done = _run([sys.executable, "-m", "polychrome", "colorize", str(photo), "-o", str(out), *hint], no_torch)

    assert done.returncode == 0, done.stderr[-2000:]
    red, green, blue = np.asarray(Image.open(out).convert("RGB"), dtype=float)[20:29, 28:37].mean((0, 1))
    assert blue > red + 20  # the blue hint shows at its point


def test_the_library_picks_onnx_and_never_imports_torch(tmp_path: Path, no_torch: dict[str, str]) -> None:
    photo = _gray_photo(tmp_path / "old.png")
    script = textwrap.dedent(
        f"""
        import sys
        from polychrome import Colorizer
        from polychrome.pipelines.backends import torch_installed

        assert not torch_installed()
        colorizer = Colorizer.from_pretrained()
        plain = colorizer(r"{photo}", output_type="np")
        warm = colorizer(r"{photo}", output_type="np", saturation=1.5, temperature=0.5)
        assert plain.images[0].shape == (48, 64, 3), plain.images[0].shape
        assert (warm.images[0] != plain.images[0]).any()
        fast = Colorizer.from_pretrained(precision="int8")  # the shipped model-int8.onnx
        assert fast.precision == "int8" and fast(r"{photo}", output_type="np").images[0].shape == (48, 64, 3)
        print("backend:", colorizer.backend, "torch loaded:", sys.modules.get("torch") is not None)
        """
    )

    done = _run([sys.executable, "-c", script], no_torch)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "backend: onnx torch loaded: False" in done.stdout


def test_commands_that_need_torch_say_what_to_install(tmp_path: Path, no_torch: dict[str, str]) -> None:
    export = _run(
        [sys.executable, "-m", "polychrome", "export", "effunet-lite0", "-o", str(tmp_path / "m.onnx")],
        no_torch,
    )
    torch_backend = _run(
        [
            sys.executable,
            "-m",
            "polychrome",
            "colorize",
            str(_gray_photo(tmp_path / "a.png")),
            "-o",
            str(tmp_path / "out"),
            "--backend",
            "torch",
        ],
        no_torch,
    )

    evaluate = _run(
        [sys.executable, "-m", "polychrome", "evaluate", "-m", "effunet-lite0", "-d", str(tmp_path), "-o",
         str(tmp_path / "report")],
        no_torch,
    )  # fmt: skip

    assert export.returncode == 1 and "pip install 'polychrome[torch]'" in export.stderr
    # evaluate's own extra brings every package it needs, so the message names it rather than torch's.
    assert evaluate.returncode == 1 and "pip install 'polychrome[evaluate]'" in evaluate.stderr
    assert torch_backend.returncode == 1 and "pip install 'polychrome[torch]'" in torch_backend.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_films_say_what_to_install(tmp_path: Path, no_torch: dict[str, str]) -> None:
    film = tmp_path / "film.mp4"
    film.write_bytes(b"never read: the missing packages are named first")
    command = [sys.executable, "-m", "polychrome", "colorize", str(film), "-o", str(tmp_path / "out")]

    done = _run(command, no_torch)

    assert done.returncode == 1
    assert "films need PyAV and OpenCV: pip install 'polychrome[video]'" in done.stdout + done.stderr


def test_the_example_runs_from_the_packaged_photo(tmp_path: Path, no_torch: dict[str, str]) -> None:
    env = {**no_torch, "PYTHONPATH": no_torch["PYTHONPATH"]}
    script = "import sys; sys.modules['skimage'] = None; from polychrome.cli import main; main()"

    done = subprocess.run(
        [sys.executable, "-c", script, "example", "-o", str(tmp_path / "example-colorized.png")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert Image.open(tmp_path / "example-colorized.png").size == (451, 300)
    assert (tmp_path / "example-gray.png").exists()
