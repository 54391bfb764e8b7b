"""The colorizing page in real headless Chromium: add photos, compare, adjust, download, and a refusal.

Needs the system's Chromium and Playwright (see tests/browser.py); skipped, saying which is missing, where
either is absent.
"""

from __future__ import annotations

import base64
import io
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from polychrome import Colorizer
from polychrome.color.lab_np import rgb_to_lab
from polychrome.pipelines.hints import Hint, hint_ab
from tests.browser import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM, NO_PLAYWRIGHT
from tests.video.clips import make_clip, read_frames
from tests.web.helpers import DESCRIPTION, Live, photo_bytes, start

if CHROMIUM is None:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)


@contextmanager
def _browsing(colorizer: Colorizer) -> Iterator[tuple[Live, object]]:
    """A server of ``colorizer`` and a Chromium tab on its page."""
    run = start(colorizer)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                tab = browser.new_context(accept_downloads=True).new_page()
                tab.set_default_timeout(30_000)
                tab.goto(run.url + "/")
                yield run, tab
            finally:
                browser.close()
    finally:
        run.stop()


@pytest.fixture
def page(colorizer: Colorizer) -> Iterator[tuple[Live, object]]:
    with _browsing(colorizer) as opened:
        yield opened


def _shown(tab, selector: str) -> Image.Image:  # noqa: ANN001
    """The pixels an <img> shows (a blob: URL of the server's answer), read back through a canvas."""
    data = tab.eval_on_selector(
        selector,
        """img => {
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            canvas.getContext("2d").drawImage(img, 0, 0);
            return canvas.toDataURL("image/png");
        }""",
    )
    return Image.open(io.BytesIO(base64.b64decode(data.partition(",")[2]))).convert("RGB")


def _chroma(image: Image.Image) -> float:
    rgb = np.asarray(image, np.float32)
    return float((rgb.max(axis=2) - rgb.min(axis=2)).mean())


def _ready(tab) -> None:  # noqa: ANN001
    tab.wait_for_selector("body[data-state=ready]")


def test_a_person_colors_compares_adjusts_and_downloads(page, tmp_path: Path) -> None:  # noqa: ANN001
    run, tab = page
    first = tmp_path / "grandmother.jpg"
    first.write_bytes(photo_bytes((1155, 866), exif={DESCRIPTION: "grandmother, 1931"}))
    second = tmp_path / "harbour.png"
    second.write_bytes(photo_bytes((120, 90), kind="PNG"))
    tab.set_input_files("#files", [str(first), str(second)])
    _ready(tab)
    assert tab.eval_on_selector("#after", "i => [i.naturalWidth, i.naturalHeight]") == [1155, 866]
    assert tab.text_content("#message") == ""
    assert tab.text_content("#timing").startswith("preview colored in ")
    # The whole visit is in the gallery, the second photo colored in turn, the first one shown.
    tab.wait_for_function(
        "() => [...document.querySelectorAll('#gallery img')].every(i => i.src.startsWith('blob:'))"
    )
    assert tab.eval_on_selector_all("#gallery .name", "ns => ns.map(n => n.textContent)") == [
        "grandmother.jpg",
        "harbour.png",
    ]
    assert tab.get_attribute("#gallery li:first-child button", "aria-current") == "true"

    # The slider: dragged with the mouse, and moved with the keyboard's range control.
    box = tab.locator("#compare").bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.down()
    tab.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=5)
    tab.mouse.up()
    assert tab.input_value("#split") == "25"
    clip = tab.eval_on_selector("#before", "i => getComputedStyle(i).clipPath")
    assert clip.startswith("inset(0px ") and clip != "inset(0px 50% 0px 0px)"
    tab.focus("#split")
    tab.keyboard.press("End")
    assert tab.eval_on_selector("#compare", "c => c.style.getPropertyValue('--split')") == "100%"

    # The controls: no color at saturation 0, more at 2, a warmer cast to the right; each within seconds.
    plain = _chroma(_shown(tab, "#after"))
    timings = []
    for control, value in (("#saturation", "0"), ("#saturation", "2"), ("#temperature", "1")):
        began = time.monotonic()
        tab.fill(control, value)
        _ready(tab)
        timings.append(time.monotonic() - began)
        if (control, value) == ("#saturation", "0"):
            assert _chroma(_shown(tab, "#after")) < 1.5
        if (control, value) == ("#saturation", "2"):
            assert _chroma(_shown(tab, "#after")) > 1.5 * plain
    warm = np.asarray(_shown(tab, "#after"), np.float32)
    assert warm[..., 0].mean() > warm[..., 2].mean()  # red over blue
    assert (
        tab.text_content("#saturation-value") == "2.00" and tab.text_content("#temperature-value") == "1.00"
    )
    assert max(timings) < 5, timings  # a second on an idle 2-core CPU; headroom for a busy CI machine
    tab.select_option("#render-size", "512")
    _ready(tab)

    # The download: full size, the chosen format, the photo's EXIF kept.
    tab.select_option("#format", "jpeg")
    with tab.expect_download() as download:
        tab.click("#download")
    saved = tmp_path / "download.jpg"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "grandmother-colorized.jpg"
    image = Image.open(saved)
    assert image.format == "JPEG" and image.size == (1155, 866)
    assert image.getexif()[DESCRIPTION] == "grandmother, 1931"
    tab.wait_for_selector("body[data-state=ready]")
    assert tab.text_content("#message") == "downloaded grandmother-colorized.jpg"

    # Each photo keeps its own controls: the second one was colored with the defaults.
    tab.click("#gallery li:nth-child(2) button")
    _ready(tab)
    assert tab.input_value("#saturation") == "1" and tab.input_value("#render-size") == "256"
    assert tab.eval_on_selector("#after", "i => [i.naturalWidth, i.naturalHeight]") == [120, 90]


