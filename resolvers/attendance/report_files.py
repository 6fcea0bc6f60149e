"""Reports as files people open: CSV, XLSX, bar charts (SVG and PNG) and the PDF summary."""

from __future__ import annotations

import csv
import io
from html import escape
from zoneinfo import ZoneInfo

from fpdf import FPDF
from openpyxl import Workbook
from PIL import Image, ImageDraw, ImageFont

from resolvers.attendance.reports import NO_SCHEDULE, AttendanceLine, Series, Summary
from resolvers.attendance.summaries import DAILY, Stored

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


W, H, PAD, AXIS = 900, 420, 50, 60
NO_VALUE_FILL = (238, 238, 238)


def _top(series: Series) -> float:
    return max((v for v in series.values if v is not None), default=0.0)


def _bars(series: Series) -> list[tuple[float, float, float, float]]:
    """x, y, width, height per bucket; a bucket without a value (None) has no bar."""
    top = _top(series) or 1.0
    n = max(1, len(series.values))
    slot = (W - PAD - AXIS) / n
    out = []
    for i, v in enumerate(series.values):
        h = (H - 2 * PAD) * (v or 0.0) / top
        out.append((AXIS + i * slot + slot * 0.1, H - PAD - h, slot * 0.8, h))
    return out


def chart_svg(series: Series) -> bytes:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{W / 2}" y="28" text-anchor="middle" font-family="sans-serif" font-size="16">'
        f"{escape(series.title)}</text>",
        f'<line x1="{AXIS}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="black"/>',
    ]
    step = max(1, len(series.labels) // 12)
    for i, ((x, y, w, h), label, value) in enumerate(zip(_bars(series), series.labels, series.values, strict=True)):
        if i % step == 0:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="{H - PAD + 16}" text-anchor="middle" font-size="10" '
                f'font-family="sans-serif">{escape(label)}</text>'
            )
        if value is None:
            # Nothing to measure: say so where the bar would be, so it does not read as 0.
            parts.append(
                f'<rect x="{x:.1f}" y="{PAD}" width="{w:.1f}" height="{H - 2 * PAD}" fill="#eeeeee">'
                f"<title>{escape(label)}: {NO_SCHEDULE}</title></rect>"
            )
            if w >= 60:  # narrower bands share the legend instead
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{H / 2:.1f}" text-anchor="middle" font-size="10" '
                    f'font-family="sans-serif" fill="#666666">{NO_SCHEDULE}</text>'
                )
            continue
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#2b6cb0">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
        )
    if None in series.values:
        parts.append(
            f'<rect x="{W - PAD - 110}" y="{PAD - 20}" width="10" height="10" fill="#eeeeee" stroke="#999999"/>'
            f'<text x="{W - PAD - 95}" y="{PAD - 11}" font-size="10" font-family="sans-serif">{NO_SCHEDULE}</text>'
        )
    parts.append(
        f'<text x="{AXIS - 8}" y="{PAD}" text-anchor="end" font-size="10" font-family="sans-serif">'
        f"{_top(series):g}</text></svg>"
    )
    return "".join(parts).encode()


def chart_png(series: Series) -> bytes:
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=16)
    small = ImageFont.load_default(size=10)
    draw.text((W / 2, 20), series.title, fill="black", font=font, anchor="mm")
    draw.line([(AXIS, H - PAD), (W - PAD, H - PAD)], fill="black")
    step = max(1, len(series.labels) // 12)
    for i, ((x, y, w, h), label, value) in enumerate(zip(_bars(series), series.labels, series.values, strict=True)):
        if value is None:
            # Nothing to measure (nobody was due): a grey band marked "no schedule", not a 0 % bar.
            draw.rectangle([x, PAD, x + w, H - PAD], fill=NO_VALUE_FILL)
            if w >= 60:  # narrower bands share the legend instead
                draw.text((x + w / 2, H / 2), NO_SCHEDULE, fill=(102, 102, 102), font=small, anchor="mm")
        elif h > 0:
            draw.rectangle([x, y, x + w, H - PAD], fill=(43, 108, 176))
        if i % step == 0:
            draw.text((x + w / 2, H - PAD + 12), label, fill="black", font=small, anchor="mm")
    if None in series.values:
        draw.rectangle([W - PAD - 110, PAD - 20, W - PAD - 100, PAD - 10], fill=NO_VALUE_FILL, outline=(153, 153, 153))
        draw.text((W - PAD - 95, PAD - 15), NO_SCHEDULE, fill="black", font=small, anchor="lm")
    draw.text((AXIS - 8, PAD), f"{_top(series):g}", fill="black", font=small, anchor="rm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def attendance_sentences(lines: list[AttendanceLine]) -> list[str]:
    """Workdays and days without a schedule, told apart: presence on a day nobody scheduled is
    never set against "workdays due" (it would read "2 days present of 0 workdays due")."""
    summaries = [x.summary for x in lines]
    due = sum(x.workdays for x in summaries)
    out = []
    if due:
        present, late, absent = (sum(getattr(x, f) for x in summaries) for f in ("present", "late", "absent"))
        out.append(f"Attendance: {present} days present of {due} workdays due; {late} late, {absent} absent")
    else:
        out.append("Attendance: no workdays scheduled")
    unscheduled = [x for x in summaries if x.unscheduled_days]
    if unscheduled:
        came = sum(x.unscheduled_present for x in unscheduled)
        out.append(f"People without a schedule: {len(unscheduled)}; present on {came} days (not workdays: no rate)")
    return out


def summary_pdf(s: Summary) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Gatehouse summary {s.first} to {s.last}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    for line in (
        f"Entries through the site gates: {s.entries}",
        f"Denied scans: {s.denied}",
        f"Visitors checked in: {s.visitors}",
        *attendance_sentences(s.attendance_lines),
        "Anomalies: " + (", ".join(f"{k} {v}" for k, v in sorted(s.anomalies.items())) or "none"),
    ):
        pdf.cell(0, 7, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("helvetica", "B", 12)
    pdf.cell(0, 8, "Latest anomalies", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    for at, kind, message in s.anomaly_samples:
        pdf.multi_cell(0, 5, _latin1(f"{at:%Y-%m-%d %H:%M}  {kind}: {message}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --- scheduled summaries (resolvers/attendance/summaries.py), rendered from their kept figures ---


def _by_name(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def scheduled_title(s: Stored) -> str:
    if s.kind == DAILY:
        return f"Gatehouse daily summary {s.first}"
    return f"Gatehouse weekly summary {s.first} to {s.last}"


def scheduled_lines(s: Stored) -> list[str]:
    f = s.figures
    return [
        f"Passages (granted): {f.passages}",
        f"Denials: {f.denials_total}" + (f" ({_by_name(f.denials)})" if f.denials else ""),
        f"Visitors checked in: {f.visitors}",
        f"Stock in: {f.stock_in} units; stock out: {f.stock_out} units",
        f"Anomalies: {f.anomalies_total}" + (f" ({_by_name(f.anomalies)})" if f.anomalies else ""),
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
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(scheduled_title(s)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    produced = s.produced_at.astimezone(tz)
    pdf.cell(0, 6, _latin1(f"Produced {produced:%Y-%m-%d %H:%M} ({tz.key})"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("helvetica", "", 11)
    for line in scheduled_lines(s):
        pdf.cell(0, 7, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
