"""Fixtures of the Turing test's tests: tiny photo folders and a running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.turing.helpers import Photos, Running, make_photos, start_server


@pytest.fixture
def photos(tmp_path: Path) -> Photos:
    return make_photos(tmp_path)


@pytest.fixture
def running(photos: Photos, tmp_path: Path) -> Iterator[Running]:
    """Three trials per person; answers in ``tmp_path/answers.sqlite``."""
    run = start_server(photos, tmp_path / "answers.sqlite")
    try:
        yield run
    finally:
        run.stop()
