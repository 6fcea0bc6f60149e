"""Names in every script (issue 14): badges, asset labels, charts and PDF summaries print 李娜,
張偉, 笔记本电脑 and Zoë Ångström with real glyphs, never a .notdef box or '?'.

Each output is checked where it could fail: a PNG against the same drawing of a character the
font has no glyph for (a box), an SVG against the cmap of the font it embeds, a PDF by decoding
its text and finding each character's glyph in the font program it embeds. The renderers are
the functions the HTTP routes call; the QR codes are read back with zxing-cpp as elsewhere.
"""

from __future__ import annotations

import base64
import ctypes
import io
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp
from fontTools.cffLib import CFFFontSet
from fontTools.ttLib import TTFont
from PIL import Image

from resolvers.attendance import report_files
from resolvers.attendance.reports import Series, Summary
from resolvers.attendance.summaries import DAILY, Figures, Stored
from resolvers.core import fonts
from resolvers.items import catalogue
from resolvers.visits import badges
from tests.harness import IN_CI

NAMES = ["李娜", "張偉", "笔记本电脑", "Zoë Ångström"]
TZ = ZoneInfo("Asia/Shanghai")
CODE = "GHB1:ABCDEFGHIJKLMNOP:" + "A" * 32
# A private-use character: no font has a glyph for it, so it draws the .notdef box.
NOTDEF = "\ue000"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def face() -> fonts.Face:
    found = fonts.face()
    if found is None:
        why = f"no CJK font on this machine: {fonts.INSTALL_HINT}"
        if IN_CI:
            pytest.fail(f"{why}; under CI=true it must be there (make test installs it)")
        pytest.skip(why)
    assert not found.missing("".join(NAMES)), found
    assert ord(NOTDEF) not in found.cmap
    return found


def characters() -> Iterator[str]:
    yield from dict.fromkeys(c for c in "".join(NAMES) if not c.isspace())


def badge(visitor: str, host: str = "Wang Fang") -> badges.Badge:
    start = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    return badges.Badge(CODE, visitor, host, start, start + timedelta(hours=8), escorted=True)


def qr_codes(image: Image.Image) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode)


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def assert_no_box(draw: Callable[[str], bytes]) -> None:
    """Each character drawn differs from the box drawn for a character without a glyph: had the
    font no glyph for it, both drawings would be the same picture."""
    box = draw(NOTDEF)
    boxed = [c for c in characters() if draw(c) == box]
    assert boxed == [], f"drawn as .notdef boxes: {boxed}"


# --------------------------------------------------------------------------- PDF inspection


def embedded_font(font: ctypes.c_void_p) -> tuple[str, set[str]]:
    """A PDF font's base name and the names of the glyphs its embedded program holds."""
    n = pdfium_c.FPDFFont_GetBaseFontName(font, None, 0)
    name = ctypes.create_string_buffer(n)
    pdfium_c.FPDFFont_GetBaseFontName(font, name, n)
    assert pdfium_c.FPDFFont_GetIsEmbedded(font), name.value
    size = ctypes.c_size_t()
    pdfium_c.FPDFFont_GetFontData(font, None, 0, ctypes.byref(size))
    buf = (ctypes.c_uint8 * size.value)()
    assert pdfium_c.FPDFFont_GetFontData(font, buf, size.value, ctypes.byref(size))
    data = bytes(buf)
    if data[:4] in (b"\x00\x01\x00\x00", b"OTTO", b"true"):  # a TrueType/OpenType program
        return name.value.decode(), set(TTFont(io.BytesIO(data)).getGlyphOrder())
    cff = CFFFontSet()  # a bare CFF program (FontFile3), as fpdf2 embeds CID-keyed CFF
    cff.decompile(io.BytesIO(data), None)
    return name.value.decode(), set(cff[cff.fontNames[0]].charset)


