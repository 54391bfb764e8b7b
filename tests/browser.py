"""What the browser tests share: the system's Chromium (never Playwright's downloads) and its flags.

Needs a Chromium binary (Debian: ``apt-get install chromium``, which .ci/run does; any other through
``POLYCHROME_CHROMIUM``) and the ``playwright`` package (the ``browser-test`` extra, part of ``test``).
"""

from __future__ import annotations

import os
import shutil

CHROMIUM = (
    os.environ.get("POLYCHROME_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
NO_CHROMIUM = "no Chromium binary (apt-get install chromium, or set POLYCHROME_CHROMIUM)"
NO_PLAYWRIGHT = "playwright is not installed (pip install -e '.[browser-test]')"

# Offline and quiet: no sandbox (root in a container), no GPU, no background calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
