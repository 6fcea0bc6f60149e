"""Attendance without a schedule (POLICY 2.3; issue 12 item 12), through the API.

A new hire whose department has no work schedule comes in on two days. Those days are neither
workdays nor days off: every place a person reads attendance (the report's rows, the CSV/XLSX,
the PDF summary, the attendance-rate chart) shows them as days without a schedule, counted
apart, with no rate: never "2 days present of 0 workdays due" nor 0 %.
"""

from __future__ import annotations

import asyncio
import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pypdfium2 as pdfium
from PIL import Image

from api.demo import make_prc_id
from resolvers.attendance.report_files import ATTENDANCE_COLUMNS
from tests.harness import GraphQLClient, Site, World, http_client

DEPARTMENT = "研发二部"  # a CJK department name, which the files must keep
HIRE = "王小明 Ming Wang"
ID_NUMBER = make_prc_id("110101", "19990909", "777")
LOBBY_IN, LOBBY_OUT = "Lobby turnstile in", "Lobby turnstile out"
BLUE = (43, 108, 176)  # a chart's bar
SVG = "{http://www.w3.org/2000/svg}"

REPORT = (
    "query($f:Date!,$t:Date!,$d:ID){attendanceReport(from:$f,to:$t,departmentId:$d,first:100)"
    "{edges{node{person{id displayName} workdays present extraDays absent unscheduledDays unscheduledPresent"
    " attendanceRate}} pageInfo{hasNextPage}}}"
)
DAYS = "query($p:ID!,$f:Date!,$t:Date!){attendance(personId:$p,from:$f,to:$t){day workday scheduled absent firstIn}}"
MANUAL = (
    "mutation($i:ManualEntryInput!){recordManualEntry(input:$i){event{id decision reason} errors{code message field}}}"
)


def noon_zone(now: datetime) -> str:
    """An IANA zone where it is about noon now: the test's two days never straddle a midnight."""
    offset = 12 - now.hour
    offset = offset if offset >= -12 else offset + 24
    return "Etc/GMT+0" if offset == 0 else f"Etc/GMT{-offset:+d}"


def report_nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    connection = data["attendanceReport"]
    assert connection["pageInfo"]["hasNextPage"] is False
    return [edge["node"] for edge in connection["edges"]]


async def get(world: World, path: str, username: str) -> httpx.Response:
    async with http_client(timeout=60) as client:
        return await client.get(
            world.server.http + path, headers={"Authorization": f"Bearer {world.demo.tokens[username]}"}
        )


async def onboard(hr: GraphQLClient) -> tuple[str, str]:
    """A department with no schedule, and its first employee. Their ids."""
    created = await hr.ok(
        "mutation($i:CreateDepartmentInput!){createDepartment(input:$i){department{id} errors{code message}}}",
        {"i": {"name": DEPARTMENT}},
    )
    assert created["createDepartment"]["errors"] == [], created
    department = created["createDepartment"]["department"]["id"]
    hired = await hr.ok(
        "mutation($i:OnboardEmployeeInput!){onboardEmployee(input:$i){employee{id} errors{code message field}}}",
        {
            "i": {
                "displayName": HIRE,
                "idNumber": ID_NUMBER,
                "phone": "+8613900000777",
                "departmentId": department,
                "position": "工程师",
                "username": "ming",
            }
        },
    )
    assert hired["onboardEmployee"]["errors"] == [], hired
    return department, hired["onboardEmployee"]["employee"]["id"]


async def let_into_the_lobby(world: World, department: str) -> None:
    granted = await world.client("security").ok(
        "mutation($i:GrantAccessInput!){grantAccess(input:$i){errors{code message}}}",
        {"i": {"zoneId": world.ids.zones["Lobby"], "departmentId": department}},
    )
    assert granted["grantAccess"]["errors"] == [], granted


async def came_in(world: World, person: str) -> None:
    """The guard registers an entry and an exit (the new hire has no phone pass yet)."""
    guard = world.client("guard")
    for gate, direction in ((LOBBY_IN, "IN"), (LOBBY_OUT, "OUT")):
        data = await guard.ok(
            MANUAL,
            {
                "i": {
                    "personId": person,
                    "gateId": world.gate(gate),
                    "direction": direction,
                    "documentType": "ID_CARD",
                    "documentNumberLast4": ID_NUMBER[-4:],
                }
            },
        )
        assert data["recordManualEntry"]["errors"] == [], data
        assert data["recordManualEntry"]["event"]["decision"] == "GRANTED", data


