"""Interpreters in which some packages cannot be imported, as where they are not installed: a
``sitecustomize`` that sets them to None in ``sys.modules``, so ``import torch`` raises ImportError. It
imports nothing itself, so the base install's tests (tests/base) use it too."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def environment_without(folder: Path, modules: Sequence[str]) -> dict[str, str]:
    """The environment of a child interpreter that cannot import ``modules``; the shim is written into
    ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"for name in {tuple(modules)!r}:\n"
        "    sys.modules[name] = None  # `import name` raises ImportError from here on\n"
    )
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
    }