def test_pasted_and_dropped_photos_are_colored_and_a_refusal_is_shown(page) -> None:  # noqa: ANN001
    run, tab = page
    png = base64.b64encode(photo_bytes((64, 48), kind="PNG")).decode()
    add = """([how, name, data]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const files = new DataTransfer();
        const type = name.endsWith(".png") ? "image/png" : "image/jpeg";
        files.items.add(new File([bytes], name, { type }));
        const event = how === "paste"
            ? new ClipboardEvent("paste", { clipboardData: files, bubbles: true })
            : new DragEvent("drop", { dataTransfer: files, bubbles: true, cancelable: true });
        document.body.dispatchEvent(event);
    }"""
    tab.evaluate(add, ["paste", "pasted.png", png])
    _ready(tab)
    assert tab.eval_on_selector("#after", "i => i.naturalWidth") == 64
    tab.evaluate(add, ["drop", "notes.jpg", base64.b64encode(b"shopping list: milk").decode()])
    tab.wait_for_selector("body[data-state=error]")
    assert tab.text_content("#message") == "notes.jpg: not a JPEG, PNG, WebP, TIFF, BMP or GIF image"
    assert tab.get_attribute("#gallery li:nth-child(2)", "class") == "failed"
    assert tab.is_hidden("#work")
    tab.click("#gallery li:first-child button")  # the good photo is still there
    _ready(tab)
    assert tab.is_visible("#work")


def _ab_at(image: Image.Image, x: float, y: float) -> np.ndarray:
    """The mean a and b of the 5x5 pixels around ``(x, y)`` (a JPEG preview's blocks average out)."""
    col, row = int(x), int(y)
    patch = np.asarray(image, np.float64)[row - 2 : row + 3, col - 2 : col + 3].reshape(-1, 3) / 255
    return rgb_to_lab(patch)[:, 1:].mean(axis=0)