async def test_a_new_hire_without_a_schedule(sqlite_site: Site) -> None:
    tz_name = noon_zone(datetime.now(UTC))
    server = await asyncio.to_thread(sqlite_site.start_server, GATEHOUSE_TIME_ZONE=tz_name)
    world = World(sqlite_site, server)
    tz = ZoneInfo(tz_name)
    hr = world.client("hr")
    department, hire = await onboard(hr)
    await let_into_the_lobby(world, department)

    # Scanned in (by the guard) today, and again a day later on the servers' clock.
    first_day: date = datetime.now(tz).date()
    await came_in(world, hire)
    server.clock.advance(86400)
    await came_in(world, hire)
    last_day = first_day + timedelta(days=2)  # a third day, with no visit
    period = {"f": first_day.isoformat(), "t": last_day.isoformat()}
    span = f"from={first_day}&to={last_day}"

    # The report's row: no workday, two days present without a schedule, no rate.
    (line,) = report_nodes(await hr.ok(REPORT, {**period, "d": department}))
    assert line == {
        "person": {"id": hire, "displayName": HIRE},
        "workdays": 0,
        "present": 0,
        "extraDays": 0,
        "absent": 0,
        "unscheduledDays": 3,
        "unscheduledPresent": 2,
        "attendanceRate": None,
    }
    days = (await hr.ok(DAYS, {"p": hire, **period}))["attendance"]
    assert [(d["day"], d["workday"], d["scheduled"], d["absent"]) for d in days] == [
        (first_day.isoformat(), False, False, False),
        ((first_day + timedelta(days=1)).isoformat(), False, False, False),
    ]

    # The CSV and XLSX say the same, in columns of their own, and keep the CJK names.
    r = await get(world, f"/reports/attendance.csv?{span}&departmentId={department}", "hr")
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ATTENDANCE_COLUMNS
    assert rows[0][-3:] == ["unscheduled days", "present on unscheduled days", "attendance rate %"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["name"], row["department"]) == (HIRE, DEPARTMENT)
    assert (row["workdays"], row["present"], row["absent"]) == ("0", "0", "0")
    assert (row["unscheduled days"], row["present on unscheduled days"]) == ("3", "2")
    assert row["attendance rate %"] == "no schedule"
    r = await get(world, f"/reports/attendance.xlsx?{span}&departmentId={department}", "hr")
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    cells = [list(x) for x in sheet.iter_rows(values_only=True)]
    xrow = dict(zip(cells[0], cells[1], strict=True))
    assert (xrow["name"], xrow["department"], xrow["workdays"]) == (HIRE, DEPARTMENT, 0)
    assert (xrow["unscheduled days"], xrow["present on unscheduled days"]) == (3, 2)
    assert xrow["attendance rate %"] == "no schedule"

    # The PDF summary: nobody in the demo has a schedule, so no "of 0 workdays due" anywhere.
    everyone = report_nodes(await hr.ok(REPORT, period))
    unscheduled_people = [x for x in everyone if x["unscheduledDays"]]
    assert len(unscheduled_people) == len(everyone)
    r = await get(world, f"/reports/summary.pdf?{span}", "admin")
    assert r.status_code == 200
    pdf = pdfium.PdfDocument(r.content)
    text = pdf[0].get_textpage().get_text_bounded()
    pdf.close()
    assert "of 0 workdays" not in text
    assert "Attendance: no workdays scheduled" in text
    assert f"People without a schedule: {len(everyone)}; present on 2 days (not workdays: no rate)" in text

    # The attendance-rate chart of the department: "no schedule", not 0 %.
    r = await get(world, f"/reports/attendance-rate.csv?{span}&departmentId={department}", "hr")
    assert list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:] == [
        [(first_day + timedelta(days=i)).isoformat(), "no schedule"] for i in range(3)
    ]
    r = await get(world, f"/reports/attendance-rate.png?{span}&departmentId={department}", "hr")
    assert (r.status_code, r.headers["content-type"]) == (200, "image/png")
    image = Image.open(io.BytesIO(r.content))
    assert (image.format, image.size, image.mode) == ("PNG", (900, 420), "RGB")
    colours = {colour for _, colour in image.getcolors(900 * 420) or []}
    assert BLUE not in colours  # no 0 % (nor any) bar
    assert (238, 238, 238) in colours  # the "no schedule" bands
    r = await get(world, f"/reports/attendance-rate.svg?{span}&departmentId={department}", "hr")
    svg = ET.fromstring(r.content)
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert titles == [f"{first_day + timedelta(days=i)}: no schedule" for i in range(3)]

    # Once Engineering has a schedule, its people have workdays and a rate (0.0 is a rate).
    schedule = await hr.ok(
        "mutation($i:WorkScheduleInput!){createWorkSchedule(input:$i){schedule{id} errors{code}}}",
        {"i": {"name": "Every day", "weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "09:00", "end": "18:00"}},
    )
    assigned = await hr.ok(
        "mutation($s:ID,$d:ID){assignWorkSchedule(scheduleId:$s,departmentId:$d){ok errors{code}}}",
        {"s": schedule["createWorkSchedule"]["schedule"]["id"], "d": world.ids.departments["Engineering"]},
    )
    assert assigned["assignWorkSchedule"]["ok"] is True
    engineering = report_nodes(await hr.ok(REPORT, {**period, "d": world.ids.departments["Engineering"]}))
    assert engineering and all(
        (x["workdays"], x["absent"], x["unscheduledDays"], x["attendanceRate"]) == (3, 3, 0, 0.0) for x in engineering
    )
    r = await get(world, f"/reports/summary.pdf?{span}", "admin")
    pdf = pdfium.PdfDocument(r.content)
    text = pdf[0].get_textpage().get_text_bounded()
    pdf.close()
    due = 3 * len(engineering)
    assert f"Attendance: 0 days present of {due} workdays due; 0 late, {due} absent" in text
    assert f"People without a schedule: {len(everyone) - len(engineering)}; present on 2 days" in text
