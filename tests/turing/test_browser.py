"""The Turing test page in real headless Chromium: a person clicks through the pairs; answers land in SQLite.

Needs the system's Chromium and Playwright (see tests/browser.py); skipped, saying which is missing, where
either is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from polychrome.turing.server import COOKIE
from tests.browser import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM, NO_PLAYWRIGHT
from tests.turing.helpers import Photos, start_server

if CHROMIUM is None:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT)


def test_a_person_clicks_through_the_pairs_in_chromium(photos: Photos, tmp_path: Path) -> None:
    run = start_server(photos, tmp_path / "answers.sqlite", trials_per_person=3)
    shown: list[tuple[str, str]] = []
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(20_000)
                page.goto(run.url)
                for answered, (how, side) in enumerate(
                    [("click", "left"), ("click", "right"), ("key", "left")]
                ):
                    page.wait_for_selector("body[data-state=ready]")
                    assert page.text_content("#progress") == f"{answered} of 3 answered"
                    sizes = page.eval_on_selector_all(
                        "#pair img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
                    )
                    assert sizes == [[32, 24], [32, 24]]  # both photos decoded and on screen, the same size
                    shown.append(
                        tuple(page.eval_on_selector_all("#pair img", "imgs => imgs.map(i => i.src)"))
                    )
                    if how == "click":
                        page.click(f"#{side}")
                    else:
                        page.keyboard.press("ArrowLeft" if side == "left" else "ArrowRight")
                page.wait_for_selector("body[data-state=done]")
                assert page.text_content("#message") == "Thank you! You have answered all 3 pairs."
                assert page.is_hidden("#pair")
                (cookie,) = [c for c in page.context.cookies() if c["name"] == COOKIE]
            finally:
                browser.close()

        answers = run.store.answers()
        assert [a.chosen_side for a in answers] == ["left", "right", "left"]
        assert {a.participant for a in answers} == {cookie["value"]}
        assert len({a.photo for a in answers}) == 3
        assert all(0 <= a.response_ms < 60_000 for a in answers)
        pairs = {(p.photo, p.model): p for p in run.server.app.catalog.pairs}
        for answer, (left, right) in zip(answers, shown, strict=True):
            pair = pairs[(answer.photo, answer.model)]
            real = left if answer.real_side == "left" else right
            assert real.endswith(f"/image/{pair.real_image}")  # what the person saw is what was recorded
    finally:
        run.stop()
