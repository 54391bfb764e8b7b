"""Make docs/web.png: the colorizing page in headless Chromium, with scikit-image's sample photos in gray and
a color hint on the first.

Usage: python docs/make_web_screenshot.py [--chromium PATH]   (needs the test extra and Debian's chromium)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright
from skimage import data

from polychrome import Colorizer
from polychrome.web.app import create_app
from polychrome.web.server import LocalServer

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = parser.parse_args()
    server = LocalServer(create_app(Colorizer.from_pretrained(), model_name="effunet-lite0"), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as folder:
        photos = []
        for name in ("astronaut", "chelsea", "coffee"):
            path = Path(folder) / f"{name}.jpg"
            Image.fromarray(getattr(data, name)()).convert("L").save(path, quality=92)
            photos.append(str(path))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(server.url)
            page.set_input_files("#files", photos)
            page.wait_for_function(
                "() => [...document.querySelectorAll('#gallery img')].every(i => i.src.startsWith('blob:'))"
            )
            page.wait_for_selector("body[data-state=ready]")
            page.fill("#saturation", "1.2")
            page.wait_for_selector("body[data-state=ready]")
            # A color hint: the suit was orange.
            page.click("#hint-mode")
            page.fill("#hint-color", "#e06a2a")
            box = page.locator("#compare").bounding_box()
            page.click("#compare", position={"x": 0.6 * box["width"], "y": 0.55 * box["height"]})
            page.wait_for_selector("body[data-state=ready]")
            out = Path(__file__).with_name("web.png")
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    server.shutdown()
    server.server_close()
    print(out)


if __name__ == "__main__":
    main()
