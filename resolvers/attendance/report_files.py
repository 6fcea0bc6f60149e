"""Reports as files people open: CSV, XLSX, bar charts (SVG and PNG) and the PDF summary."""

from __future__ import annotations

import csv
import io
from html import escape

from fpdf import FPDF
from openpyxl import Workbook
from PIL import Image, ImageDraw, ImageFont

from resolvers.attendance.reports import AttendanceLine, Series, Summary

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
        ]
        for x in lines
    ]


def _series_rows(series: Series) -> list[list[object]]:
    return [[label, value] for label, value in zip(series.labels, series.values, strict=True)]


def csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        # A cell starting with = + - @ would run as a formula in a spreadsheet: keep it text.
        writer.writerow([f"'{v}" if isinstance(v, str) and v[:1] in "=+-@" else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(title: str, header: list[str], rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append(header)
    for row in rows:
        ws.append([f"'{v}" if isinstance(v, str) and v[:1] in "=+-@" else v for v in row])
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


def _bars(series: Series) -> list[tuple[float, float, float, float]]:
    top = max(series.values, default=0) or 1.0
    n = max(1, len(series.values))
    slot = (W - PAD - AXIS) / n
    out = []
    for i, v in enumerate(series.values):
        h = (H - 2 * PAD) * v / top
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
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#2b6cb0">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
        )
        if i % step == 0:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="{H - PAD + 16}" text-anchor="middle" font-size="10" '
                f'font-family="sans-serif">{escape(label)}</text>'
            )
    parts.append(
        f'<text x="{AXIS - 8}" y="{PAD}" text-anchor="end" font-size="10" font-family="sans-serif">'
        f"{max(series.values, default=0):g}</text></svg>"
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
    for i, ((x, y, w, h), label) in enumerate(zip(_bars(series), series.labels, strict=True)):
        if h > 0:
            draw.rectangle([x, y, x + w, H - PAD], fill=(43, 108, 176))
        if i % step == 0:
            draw.text((x + w / 2, H - PAD + 12), label, fill="black", font=small, anchor="mm")
    draw.text((AXIS - 8, PAD), f"{max(series.values, default=0):g}", fill="black", font=small, anchor="rm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def summary_pdf(s: Summary) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Gatehouse summary {s.first} to {s.last}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    present = sum(x.summary.present for x in s.attendance_lines)
    due = sum(x.summary.workdays for x in s.attendance_lines)
    late = sum(x.summary.late for x in s.attendance_lines)
    absent = sum(x.summary.absent for x in s.attendance_lines)
    for line in (
        f"Entries through the site gates: {s.entries}",
        f"Denied scans: {s.denied}",
        f"Visitors checked in: {s.visitors}",
        f"Attendance: {present} days present of {due} workdays due; {late} late, {absent} absent",
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