def pdf_check(data: bytes, face: fonts.Face, texts: list[str]) -> pypdfium2.PdfDocument:
    """Every text decodes from the PDF as written, and every character of it is drawn with the
    CJK font, whose embedded program holds that character's glyph (a subset: not .notdef)."""
    document = pypdfium2.PdfDocument(data)
    cmap = TTFont(face.path, fontNumber=face.index, lazy=True).getBestCmap()
    decoded = "".join(page.get_textpage().get_text_range() for page in document)
    for text in texts:
        assert text in decoded, (text, decoded)
    wanted = set("".join(texts)) - {" "}
    seen: set[str] = set()
    for page in document:
        textpage = page.get_textpage()
        for i in range(textpage.count_chars()):
            char = chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i))
            if char not in wanted:
                continue
            font = pdfium_c.FPDFTextObj_GetFont(pdfium_c.FPDFText_GetTextObject(textpage.raw, i))
            name, glyphs = embedded_font(font)
            assert re.sub("[ -]", "", face.name) in name, (char, name)
            assert cmap[ord(char)] in glyphs, (char, name, cmap[ord(char)])
            seen.add(char)
    assert seen == wanted, wanted - seen
    return document


def pdf_qr(document: pypdfium2.PdfDocument) -> list[str]:
    return qr_codes(document[0].render(scale=3).to_pil())


# --------------------------------------------------------------------------- badges


def test_badge_png_draws_names_in_every_script(face: fonts.Face) -> None:
    for name in NAMES:
        image = png(badges.render_png(badge(name, host=name), TZ))
        assert qr_codes(image) == [CODE]
    assert_no_box(lambda c: badges.render_png(badge(c), TZ))
    assert_no_box(lambda c: badges.render_png(badge("Li Na", host=c), TZ))


def test_badge_pdf_embeds_the_glyphs_of_names_in_every_script(face: fonts.Face) -> None:
    for name in NAMES:
        document = pdf_check(badges.render_pdf(badge(name, host="張偉"), TZ), face, [name, "Host: 張偉"])
        assert pdf_qr(document) == [CODE]
        assert "?" not in document[0].get_textpage().get_text_range()


# --------------------------------------------------------------------------- asset labels


def test_label_sheets_draw_item_names_in_every_script(face: fonts.Face) -> None:
    codes = [(f"GHI1:AAAAAAAA{'BCDE'[i]}:ABCDEFGH", name) for i, name in enumerate(NAMES)]
    image = png(catalogue.label_sheet_png(codes))
    assert qr_codes(image) == sorted(code for code, _ in codes)
    assert_no_box(lambda c: catalogue.label_sheet_png([("GHI1:AAAAAAAAB:ABCDEFGH", c)]))

    document = pdf_check(catalogue.label_sheet_pdf(codes), face, NAMES)
    assert pdf_qr(document) == sorted(code for code, _ in codes)


def test_a_long_chinese_item_name_is_cut_to_its_label(face: fonts.Face) -> None:
    long = "非常长的资产名称" * 6
    document = pypdfium2.PdfDocument(catalogue.label_sheet_pdf([("GHI1:AAAAAAAAB:ABCDEFGH", long)]))
    textpage = document[0].get_textpage()
    text = textpage.get_text_range()
    assert text.endswith("…") and long.startswith(text[:-1]) and len(text) < len(long)
    _, _, right, _ = textpage.get_charbox(textpage.count_chars() - 1)
    assert right <= (10 + 64) / 25.4 * 72  # the first cell ends 74 mm from the page's left edge


# --------------------------------------------------------------------------- charts


def series(title: str) -> Series:
    return Series(title, ["2026-11-28", "2026-11-29", "2026-11-30"], [3.0, None, 12.0], "Entries (count)", "day")


def test_chart_svg_embeds_a_font_with_every_character_it_shows(face: fonts.Face) -> None:
    for name in NAMES:
        svg = ET.fromstring(report_files.chart_svg(series(f"Entries of {name}")))
        texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
        assert texts[0] == f"Entries of {name}"
        # Axes: titles with units, and ticks 0, 5, 10, 15 on the value axis.
        assert "Entries (count)" in texts and "Day (site time)" in texts
        assert [t for t in texts if t.isdigit()] == ["0", "5", "10", "15"]
        style = "".join(s.text or "" for s in svg.iter(f"{SVG}style"))
        woff = re.search(r"data:font/woff;base64,([A-Za-z0-9+/=]+)", style)
        assert woff, style[:200]
        cmap = TTFont(io.BytesIO(base64.b64decode(woff.group(1)))).getBestCmap()
        missing = {c for c in "".join(texts) if not c.isspace() and ord(c) not in cmap}
        assert missing == set(), missing
        assert "'Gatehouse CJK'" in (svg.find(f"{SVG}text").get("font-family") or "")  # type: ignore[union-attr]


