"""Tiny photo folders and a Turing test server on a free port, for the Turing test's tests."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from polychrome.turing import TrialStore, TuringApp, TuringServer, build_catalog


@dataclass
class Photos:
    real: Path
    models: dict[str, Path]


def write_photo(path: Path, seed: int, size: tuple[int, int] = (40, 30), scale: float = 1.0) -> Path:
    """A small random RGB photo; ``scale`` darkens it, standing in for a model's different colors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3))
    Image.fromarray((pixels * scale).astype(np.uint8)).save(path)
    return path


def make_photos(root: Path) -> Photos:
    """Four real photos (one in a subfolder); model ``a`` has all four as PNG; ``b`` lacks ``sub/p3``."""
    real = root / "real"
    models = {"a": root / "model_a", "b": root / "model_b"}
    for i, key in enumerate(("p0", "p1", "p2", "sub/p3")):
        write_photo(real / f"{key}.jpg", seed=i)
        write_photo(models["a"] / f"{key}.png", seed=i, scale=0.5)
        if key != "sub/p3":
            write_photo(models["b"] / f"{key}.png", seed=i, scale=0.3)
    return Photos(real, models)


@dataclass
class Running:
    server: TuringServer
    store: TrialStore
    db: Path

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_server(
    photos: Photos, db: Path, trials_per_person: int = 3, body_timeout_s: float = 10.0
) -> Running:
    """A server in a daemon thread on a free local port, with a seeded RNG."""
    catalog = build_catalog(photos.real, photos.models, display_size=32)
    store = TrialStore(db)
    app = TuringApp(catalog, store, trials_per_person, random.Random(0))
    server = TuringServer(app, port=0, body_timeout_s=body_timeout_s)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Running(server, store, db)
