"""A colorizing server on a free local port and small photos to send it, for the web page's tests."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from polychrome.web.app import create_app
from polychrome.web.server import LocalServer
from polychrome.web.settings import WebSettings

DESCRIPTION = 0x010E  # EXIF ImageDescription
DATETIME = 0x0132


def photo_bytes(
    size: tuple[int, int] = (64, 48), kind: str = "JPEG", mode: str = "L", exif: dict[int, Any] | None = None
) -> bytes:
    """A small smooth photo (a gradient with a disc), encoded; ``exif`` tags are written where given."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    gray = (
        40
        + 150 * x / max(1, width - 1)
        + 60 * ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2)
    )
    image = Image.fromarray(gray.clip(0, 255).astype(np.uint8), "L").convert(mode)
    out = io.BytesIO()
    options: dict[str, Any] = {"quality": 92} if kind == "JPEG" else {}
    if exif:
        tags = Image.Exif()
        tags.update(exif)
        options["exif"] = tags.tobytes()
    image.save(out, kind, **options)
    return out.getvalue()


@dataclass
class Live:
    server: LocalServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def start(colorizer: Any, settings: WebSettings | None = None) -> Live:
    """The app of ``colorizer`` served by uvicorn in a daemon thread, as `polychrome serve` serves it."""
    server = LocalServer(create_app(colorizer, settings, model_name="effunet-lite0"), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Live(server, thread)
