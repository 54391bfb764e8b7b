"""Every test starts from the same global random state, so a test that draws without its own generator
still draws the same numbers on every run and on every machine: a failure is always reproducible."""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

try:
    import torch
except ImportError:  # the base install, which runs tests/base only
    torch = None


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test() -> None:
    random.seed(0)
    np.random.seed(0)
    if torch is not None:
        torch.manual_seed(0)


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], Path]]:
    """Make a folder unreadable (chmod 000). Where that does not stop reads (tests running as root), listing
    it is refused as the system would, so the test means the same for every user."""
    locked: list[Path] = []
    refused: set[str] = set()
    real_scandir = os.scandir

    def scandir(path: int | str | os.PathLike[str] = ".") -> Iterator[os.DirEntry[str]]:
        if not isinstance(path, int) and os.path.realpath(path) in refused:  # shutil.rmtree passes fds
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_scandir(path)

    def lock(folder: Path) -> Path:
        folder.chmod(0)
        locked.append(folder)
        if os.access(folder, os.R_OK):
            refused.add(os.path.realpath(folder))
            monkeypatch.setattr(os, "scandir", scandir)
        return folder

    yield lock
    for folder in locked:
        folder.chmod(0o755)  # so that pytest can remove tmp_path
