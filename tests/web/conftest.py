"""Fixtures of the web page's tests: the built-in model (it ships with the package) and a running server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from polychrome import Colorizer
from polychrome.pipelines.image import resolve_model_path
from tests.web.helpers import Live, start


@pytest.fixture(scope="session")
def colorizer() -> Colorizer:
    return Colorizer.from_pretrained()


@pytest.fixture(scope="session")
def own_colorizer(tmp_path_factory: pytest.TempPathFactory) -> Colorizer:
    """The built-in model as a user's own folder (``--model ./mine``): it has no hint network."""
    folder = tmp_path_factory.mktemp("mine")
    for name in ("config.json", "model.onnx"):
        shutil.copy(resolve_model_path("effunet-lite0") / name, folder / name)
    return Colorizer.from_pretrained(folder)


@pytest.fixture
def live(colorizer: Colorizer) -> Iterator[Live]:
    run = start(colorizer)
    try:
        yield run
    finally:
        run.stop()
