"""The font that prints names in every script on badges, labels, charts and PDFs (issue 14).

Neither Pillow's built-in font nor the PDF core fonts (Latin-1) can show 李娜 or even "Zoë
Ångström" reliably, so every file people print uses one Pan-CJK font that also covers Latin with
diacritics. It comes from a package, never from the repository: Debian's fonts-noto-cjk by
default (the Makefile installs it when missing), or any TTF/OTF/TTC named by GATEHOUSE_FONT.

The font is found once per process (at server start); its cmap (about 44 000 characters) is read
once, at first need, to warn about characters it cannot show instead of printing boxes or "?"
silently. A font named by GATEHOUSE_FONT is checked at once: it must show Chinese.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fpdf import FPDF
from PIL import ImageFont

log = logging.getLogger("gatehouse.fonts")
# fontTools logs every subsetting step at INFO (dozens of lines per PDF or SVG).
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

ENV = "GATEHOUSE_FONT"
# Text that must print: Simplified and Traditional Chinese, Latin with diacritics.
PROBE = "李娜張偉笔记本电脑Zoë Ångström"
PDF_FAMILY = "gatehouse-cjk"
INSTALL_HINT = f"install Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk) or set {ENV}=/path/to/font.ttf[#face]"

# Face 2 of the Noto Sans CJK collection is its Simplified Chinese face (JP, KR, SC, TC, HK order);
# it carries Traditional characters and Latin too, with the glyph shapes readers in mainland China
# expect. Paths: Debian/Ubuntu, Fedora, Arch.
_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf", 0),
)


class FontError(RuntimeError):
    """GATEHOUSE_FONT names no usable font: a configuration mistake, not a reason to print boxes."""


@dataclass(frozen=True)
class Face:
    path: Path
    index: int  # face number inside a .ttc/.otc collection, 0 otherwise
    name: str

    @functools.cached_property
    def cmap(self) -> frozenset[int]:
        """The characters it has glyphs for, read at first need (about 0.1 s for 44 000 of them):
        not at every server start, since the test suite starts hundreds of servers."""
        font = TTFont(self.path, fontNumber=self.index, lazy=True)
        try:
            return frozenset(font.getBestCmap() or ())
        finally:
            font.close()

    def missing(self, text: str) -> str:
        """The characters of text this face has no glyph for (whitespace and controls aside)."""
        shown = (c for c in text if not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf"))
        return "".join(dict.fromkeys(c for c in shown if ord(c) not in self.cmap))


def _open(path: Path, index: int) -> Face:
    font = TTFont(path, fontNumber=index, lazy=True)
    try:
        return Face(path, index, font["name"].getDebugName(4) or path.stem)
    finally:
        font.close()


def _from_env(value: str) -> Face:
    path_text, _, index_text = value.partition("#")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise FontError(f"{ENV}={value!r}: no such file")
    try:
        face = _open(path, int(index_text or 0))
    except Exception as exc:  # fontTools raises many kinds for a file that is not a font
        raise FontError(f"{ENV}={value!r} is not a TrueType/OpenType font (face number after '#'): {exc}") from exc
    if face.missing(PROBE):
        raise FontError(f"{ENV}={value!r} ({face.name}) cannot show {face.missing(PROBE)!r}: choose a CJK font")
    return face


@functools.cache
def face() -> Face | None:
    """The font for everything printed, or None (logged once, as an error) when this machine has none."""
    configured = os.environ.get(ENV, "").strip()
    found: Face | None
    if configured:
        found = _from_env(configured)
    else:
        found = next((_open(Path(p), i) for p, i in _CANDIDATES if Path(p).is_file()), None)
    if found is None:
        log.error("no CJK font found: names in Chinese will print as boxes; %s", INSTALL_HINT)
    else:
        log.info("printing with %s (%s, face %d)", found.name, found.path, found.index)
    return found


def warn_missing(text: str) -> None:
    """Log characters that will not print: the file is still made (a badge with one odd character
    beats no badge at the gate), but the operator learns why a name shows a box."""
    found = face()
    missing = found.missing(text) if found is not None else ""
    if missing:
        log.warning("%s has no glyph for %r (in %r): they print as boxes", found and found.name, missing, text)


def pil(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A Pillow font of the given pixel size. FreeType opens the file lazily (about 1 ms), so each
    drawing gets its own object and no FreeType face is shared between threads."""
    found = face()
    if found is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(found.path), size, index=found.index)


def fit(text: str, width: float, measure: Callable[[str], float]) -> str:
    """text, cut with an ellipsis to fit width: a CJK character is about twice as wide as a Latin
    one, so a cut by count lets a Chinese name run off the label."""
    if measure(text) <= width:
        return text
    while text and measure(text + "…") > width:
        text = text[:-1]
    return text + "…"


def subset_woff(text: str) -> bytes:
    """The font cut down to the glyphs of text, as WOFF (zlib: no brotli needed), for files that
    carry their font (SVG charts). Raises when there is no font: callers check face() first."""
    found = face()
    if found is None:
        raise FontError(f"no CJK font: {INSTALL_HINT}")
    font = TTFont(found.path, fontNumber=found.index, lazy=True)
    try:
        options = subset.Options()
        options.flavor = "woff"
        options.layout_features = []  # bars' labels need no ligatures or vertical forms
        options.name_IDs = [1, 2]
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(set(text)) + " ")
        subsetter.subset(font)
        out = io.BytesIO()
        font.flavor = "woff"
        font.save(out)
        return out.getvalue()
    finally:
        font.close()


def pdf_font(pdf: FPDF) -> str:
    """Register the font with one PDF document and return the family for set_font(). fpdf2 embeds
    only the glyphs the document uses (a badge carries a few kB of font, not 19 MB)."""
    found = face()
    if found is None:
        return "helvetica"
    pdf.add_font(PDF_FAMILY, "", str(found.path), collection_font_number=found.index)
    return PDF_FAMILY


def pdf_text(family: str, text: str) -> str:
    """Text for a cell: as is with the CJK font; with the Latin-1 core font (no CJK font on this
    machine, already logged) unknown characters become '?' rather than fail the whole file."""
    if family == PDF_FAMILY:
        warn_missing(text)
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def main() -> int:
    """`python -m resolvers.core.fonts --check`: exit 0 when a font that prints PROBE is found."""
    try:
        found = face()
    except FontError as exc:
        print(f"fonts: {exc}", file=sys.stderr)
        return 1
    if found is None:
        print(f"fonts: no CJK font found; {INSTALL_HINT}", file=sys.stderr)
        return 1
    print(f"fonts: {found.name} ({found.path}, face {found.index})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
