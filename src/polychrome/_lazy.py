"""Names of a package imported on first use, so that importing the package stays light: the base install,
which has no PyTorch, and planning a batch, which needs no FFmpeg, never load what they do not use."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module


def lazy_attributes(package: str, sources: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name of ``sources`` is taken from the module named
    beside it when first asked for, then kept in the package."""

    def __getattr__(name: str) -> object:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(sources[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
