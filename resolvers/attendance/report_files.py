"""Reports as files people open: CSV, XLSX, bar charts (SVG and PNG) and the PDF summary."""

from __future__ import annotations

import base64
import csv
import io
import math
from html import escape
from zoneinfo import ZoneInfo

from fpdf import FPDF
from openpyxl import Workbook
from PIL import Image, ImageDraw

from resolvers.attendance.reports import NO_SCHEDULE, AttendanceLine, Series, Summary
from resolvers.attendance.summaries import DAILY, Stored
from resolvers.core import fonts

ATTENDANCE_COLUMNS = [
    "person id",
    "name",
    "department",
    "workdays",
    "present",
    "extra days",
    "late",
    "left early",
    "absent",
    "missing exit",
    "hours inside",
    # Added last, so readers of the earlier columns by position are unaffected.
    "unscheduled days",
    "present on unscheduled days",
    "attendance rate %",
]


def _attendance_rows(lines: list[AttendanceLine]) -> list[list[object]]:
    return [
        [
            x.person_id,
            x.name,
            x.department,
            x.summary.workdays,
            x.summary.present,
            x.summary.extra_days,
            x.summary.late,
            x.summary.left_early,
            x.summary.absent,
            x.summary.missing_exit,
            x.summary.hours_inside,
            x.summary.unscheduled_days,
            x.summary.unscheduled_present,
            # No workday, no rate: the cell says so rather than 0 (or an empty cell read as 0).
            NO_SCHEDULE if x.summary.attendance_rate is None else x.summary.attendance_rate,
        ]
        for x in lines
    ]


def _series_rows(series: Series) -> list[list[object]]:
    return [
        [label, NO_SCHEDULE if value is None else value]
        for label, value in zip(series.labels, series.values, strict=True)
    ]


def _cell(v: object) -> object:
    # A cell starting with = + - @ would run as a formula in a spreadsheet: keep it text. (An
    # empty string starts with nothing: `"" in "=+-@"` is true, so it is tested apart.)
    return f"'{v}" if isinstance(v, str) and v and v[0] in "=+-@" else v


def csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(title: str, header: list[str], rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(header)
    for row in rows:
        ws.append([_cell(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def attendance_table(lines: list[AttendanceLine], fmt: str) -> bytes:
    rows = _attendance_rows(lines)
    return csv_bytes(ATTENDANCE_COLUMNS, rows) if fmt == "csv" else xlsx_bytes("Attendance", ATTENDANCE_COLUMNS, rows)


def series_table(series: Series, fmt: str) -> bytes:
    header = ["bucket", "value"]
    rows = _series_rows(series)
    return csv_bytes(header, rows) if fmt == "csv" else xlsx_bytes("Report", header, rows)


# Hand-drawn rather than matplotlib: two kinds of bar chart do not justify numpy and matplotlib
# (about 60 MB) in the server, and the SVG keeps what readers rely on (one <title> per bar, text
# that stays text). README "Fonts" says more.
W, H = 900, 420
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 50, 72  # plot area margins: y ticks and title left, x ticks and title below
BAR = (43, 108, 176)
NO_VALUE_FILL = (238, 238, 238)
GRID = (221, 221, 221)
# Viewers draw SVG text with their own fonts unless the file carries one; it does (a subset of the
# CJK font as WOFF), and these names are the fallback when it cannot be embedded.
SVG_FONTS = "'Gatehouse CJK', 'Noto Sans CJK SC', 'Noto Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"


def _top(series: Series) -> float:
    return max((v for v in series.values if v is not None), default=0.0)


def _ticks(series: Series) -> list[float]:
    """Values of the value axis' ticks, 0 first: a "nice" step (1, 2 or 5 times a power of ten, at
    least 1: counts and units are whole), 0-100 for a percentage."""
    if series.unit.endswith("(%)"):
        return [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    top = _top(series)
    if top <= 0:
        return [0.0, 1.0]
    rough = top / 5
    magnitude = 10 ** math.floor(math.log10(rough))
    step = max(1.0, next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _y(value: float, scale_top: float) -> float:
    return H - BOTTOM - (H - TOP - BOTTOM) * value / scale_top


def _bars(series: Series) -> list[tuple[float, float, float, float]]:
    """x, y, width, height per bucket; a bucket without a value (None) has no bar."""
    scale_top = _ticks(series)[-1]
    n = max(1, len(series.values))
    slot = (W - LEFT - RIGHT) / n
    out = []
    for i, v in enumerate(series.values):
        y = _y(v or 0.0, scale_top)
        out.append((LEFT + i * slot + slot * 0.1, y, slot * 0.8, H - BOTTOM - y))
    return out


def _bucket_title(series: Series) -> str:
    return "Hour of day (site time)" if series.bucket == "hour" else "Day (site time)"


def _label_step(series: Series) -> int:
    return max(1, math.ceil(len(series.labels) / 12))


def _embedded_font_css(text: str) -> str:
    """An @font-face carrying only the glyphs of text, so the SVG shows the same letters on a
    machine without a CJK font (a few kB; the whole font is 19 MB)."""
    face = fonts.face()
    if face is None:
        return ""
    woff = fonts.subset_woff(text)
    return (
        "<style>@font-face{font-family:'Gatehouse CJK';"
        f"src:url(data:font/woff;base64,{base64.b64encode(woff).decode()}) format('woff')}}</style>"
    )


def chart_svg(series: Series) -> bytes:
    ticks = _ticks(series)
    text_attrs = f'font-family="{SVG_FONTS}"'
    x_axis, y_axis = _bucket_title(series), series.unit
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{W / 2}" y="28" text-anchor="middle" {text_attrs} font-size="16">{escape(series.title)}</text>',
    ]
    for t in ticks:
        y = _y(t, ticks[-1])
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#dddddd"/>'
            f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="black"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="11" {text_attrs}>{t:g}</text>'
        )
    step = _label_step(series)
    for i, ((x, y, w, h), label, value) in enumerate(zip(_bars(series), series.labels, series.values, strict=True)):
        if i % step == 0:
            cx = x + w / 2
            parts.append(
                f'<line x1="{cx:.1f}" y1="{H - BOTTOM}" x2="{cx:.1f}" y2="{H - BOTTOM + 5}" stroke="black"/>'
                f'<text x="{cx:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle" font-size="10" '
                f"{text_attrs}>{escape(label)}</text>"
            )
        if value is None:
            # Nothing to measure: say so where the bar would be, so it does not read as 0.
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP}" width="{w:.1f}" height="{H - TOP - BOTTOM}" fill="#eeeeee">'
                f"<title>{escape(label)}: {NO_SCHEDULE}</title></rect>"
            )
            if w >= 60:  # narrower bands share the legend instead
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{H / 2:.1f}" text-anchor="middle" font-size="10" '
                    f'{text_attrs} fill="#666666">{NO_SCHEDULE}</text>'
                )
            continue
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#2b6cb0">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
        )
    if None in series.values:
        parts.append(
            f'<rect x="{W - RIGHT - 110}" y="{TOP - 20}" width="10" height="10" fill="#eeeeee" stroke="#999999"/>'
            f'<text x="{W - RIGHT - 95}" y="{TOP - 11}" font-size="10" {text_attrs}>{NO_SCHEDULE}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="black"/>'
        f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="black"/>'
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 16}" text-anchor="middle" font-size="12" {text_attrs}>'
        f"{escape(x_axis)}</text>"
        f'<text transform="translate(22 {(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle" '
        f'font-size="12" {text_attrs}>{escape(y_axis)}</text>'
    )
    shown = "".join([series.title, x_axis, y_axis, NO_SCHEDULE, *series.labels, *(f"{t:g}" for t in ticks)])
    fonts.warn_missing(shown)
    parts.insert(1, _embedded_font_css(shown))
    parts.append("</svg>")
    return "".join(parts).encode()


