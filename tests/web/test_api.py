"""POST /api/colorize and GET /api/health over real HTTP: what comes back, what is refused and why."""

from __future__ import annotations

import io
import json
import socket
import stat
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data
from typer.testing import CliRunner

from polychrome import Colorizer
from polychrome.cli import app as cli
from polychrome.color.lab import rgb_to_lab
from polychrome.pipelines.hints import Hint, hint_ab
from polychrome.web.settings import WebSettings
from tests.web.helpers import DATETIME, DESCRIPTION, Live, photo_bytes, start


def _post(live: Live, data: bytes | None = None, name: str = "old.jpg", **fields: Any) -> httpx.Response:
    files = None if data is None else {"image": (name, data, "application/octet-stream")}
    return httpx.post(f"{live.url}/api/colorize", files=files, data=fields, timeout=60)


def _ab(data: bytes) -> np.ndarray:
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32) / 255
    return rgb_to_lab(__import__("torch").from_numpy(rgb).permute(2, 0, 1)).numpy()[1:]


@pytest.mark.parametrize(("kind", "suffix"), [("png", ".png"), ("jpeg", ".jpg")])
def test_a_photo_comes_back_as_colorize_writes_it_exif_included(
    live: Live, tmp_path: Path, kind: str, suffix: str
) -> None:
    exif = {DESCRIPTION: "grandmother, 1931", DATETIME: "1931:05:02 10:00:00", 0x0112: 6}
    original = tmp_path / "old photo.jpg"
    original.write_bytes(photo_bytes((80, 60), exif=exif))
    reply = _post(
        live, original.read_bytes(), original.name, format=kind, saturation="1.2", temperature="0.3"
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == f"image/{kind}"
    assert reply.headers["content-disposition"] == f'attachment; filename="old_photo-colorized{suffix}"'
    assert {part.split(";")[0].strip() for part in reply.headers["server-timing"].split(",")} == {
        "read", "network", "merge", "encode"
    }  # fmt: skip

    written = _cli_bytes(original, tmp_path / f"cli{suffix}", "--saturation", "1.2", "--temperature", "0.3")
    assert reply.content == written  # the same pixels, EXIF and encoding as `colorize`
    image = Image.open(io.BytesIO(reply.content))
    assert image.size == (60, 80)  # full size, turned upright by its EXIF orientation
    tags = image.getexif()
    assert tags[DESCRIPTION] == "grandmother, 1931" and tags[DATETIME] == "1931:05:02 10:00:00"
    assert tags[0x0112] == 1


def test_the_controls_change_the_colors(live: Live) -> None:
    photo = photo_bytes((96, 72))
    plain = _ab(_post(live, photo, format="png").content)
    gray = _ab(_post(live, photo, format="png", saturation="0").content)
    vivid = _ab(_post(live, photo, format="png", saturation="2").content)
    warm = _ab(_post(live, photo, format="png", temperature="1").content)
    cool = _ab(_post(live, photo, format="png", temperature="-1").content)
    assert np.abs(gray).max() < 1.5  # no color left beyond rounding to 8 bits
    chroma = lambda ab: float(np.hypot(*ab).mean())  # noqa: E731
    assert chroma(vivid) > 1.5 * chroma(plain) > 0
    assert warm[1].mean() > plain[1].mean() + 3 > cool[1].mean() + 6  # b: yellow up, blue down
    small = _post(live, photo, format="png", render_size="64").content
    assert small != _post(live, photo, format="png", render_size="512").content


def test_health_tells_the_model_limits_and_load(live: Live) -> None:
    reply = httpx.get(f"{live.url}/api/health")
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "ok",
        "model": "effunet-lite0",
        "device": "cpu",
        "busy": 0,
        "waiting": 0,
        "capacity": 9,
        "limits": {
            "max_upload_bytes": 50 * 1024 * 1024,
            "max_pixels": 40_000_000,
            "max_render_size": 1024,
            "request_timeout_s": 60.0,
        },
        "formats": ["jpeg", "png"],
        "hint_methods": ["auto", "spread", "network"],
        "films": {
            "available": True,
            "reason": None,
            "busy": 0,
            "accepted": 0,
            "capacity": 1,
            "limits": {
                "max_upload_bytes": 100 * 1024 * 1024,
                "max_seconds": 60.0,
                "max_pixels": 3840 * 2160,
                "kept_s": 600.0,
            },
        },
    }


def _error(reply: httpx.Response) -> tuple[int, str]:
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert list(body) == ["error"] and "\n" not in body["error"]
    return reply.status_code, body["error"]


