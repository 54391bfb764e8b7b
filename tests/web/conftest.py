"""Fixtures of the web page's tests: the built-in model (it ships with the package) and a running server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from polychrome import Colorizer
from tests.web.helpers import Live, start


@pytest.fixture(scope="session")
def colorizer() -> Colorizer:
    return Colorizer.from_pretrained()


@pytest.fixture
def live(colorizer: Colorizer) -> Iterator[Live]:
    run = start(colorizer)
    try:
        yield run
    finally:
        run.stop()