def test_chart_png_draws_titles_in_every_script(face: fonts.Face) -> None:
    image = png(report_files.chart_png(series("李娜 張偉")))
    assert image.size == (900, 420)
    assert_no_box(lambda c: report_files.chart_png(series(c)))


# --------------------------------------------------------------------------- PDF summaries


def test_summary_pdfs_embed_the_glyphs_of_every_script(face: fonts.Face) -> None:
    at = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    samples = [(at, "offline", f"device of {name} is offline") for name in NAMES]
    summary = Summary(date(2026, 11, 30), date(2026, 11, 30), 1, 0, 2, [], {"offline": 4}, samples)
    # The labels are Chinese and English, as the site's people read them (the screens speak both).
    labels = ["门禁汇总 / Gatehouse summary", "考勤 / Attendance", "最近的异常 / Latest anomalies"]
    pdf_check(report_files.summary_pdf(summary), face, [f"device of {name} is offline" for name in NAMES] + labels)

    figures = Figures(passages=3, denials={"张偉的通行证已过期": 1}, visitors=1, stock_in=2, stock_out=1, anomalies={})
    stored = Stored(1, DAILY, date(2026, 11, 30), date(2026, 11, 30), at, figures)
    texts = [
        "门禁每日汇总 / Gatehouse daily summary",
        "拒绝 / Denials: 1 (张偉的通行证已过期 1)",
        "入库 / 出库 / Stock in",
    ]
    pdf_check(report_files.scheduled_pdf(stored, TZ), face, texts)


# --------------------------------------------------------------------------- the setting


@pytest.fixture
def fresh_discovery(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """face() is found once per process: forget it for this test, and again after it."""
    fonts.face.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    fonts.face.cache_clear()


def test_gatehouse_font_picks_a_face_of_a_collection(face: fonts.Face, fresh_discovery: pytest.MonkeyPatch) -> None:
    if face.path.suffix.lower() != ".ttc":
        pytest.skip(f"{face.path} is not a collection")
    fresh_discovery.setenv(fonts.ENV, f"{face.path}#3")
    chosen = fonts.face()
    assert chosen is not None and chosen.index == 3 and chosen.name != face.name
    assert not chosen.missing("".join(NAMES))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/nonexistent/font.ttf", "no such file"),
        (__file__, "is not a TrueType/OpenType font"),
    ],
)
def test_a_wrong_gatehouse_font_is_a_clear_error(fresh_discovery: pytest.MonkeyPatch, value: str, message: str) -> None:
    fresh_discovery.setenv(fonts.ENV, value)
    with pytest.raises(fonts.FontError, match=message):
        fonts.face()


def test_a_gatehouse_font_without_chinese_is_refused(fresh_discovery: pytest.MonkeyPatch) -> None:
    latin = next(Path("/usr/share/fonts/truetype/dejavu").glob("DejaVuSans.ttf"), None)
    if latin is None:
        pytest.skip("no DejaVu Sans on this machine to stand for a font without Chinese")
    fresh_discovery.setenv(fonts.ENV, str(latin))
    with pytest.raises(fonts.FontError, match="cannot show '李娜張偉笔记本电脑'"):
        fonts.face()


def test_no_font_at_all_is_logged_not_silent(
    fresh_discovery: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fresh_discovery.delenv(fonts.ENV, raising=False)
    fresh_discovery.setattr(fonts, "_CANDIDATES", ())
    with caplog.at_level(logging.ERROR, logger="gatehouse.fonts"):
        assert fonts.face() is None
        document = pypdfium2.PdfDocument(badges.render_pdf(badge("Zoë"), TZ))
    assert "no CJK font found" in caplog.text and "fonts-noto-cjk" in caplog.text
    assert "Zoë" in document[0].get_textpage().get_text_range()  # Latin-1 still prints
    assert fonts.main() == 1


def test_a_character_the_font_lacks_is_logged(face: fonts.Face, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gatehouse.fonts"):
        badges.render_png(badge(f"李娜{NOTDEF}"), TZ)
    assert repr(NOTDEF) in caplog.text and "print as boxes" in caplog.text