def test_bad_requests_get_one_line_reasons_with_the_right_status(live: Live) -> None:
    photo = photo_bytes()
    damaged = photo[: len(photo) // 2]
    assert _error(_post(live, b"%PDF-1.4 not a photo", "scan.pdf")) == (
        415,
        "not a JPEG, PNG, WebP, TIFF, BMP or GIF image",
    )
    assert _error(_post(live, damaged)) == (400, "the photo cannot be read: truncated or corrupt image data")
    assert _error(_post(live, b"")) == (400, "the photo is empty (0 bytes)")
    assert _error(httpx.post(f"{live.url}/api/colorize", files={"format": (None, "png")})) == (
        400,
        "no photo: send it in the multipart field 'image'",
    )
    assert _error(httpx.post(f"{live.url}/api/colorize", json={"image": "x"})) == (
        415,
        "send the photo as multipart/form-data in the field 'image'",
    )
    assert _error(_post(live, photo, saturation="lots")) == (400, "saturation must be a number, got 'lots'")
    assert _error(_post(live, photo, saturation="nan")) == (400, "saturation must be 0 to 4, got nan")
    assert _error(_post(live, photo, temperature="2")) == (400, "temperature must be -1 to 1, got 2")
    assert _error(_post(live, photo, render_size="2048")) == (400, "render_size must be 16 to 1024, got 2048")
    assert _error(_post(live, photo, render_size="100.5"))[0] == 400
    assert _error(_post(live, photo, format="gif")) == (400, "format must be png or jpeg, got 'gif'")
    assert _error(_post(live, photo, hint_method="net")) == (
        400,
        "hint_method must be auto, spread or network, got 'net'",
    )
    assert _error(_post(live, photo, sharpness="2")) == (400, "unknown field 'sharpness'")
    # A photo under another name, as `curl -F photo=@cat.jpg` sends it: not "form field 'photo' is over 16384
    # bytes", whatever its size, but where the photo goes.
    for size in (1000, 40_000):
        misnamed = {"photo": ("cat.jpg", bytes(size), "image/jpeg")}
        assert _error(httpx.post(f"{live.url}/api/colorize", files=misnamed)) == (
            400,
            "unknown field 'photo'; send the photo in 'image'",
        )
    assert _error(_post(live, photo, sharpness="2" * 20_000)) == (400, "unknown field 'sharpness'")
    files = [("image", ("a.jpg", photo, "image/jpeg")), ("image", ("b.jpg", photo, "image/jpeg"))]
    assert _error(httpx.post(f"{live.url}/api/colorize", files=files))[0] == 400
    assert _error(httpx.get(f"{live.url}/api/colorize")) == (405, "GET is not allowed here")


def test_size_and_pixel_limits_answer_413(colorizer: Colorizer) -> None:
    run = start(colorizer, WebSettings(max_upload_bytes=20 * 1024, max_pixels=3000))
    try:
        assert _error(_post(run, photo_bytes((80, 50)))) == (
            413, "the photo is 80x50, over the limit of 0.003 megapixels"
        )  # fmt: skip
        noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200), np.uint8))
        big = io.BytesIO()
        noisy.save(big, "PNG")
        assert _error(_post(run, big.getvalue(), "big.png")) == (
            413,
            "the request is over the 20 KB limit",
        )
        assert _post(run, photo_bytes((50, 40))).status_code == 200
    finally:
        run.stop()