def test_a_click_and_a_color_make_a_hint_that_colors_its_point(page, tmp_path: Path) -> None:  # noqa: ANN001
    run, tab = page
    tab.set_viewport_size({"width": 900, "height": 700})
    source = tmp_path / "coat.jpg"
    source.write_bytes(photo_bytes((1500, 1000)))  # over the preview size, and shown smaller still
    tab.set_input_files("#files", str(source))
    _ready(tab)
    preview = tab.eval_on_selector("#after", "i => [i.naturalWidth, i.naturalHeight]")
    box = tab.locator("#compare").bounding_box()
    assert preview[0] < 1500 and box["width"] < preview[0]
    point = (1200, 250)  # in the photo's own pixels
    scale = preview[0] / 1500
    plain = _ab_at(_shown(tab, "#after"), point[0] * scale, point[1] * scale)
    green = hint_ab([Hint(0, 0, "#2f8f2f")])[0]

    # Hints on: a click on the shown photo adds a hint of the chosen color there, and the photo is re-colored.
    tab.click("#hint-mode")
    assert tab.get_attribute("#hint-mode", "aria-pressed") == "true"
    tab.fill("#hint-color", "#2f8f2f")
    where = {"x": (point[0] + 0.5) / 1500 * box["width"], "y": (point[1] + 0.5) / 1000 * box["height"]}
    tab.click("#compare", position=where)
    _ready(tab)
    assert tab.locator("#hints li").count() == 1 and tab.locator("#marks .mark").count() == 1
    x, y = (int(v) for v in tab.text_content("#hints li span").removeprefix("at ").split(", "))
    assert abs(x - point[0]) <= 2 and abs(y - point[1]) <= 2  # the photo's pixels, not the screen's
    hinted = _ab_at(_shown(tab, "#after"), point[0] * scale, point[1] * scale)
    assert np.linalg.norm(hinted - green) < 0.5 * np.linalg.norm(plain - green)

    # Dragging still compares while hints are on, and adds no hint.
    box = tab.locator("#compare").bounding_box()  # the click scrolled the page
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.down()
    tab.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=5)
    tab.mouse.up()
    assert tab.input_value("#split") == "25" and tab.locator("#hints li").count() == 1

    # The full-size download carries the hint at the same place of the photo.
    with tab.expect_download() as download:
        tab.click("#download")
    saved = tmp_path / "coat-colorized.png"
    download.value.save_as(saved)
    full = Image.open(saved).convert("RGB")
    assert full.size == (1500, 1000)
    assert np.linalg.norm(_ab_at(full, *point) - green) < 0.5 * np.linalg.norm(plain - green)
    _ready(tab)

    # A hint's color is changed in the list; removed, the photo is as it was without it.
    tab.fill("#hints li input[type=color]", "#b22222")
    _ready(tab)
    red = hint_ab([Hint(0, 0, "#b22222")])[0]
    reddened = _ab_at(_shown(tab, "#after"), point[0] * scale, point[1] * scale)
    assert np.linalg.norm(reddened - red) < 0.5 * np.linalg.norm(plain - red)
    tab.click("#hints li button")
    _ready(tab)
    assert tab.locator("#hints li").count() == 0 and tab.locator("#marks .mark").count() == 0
    again = _ab_at(_shown(tab, "#after"), point[0] * scale, point[1] * scale)
    assert np.abs(again - plain).max() < 1.0


def _watch_hint_methods(tab) -> None:  # noqa: ANN001
    """Note the ``hint_method`` field (null where there is none) of each form the page sends: Chromium
    does not tell Playwright a body that holds a file."""
    tab.evaluate("""() => {
        window.hintMethods = [];
        const send = window.fetch;
        window.fetch = (url, options) => {
            const form = options && options.body;
            if (form instanceof FormData) window.hintMethods.push(form.get("hint_method"));
            return send(url, options);
        };
    }""")


def _last_hint_method(tab) -> str | None:  # noqa: ANN001
    return tab.evaluate("window.hintMethods.at(-1)")


def _hint_on(tab, tmp_path: Path) -> str | None:  # noqa: ANN001
    """A photo added and colored, and one hint clicked on it; the hint method its re-coloring was sent."""
    _watch_hint_methods(tab)
    source = tmp_path / "coat.png"
    source.write_bytes(photo_bytes((320, 240), kind="PNG"))
    tab.set_input_files("#files", str(source))
    _ready(tab)
    assert _last_hint_method(tab) is None  # no hints, no method
    tab.click("#hint-mode")
    box = tab.locator("#compare").bounding_box()
    tab.click("#compare", position={"x": box["width"] * 0.2, "y": box["height"] * 0.4})
    _ready(tab)
    assert tab.locator("#hints li").count() == 1
    return _last_hint_method(tab)


