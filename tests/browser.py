"""A real browser for the web app's tests: Playwright for Python driving the system's Chromium
(Debian's /usr/bin/chromium; GATEHOUSE_TEST_CHROMIUM names another). Never a downloaded browser.

Under CI=true a missing browser, Playwright or web build fails the test; elsewhere the test is
skipped with the reason. `make test` builds web/dist first (`make web`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import unicodedata
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont

PROJECT = Path(__file__).resolve().parent.parent
WEB_DIST = PROJECT / "web" / "dist"
SCREENSHOTS = PROJECT / "var" / "screenshots"
CHROMIUM = os.environ.get("GATEHOUSE_TEST_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}

# The accessible names ../shared/contracts/PHONE_APP.md fixes (English / 简体中文), which every
# browser test finds controls by; each test adds the names of its own screens.
CONTRACT_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "new": "New password",
        "repeat": "Repeat new password",
        "save": "Save password",
        "bind": "Use this phone as my pass",
        "qr": "Pass QR code",
    },
    "zh-CN": {
        "username": "用户名",
        "password": "密码",
        "sign_in": "登录",
        "new": "新密码",
        "repeat": "再次输入新密码",
        "save": "保存密码",
        "bind": "将此手机设为通行证",
        "qr": "通行二维码",
    },
}
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


# --------------------------------------------------------------------------- real glyphs, no tofu
# Chromium draws a character no font has with the first font's .notdef (a box: "tofu") and says
# nothing. So a check asks the browser which platform fonts it used for a node (CDP
# CSS.getPlatformFontsForNode), finds those fonts' files through fontconfig, and reads their cmaps
# with fontTools: every character of the text must be in the cmap of a font that drew the node.


class MissingGlyph(AssertionError):
    """Text the page drew with no font that has its characters (tofu)."""


@dataclass(frozen=True)
class FontFace:
    postscript_name: str
    family: str
    file: str
    index: int


@functools.cache
def _installed_faces() -> tuple[FontFace, ...]:
    """Every face fontconfig knows (the faces Chromium on Linux draws with)."""
    try:
        out = subprocess.run(
            ["fc-list", "-f", "%{postscriptname}\t%{family[0]}\t%{file}\t%{index}\n"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise MissingGlyph(f"fontconfig's fc-list did not answer, so no glyph can be checked: {exc}") from exc
    faces = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[2]:
            faces.append(FontFace(parts[0], parts[1], parts[2], int(parts[3] or 0)))
    return tuple(faces)


@functools.cache
def _cmap(file: str, index: int) -> frozenset[int]:
    with TTFont(file, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def _face_of(platform_font: dict[str, Any]) -> FontFace:
    """The installed face Chromium reported: by PostScript name, else by exact family name."""
    if platform_font.get("isCustomFont"):
        # A web font's file is not in fontconfig: this check would have nothing to read.
        raise MissingGlyph(f"{platform_font} is a web font; assert_real_glyphs reads installed fonts only")
    faces = _installed_faces()
    ps = platform_font.get("postScriptName") or ""
    for face in faces:
        if ps and face.postscript_name == ps:
            return face
    for face in faces:
        if face.family == platform_font.get("familyName"):
            return face
    raise MissingGlyph(f"the browser drew with {platform_font}, which fontconfig does not list")


def covers(platform_fonts: Iterable[dict[str, Any]], text: str) -> list[str]:
    """The characters of `text` that none of these fonts has (spaces and controls need none)."""
    cmaps = [_cmap(f.file, f.index) for f in map(_face_of, platform_fonts)]
    return [
        ch
        for ch in dict.fromkeys(text)
        if not ch.isspace()
        and unicodedata.category(ch) not in ("Cc", "Cf")
        and not any(ord(ch) in cmap for cmap in cmaps)
    ]


def _text_nodes(node: dict[str, Any], parent: int | None = None) -> Iterator[tuple[int, str]]:
    """(element id, text) for every text node under `node`, shadow roots and frames included."""
    if node.get("nodeType") == 3 and parent is not None and node.get("nodeValue", "").strip():
        yield parent, node["nodeValue"]
    here = node["nodeId"] if node.get("nodeType") == 1 else parent
    if node.get("nodeName") in ("SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE"):
        return
    for key in ("children", "shadowRoots"):
        for child in node.get(key, []):
            yield from _text_nodes(child, here)
    if "contentDocument" in node:
        yield from _text_nodes(node["contentDocument"], here)


async def _drawn_text(page: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each text on the page with the platform fonts Chromium drew its element with (elements
    without a layout box, display:none, are not drawn and are left out). Chromium reports an
    element's fonts with those of its inline children, so a text is held to the fonts of its
    element and children together: a character no font drew is still caught."""
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("DOM.enable")
        await cdp.send("CSS.enable")
        root = (await cdp.send("DOM.getDocument", {"depth": -1, "pierce": True}))["root"]
        drawn = []
        for element, text in _text_nodes(root):
            fonts = (await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": element}))["fonts"]
            if fonts:
                drawn.append((text, fonts))
        return drawn
    finally:
        await cdp.detach()


async def assert_real_glyphs(page: Any, texts: Iterable[str]) -> None:
    """Each of `texts` is drawn on the page, and every character of it with a font that has it.

    Raises MissingGlyph when a text is not drawn at all or falls back to a missing glyph."""
    drawn = await _drawn_text(page)
    for wanted in texts:
        where = [(text, fonts) for text, fonts in drawn if wanted in text]
        if not where:
            raise MissingGlyph(f"{wanted!r} is not drawn on {page.url} (texts: {[t for t, _ in drawn]})")
        for text, fonts in where:
            missing = covers(fonts, wanted)
            if missing:
                names = [f.get("postScriptName") or f.get("familyName") for f in fonts]
                raise MissingGlyph(
                    f"{wanted!r} in {text!r} on {page.url}: no glyph for "
                    f"{', '.join(f'U+{ord(c):04X}' for c in missing)} in the fonts drawn ({names})"
                )


async def assert_page_glyphs(page: Any) -> list[str]:
    """Every text drawn on the page has real glyphs; returns the texts checked."""
    drawn = await _drawn_text(page)
    for text, fonts in drawn:
        missing = covers(fonts, text)
        if missing:
            names = [f.get("postScriptName") or f.get("familyName") for f in fonts]
            raise MissingGlyph(
                f"{text!r} on {page.url}: no glyph for "
                f"{', '.join(f'U+{ord(c):04X}' for c in missing)} in the fonts drawn ({names})"
            )
    return [text for text, _ in drawn]


async def drawn_families(page: Any, text: str) -> set[str]:
    """The font families Chromium drew the elements holding `text` with."""
    return {f["familyName"] for drawn, fonts in await _drawn_text(page) if text in drawn for f in fonts}