def test_a_header_that_claims_billions_of_pixels_is_refused_unread(live: Live) -> None:
    header = io.BytesIO()
    Image.new("L", (1, 1)).save(header, "PNG")
    data = bytearray(header.getvalue())
    data[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR's width and height: 10 gigapixels
    data[29:33] = zlib.crc32(data[12:29]).to_bytes(4, "big")
    assert _error(_post(live, bytes(data), "huge.png")) == (413, "over the limit of 40 megapixels")


def test_uploads_live_in_a_private_folder_only_while_worked_on(
    colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[tuple[list[str], int]] = []

    def watching(rgb: np.ndarray, **options: Any) -> Any:
        (folder,) = tmp_path.iterdir()
        seen.append((sorted(p.name for p in folder.iterdir()), stat.S_IMODE(folder.stat().st_mode)))
        return colorizer(rgb, **options)

    run = start(watching)
    try:
        assert _post(run, photo_bytes()).status_code == 200
        assert _post(run, b"not an image").status_code == 415
    finally:
        run.stop()
    assert seen == [(["upload"], 0o700)]  # the upload under a fixed name, nothing of the client's in a path
    assert list(tmp_path.iterdir()) == []  # removed after use, refusals included


def _until_closed(raw: socket.socket) -> bytes:
    reply = b""
    while chunk := raw.recv(65536):
        reply += chunk
    return reply


@pytest.mark.parametrize(
    "path",
    ["/static/../app.py", "/static/index.html", "/../../pyproject.toml", "//etc/passwd", "/static/",
     "/static/web.js/../../app.py", "/web.js", "/api/", "/docs/../openapi.json/.."],
)  # fmt: skip
def test_nothing_but_the_page_and_the_api_is_served(live: Live, path: str) -> None:
    address = urlsplit(live.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = _until_closed(raw)
    assert reply.startswith(b"HTTP/1.1 404 ")
    assert json.loads(reply.partition(b"\r\n\r\n")[2]) == {"error": "not found"}


def test_the_page_and_every_answer_carry_the_security_headers(live: Live) -> None:
    for reply in (
        httpx.get(f"{live.url}/"),
        httpx.get(f"{live.url}/static/web.js"),
        httpx.get(f"{live.url}/nowhere"),
        _post(live, b"nothing"),
        _post(live, photo_bytes()),
    ):
        csp = reply.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "no-referrer"
    page = httpx.get(f"{live.url}/").text
    assert '<script src="/static/web.js" defer></script>' in page and "http" not in page.replace(
        'href="/docs"', ""
    )


def test_the_api_is_described_by_openapi_and_on_a_page_that_loads_nothing_else(live: Live) -> None:
    schema = httpx.get(f"{live.url}/openapi.json").json()
    operation = schema["paths"]["/api/colorize"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {
        "image", "saturation", "temperature", "render_size", "format", "hints", "hint_method"
    }  # fmt: skip
    assert form["required"] == ["image"] and form["properties"]["format"]["enum"] == ["jpeg", "png"]
    assert form["properties"]["hint_method"]["enum"] == ["auto", "spread", "network"]
    assert {"200", "400", "408", "413", "415", "503"} <= set(operation["responses"])
    assert "get" in schema["paths"]["/api/health"]
    docs = httpx.get(f"{live.url}/docs")
    assert docs.status_code == 200 and "POST /api/colorize" in docs.text and "render_size" in docs.text
    assert "<script" not in docs.text and "cdn" not in docs.text.lower()


def _slow(colorizer: Colorizer, started: threading.Event, release: threading.Event) -> Any:
    def colorize(rgb: np.ndarray, **options: Any) -> Any:
        started.set()
        assert release.wait(30)
        return colorizer(rgb, **options)

    return colorize


def test_beyond_the_queue_the_answer_is_503_at_once_and_the_rest_are_served(colorizer: Colorizer) -> None:
    started, release = threading.Event(), threading.Event()
    run = start(_slow(colorizer, started, release), WebSettings(queue=1))
    photo = photo_bytes()
    replies: list[httpx.Response] = []
    try:
        first = threading.Thread(target=lambda: replies.append(_post(run, photo)))
        first.start()
        assert started.wait(30)
        second = threading.Thread(target=lambda: replies.append(_post(run, photo)))
        second.start()
        time.sleep(0.3)  # the second waits in the queue's one place
        assert httpx.get(f"{run.url}/api/health").json()["waiting"] == 1
        began = time.monotonic()
        third = _post(run, photo)
        assert time.monotonic() - began < 5
        assert _error(third) == (503, "busy: too many photos are waiting; try again shortly")
        assert third.headers["retry-after"] == "2"
        release.set()
        first.join(30)
        second.join(30)
    finally:
        release.set()
        run.stop()
    assert [reply.status_code for reply in replies] == [200, 200]


def test_a_turn_that_does_not_come_in_time_is_503(colorizer: Colorizer) -> None:
    started, release = threading.Event(), threading.Event()
    run = start(_slow(colorizer, started, release), WebSettings(request_timeout_s=1.0))
    try:
        first = threading.Thread(target=lambda: _post(run, photo_bytes()))
        first.start()
        assert started.wait(30)
        assert _error(_post(run, photo_bytes()))[0] == 503
        release.set()
        first.join(30)
    finally:
        release.set()
        run.stop()


def test_an_upload_that_stalls_is_answered_408(colorizer: Colorizer) -> None:
    run = start(colorizer, WebSettings(request_timeout_s=0.5))
    try:
        address = urlsplit(run.url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
            raw.sendall(
                b"POST /api/colorize HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5000\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
            )
            reply = _until_closed(raw)
        assert reply.startswith(b"HTTP/1.1 408 ")
        assert json.loads(reply.partition(b"\r\n\r\n")[2]) == {
            "error": "the request body did not arrive within 0.5 s"
        }
        assert _post(run, photo_bytes()).status_code == 200
    finally:
        run.stop()


def test_hints_color_their_point_and_bad_hints_are_400(live: Live) -> None:
    photo = photo_bytes((96, 72))
    hint = '[{"x": 20, "y": 30, "color": "#2f8f2f", "radius": 3}]'
    plain = _ab(_post(live, photo, format="png").content)
    hinted = _ab(_post(live, photo, format="png", hints=hint).content)
    wanted = hint_ab([Hint(0, 0, "#2f8f2f")])[0]
    # At the hint the color is the hinted one (as far as the photo's own lightness allows), not the model's.
    assert np.linalg.norm(hinted[:, 30, 20] - wanted) < 0.5 * np.linalg.norm(plain[:, 30, 20] - wanted)

    outside = _post(live, photo, format="png", hints='[{"x": 500, "y": 30, "color": "red"}]')
    assert outside.status_code == 400 and "outside the 96x72 photo" in outside.json()["error"]
    malformed = _post(live, photo, format="png", hints="[{x: 1}]")
    assert malformed.status_code == 400 and "not a JSON list of hints" in malformed.json()["error"]
    bad_color = _post(live, photo, format="png", hints='[{"x": 1, "y": 1, "color": "#zz0000"}]')
    assert bad_color.status_code == 400 and "is not a color" in bad_color.json()["error"]


def test_a_hundred_hints_fit_in_the_field_and_more_than_16_kb_is_400(live: Live) -> None:
    photo = photo_bytes((96, 72))
    hundred = json.dumps([{"x": 0.12345 + i / 1000, "y": 0.54321, "color": "#b22222"} for i in range(100)])
    assert _post(live, photo, format="png", hints=hundred).status_code == 200  # what the page sends at most
    huge = json.dumps([{"x": 1, "y": 1, "color": "#b22222"}] * 500)
    assert _error(_post(live, photo, hints=huge)) == (400, "form field 'hints' is over 16384 bytes")


def test_hints_act_by_the_method_asked_as_colorize_does_it(live: Live, tmp_path: Path) -> None:
    photo = tmp_path / "coat.png"
    photo.write_bytes(photo_bytes((96, 72), kind="PNG"))
    hint = '[{"x": 0.2, "y": 0.4, "color": "#2050d0"}]'
    sent = {
        method: _post(live, photo.read_bytes(), photo.name, format="png", hints=hint, hint_method=method)
        for method in ("auto", "spread", "network")
    }
    assert {method: reply.status_code for method, reply in sent.items()} == dict.fromkeys(sent, 200)
    assert sent["auto"].content == sent["spread"].content  # the built-in model spreads hints by default
    assert sent["network"].content != sent["spread"].content
    cli = _cli_bytes(photo, tmp_path / "cli.png", "--hint", "0.2,0.4=#2050d0", "--hint-method", "network")
    assert sent["network"].content == cli  # the hint network itself, as `colorize` asks it
    # Without hints the method changes nothing.
    plain = _post(live, photo.read_bytes(), photo.name, format="png").content
    assert _post(live, photo.read_bytes(), photo.name, format="png", hint_method="network").content == plain


def test_a_model_without_a_hint_network_refuses_it_and_spreads(own_colorizer: Colorizer) -> None:
    run = start(own_colorizer)
    photo = photo_bytes((96, 72))
    hint = '[{"x": 0.2, "y": 0.4, "color": "#2050d0"}]'
    try:
        assert httpx.get(f"{run.url}/api/health").json()["hint_methods"] == ["auto", "spread"]
        refused = _error(_post(run, photo, hints=hint, hint_method="network"))
        assert refused == (
            400,
            "hint_method 'network' needs a model that takes hints, or a built-in model with a hint network "
            "(effunet-lite0)",
        )
        assert _error(_post(run, photo, hint_method="network")) == refused  # asked for, hints or none
        spread = _post(run, photo, format="png", hints=hint, hint_method="spread")
        assert spread.status_code == 200, spread.text
        assert _post(run, photo, format="png", hints=hint).content == spread.content
    finally:
        run.stop()


def _cli_bytes(photo: Path, written: Path, *options: str) -> bytes:
    result = CliRunner().invoke(cli, ["colorize", str(photo), "-o", str(written), *options])
    assert result.exit_code == 0, result.output
    return written.read_bytes()


def test_on_onnx_runtime_too_a_real_photo_comes_back_as_colorize_writes_it(tmp_path: Path) -> None:
    # ONNX Runtime colors an 8-bit photo read as bytes a level apart here and there from the same photo read
    # as floats: the page must read it as `polychrome colorize` does.
    Image.fromarray(skimage_data.astronaut()).save(tmp_path / "astronaut.png")
    run = start(Colorizer.from_pretrained(backend="onnx"))
    try:
        reply = _post(run, (tmp_path / "astronaut.png").read_bytes(), "astronaut.png", format="png")
    finally:
        run.stop()
    assert reply.status_code == 200, reply.text
    cli_png = _cli_bytes(tmp_path / "astronaut.png", tmp_path / "cli.png", "--backend", "onnx")
    assert reply.content == cli_png