def test_hints_act_on_their_region_or_through_the_hint_network(page, tmp_path: Path) -> None:  # noqa: ANN001
    run, tab = page
    choice = tab.get_by_label("Hints act")  # labelled, so reachable by its name
    assert choice.input_value() == "spread"  # what "auto" gives the built-in model
    assert _hint_on(tab, tmp_path) == "spread"
    assert tab.eval_on_selector_all("#hint-method option:enabled", "os => os.map(o => o.value)") == [
        "spread",
        "network",
    ]
    spread = np.asarray(_shown(tab, "#after"), np.int16)

    # Chosen with the keyboard, the hint network re-colors the photo from its hint.
    choice.focus()
    tab.keyboard.press("ArrowDown")
    _ready(tab)
    assert choice.input_value() == "network" and _last_hint_method(tab) == "network"
    network = np.asarray(_shown(tab, "#after"), np.int16)
    far = np.abs(network - spread).max(axis=2)[:, network.shape[1] * 2 // 3 :]  # the right third
    assert (far > 5).mean() > 0.5  # the network colors the whole photo, far from the hint too

    # Back to spreading: the photo as it was; the download carries the method too.
    tab.select_option("#hint-method", "spread")
    _ready(tab)
    assert np.abs(np.asarray(_shown(tab, "#after"), np.int16) - spread).max() <= 1
    with tab.expect_download():
        tab.click("#download")
    assert _last_hint_method(tab) == "spread"
    _ready(tab)


@pytest.mark.parametrize(("model", "offered"), [("own", "spread"), ("effunet-lite0-hints", "network")])
def test_only_the_hint_methods_the_servers_model_takes_are_offered(
    own_colorizer: Colorizer, tmp_path: Path, model: str, offered: str
) -> None:
    # A model of one's own has no hint network; a model that takes hints itself does not spread them.
    colorizer = own_colorizer if model == "own" else Colorizer.from_pretrained(model)
    with _browsing(colorizer) as (run, tab):
        tab.wait_for_selector("#hint-method option[disabled]", state="attached")
        options = tab.eval_on_selector_all(
            "#hint-method option", "os => os.map(o => [o.value, !o.disabled && !o.hidden])"
        )
        assert [value for value, shown in options if shown] == [offered]
        assert tab.input_value("#hint-method") == offered
        assert _hint_on(tab, tmp_path) == offered  # and the server colored with it: the page is ready


def test_a_person_colors_a_short_video_follows_its_progress_and_downloads_it(page, tmp_path: Path) -> None:  # noqa: ANN001
    run, tab = page
    tab.wait_for_selector("#films[data-state=idle]")
    assert tab.is_enabled("#video-file")
    assert tab.text_content("#video-note") == "Up to 60 s and 100 MB; set the colors before choosing it."

    # Not a video: refused in one line, and the section is ready for another.
    notes = tmp_path / "notes.mp4"
    notes.write_bytes(b"shopping list: milk, eggs\n" * 20)
    tab.set_input_files("#video-file", str(notes))
    tab.wait_for_selector("#films[data-state=error]")
    assert tab.text_content("#video-status") == (
        "notes.mp4: not a video polychrome reads (MP4, MOV, MKV, WebM, AVI, animated GIF or WebP)"
    )
    assert tab.is_enabled("#video-file") and tab.is_hidden("#video-progress")

    # A film: the bar follows its frames to the end, then the colored film is downloaded.
    source = tmp_path / "reel.mp4"
    times = make_clip(source, frames=16, audio=True)
    tab.evaluate("""() => {
        window.seen = [];
        const bar = document.getElementById("video-progress");
        new MutationObserver(() => window.seen.push([bar.value, bar.max]))
            .observe(bar, { attributes: true, attributeFilter: ["value", "max"] });
    }""")
    tab.fill("#video-saturation", "0")  # the video's own controls: here, no color at all
    assert tab.text_content("#video-saturation-value") == "0.00"
    tab.set_input_files("#video-file", str(source))
    tab.wait_for_selector("#films[data-state=done]")
    assert tab.text_content("#video-status") == "reel.mp4: 16 frames colored"
    assert tab.eval_on_selector("#video-progress", "bar => [bar.value, bar.max]") == [16, 16]
    seen = tab.evaluate("window.seen")
    assert seen[-1] == [16, 16] and [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert tab.is_visible("#video-progress") and tab.is_hidden("#video-cancel")
    with tab.expect_download() as download:
        tab.click("#video-download")
    assert download.value.suggested_filename == "reel-colorized.mp4"
    saved = tmp_path / "reel-colorized.mp4"
    download.value.save_as(saved)
    frames = read_frames(saved)
    assert [round(t * 1000) for t, _, _ in frames] == times
    assert max(_chroma(Image.fromarray(rgb)) for _, rgb, _ in frames) < 2  # saturation 0 reached the server
    tab.wait_for_selector("#films[data-state=downloaded]")
    assert tab.is_hidden("#video-download") and tab.text_content("#video-status") == "reel.mp4: downloaded"
    assert httpx.get(f"{run.url}/api/health").json()["films"]["accepted"] == 0


def test_the_video_section_is_off_with_its_reason_where_films_are_not_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # as where PyAV is not installed
    with _browsing(Colorizer.from_pretrained(backend="onnx")) as (run, tab):
        tab.wait_for_selector("#films[data-state=off]")
        assert tab.is_disabled("#video-file")
        assert tab.text_content("#video-note") == (
            "Videos are off on this server: films need PyAV: pip install 'polychrome[video]'"
        )