def chart_png(series: Series) -> bytes:
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    font, small, axis_font = fonts.pil(16), fonts.pil(10), fonts.pil(12)
    ticks = _ticks(series)
    fonts.warn_missing(series.title + "".join(series.labels))
    draw.text((W / 2, 22), series.title, fill="black", font=font, anchor="mm")
    for t in ticks:
        tick_y = round(_y(t, ticks[-1]))
        draw.line([(LEFT, tick_y), (W - RIGHT, tick_y)], fill=GRID)
        draw.line([(LEFT - 5, tick_y), (LEFT, tick_y)], fill="black")
        draw.text((LEFT - 8, tick_y), f"{t:g}", fill="black", font=small, anchor="rm")
    step = _label_step(series)
    for i, ((x, y, w, h), label, value) in enumerate(zip(_bars(series), series.labels, series.values, strict=True)):
        if value is None:
            # Nothing to measure (nobody was due): a grey band marked "no schedule", not a 0 % bar.
            draw.rectangle([x, TOP, x + w, H - BOTTOM], fill=NO_VALUE_FILL)
            if w >= 60:  # narrower bands share the legend instead
                draw.text((x + w / 2, H / 2), NO_SCHEDULE, fill=(102, 102, 102), font=small, anchor="mm")
        elif h > 0:
            draw.rectangle([x, y, x + w, H - BOTTOM], fill=BAR)
        if i % step == 0:
            cx = x + w / 2
            draw.line([(cx, H - BOTTOM), (cx, H - BOTTOM + 5)], fill="black")
            draw.text((cx, H - BOTTOM + 14), label, fill="black", font=small, anchor="mm")
    if None in series.values:
        legend = [W - RIGHT - 110, TOP - 20, W - RIGHT - 100, TOP - 10]
        draw.rectangle(legend, fill=NO_VALUE_FILL, outline=(153, 153, 153))
        draw.text((W - RIGHT - 95, TOP - 15), NO_SCHEDULE, fill="black", font=small, anchor="lm")
    draw.line([(LEFT, TOP), (LEFT, H - BOTTOM)], fill="black")
    draw.line([(LEFT, H - BOTTOM), (W - RIGHT, H - BOTTOM)], fill="black")
    draw.text(((LEFT + W - RIGHT) / 2, H - 18), _bucket_title(series), fill="black", font=axis_font, anchor="mm")
    # Pillow draws no rotated text: draw the value axis' title on its own strip and turn it.
    width = math.ceil(axis_font.getlength(series.unit)) + 4
    strip = Image.new("L", (width, 20), 0)
    ImageDraw.Draw(strip).text((width / 2, 10), series.unit, fill=255, font=axis_font, anchor="mm")
    strip = strip.rotate(90, expand=True)
    img.paste((0, 0, 0), (14, round((TOP + H - BOTTOM - strip.height) / 2)), strip)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def attendance_sentences(lines: list[AttendanceLine]) -> list[str]:
    """Workdays and days without a schedule, told apart: presence on a day nobody scheduled is
    never set against "workdays due" (it would read "2 days present of 0 workdays due")."""
    summaries = [x.summary for x in lines]
    due = sum(x.workdays for x in summaries)
    out = []
    if due:
        present, late, absent = (sum(getattr(x, f) for x in summaries) for f in ("present", "late", "absent"))
        out.append(f"考勤 / Attendance: {present} days present of {due} workdays due; {late} late, {absent} absent")
    else:
        out.append("考勤 / Attendance: no workdays scheduled")
    unscheduled = [x for x in summaries if x.unscheduled_days]
    if unscheduled:
        came = sum(x.unscheduled_present for x in unscheduled)
        label = "无排班人员 / People without a schedule"
        out.append(f"{label}: {len(unscheduled)}; present on {came} days (not workdays: no rate)")
    return out


