"""A real browser for the web app's tests: Playwright for Python driving the system's Chromium
(Debian's /usr/bin/chromium; GATEHOUSE_TEST_CHROMIUM names another). Never a downloaded browser.

Under CI=true a missing browser, Playwright or web build fails the test; elsewhere the test is
skipped with the reason. `make test` builds web/dist first (`make web`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parent.parent
WEB_DIST = PROJECT / "web" / "dist"
SCREENSHOTS = PROJECT / "var" / "screenshots"
CHROMIUM = os.environ.get("GATEHOUSE_TEST_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def unavailable(reason: str) -> None:
    """Fail under CI (the browser tests are mandatory there), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run under CI=true: {reason}")
    pytest.skip(reason)


def require_web_build() -> None:
    if not (WEB_DIST / "index.html").is_file():
        unavailable(f"the web app is not built ({WEB_DIST} missing): run `make web` (Node.js 20.19+ and npm)")


@dataclass
class PageWatch:
    """Console errors and CSP violations a page reported."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e or "Refused to" in e]


def _require_chromium() -> None:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set GATEHOUSE_TEST_CHROMIUM)")


@pytest.fixture(name="browser")
async def browser_fixture() -> AsyncIterator[Any]:
    """Chromium, headless, launched from the system's binary (a test module imports this fixture)."""
    require_web_build()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install playwright; the test extras)")
    _require_chromium()
    async with async_playwright() as pw:
        try:
            chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        except Exception as exc:
            unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
        try:
            yield chromium
        finally:
            await chromium.close()


def screenshot_path(lang: str, name: str) -> Path:
    folder = SCREENSHOTS / lang
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