def summary_pdf(s: Summary) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    family = fonts.pdf_font(pdf)
    pdf.set_font(family, "", 16)
    title = f"门禁汇总 / Gatehouse summary {s.first} to {s.last}"
    pdf.cell(0, 10, fonts.pdf_text(family, title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 11)
    for line in (
        f"园区大门进入 / Entries through the site gates: {s.entries}",
        f"被拒绝的扫码 / Denied scans: {s.denied}",
        f"访客签到 / Visitors checked in: {s.visitors}",
        *attendance_sentences(s.attendance_lines),
        "异常 / Anomalies: " + (", ".join(f"{k} {v}" for k, v in sorted(s.anomalies.items())) or "none"),
    ):
        pdf.multi_cell(0, 7, fonts.pdf_text(family, line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "", 12)
    pdf.cell(0, 8, fonts.pdf_text(family, "最近的异常 / Latest anomalies"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    for at, kind, message in s.anomaly_samples:
        line = f"{at:%Y-%m-%d %H:%M}  {kind}: {message}"
        pdf.multi_cell(0, 5, fonts.pdf_text(family, line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --- scheduled summaries (resolvers/attendance/summaries.py), rendered from their kept figures ---


def _by_name(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def scheduled_title(s: Stored) -> str:
    if s.kind == DAILY:
        return f"门禁每日汇总 / Gatehouse daily summary {s.first}"
    return f"门禁每周汇总 / Gatehouse weekly summary {s.first} to {s.last}"


def scheduled_lines(s: Stored) -> list[str]:
    f = s.figures
    return [
        f"通行 / Passages (granted): {f.passages}",
        f"拒绝 / Denials: {f.denials_total}" + (f" ({_by_name(f.denials)})" if f.denials else ""),
        f"访客签到 / Visitors checked in: {f.visitors}",
        f"入库 / 出库 / Stock in: {f.stock_in} units; stock out: {f.stock_out} units",
        f"异常 / Anomalies: {f.anomalies_total}" + (f" ({_by_name(f.anomalies)})" if f.anomalies else ""),
    ]


def scheduled_csv(s: Stored) -> bytes:
    f = s.figures
    rows: list[list[object]] = [
        ["kind", "", s.kind],
        ["period start", "", s.first.isoformat()],
        ["period end", "", s.last.isoformat()],
        ["produced at", "", s.produced_at.isoformat()],
        ["passages", "", f.passages],
        ["denials", "", f.denials_total],
        *(["denials", reason, n] for reason, n in sorted(f.denials.items())),
        ["visitors", "", f.visitors],
        ["stock in", "", f.stock_in],
        ["stock out", "", f.stock_out],
        ["anomalies", "", f.anomalies_total],
        *(["anomalies", kind, n] for kind, n in sorted(f.anomalies.items())),
    ]
    return csv_bytes(["figure", "detail", "value"], rows)


def scheduled_pdf(s: Stored, tz: ZoneInfo) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    family = fonts.pdf_font(pdf)
    pdf.set_font(family, "", 16)
    pdf.cell(0, 10, fonts.pdf_text(family, scheduled_title(s)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    produced = s.produced_at.astimezone(tz)
    line = f"生成于 / Produced {produced:%Y-%m-%d %H:%M} ({tz.key})"
    pdf.cell(0, 6, fonts.pdf_text(family, line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, "", 11)
    for line in scheduled_lines(s):
        pdf.cell(0, 7, fonts.pdf_text(family, line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
