"""Scheduled summaries (POLICY 6.2 "regular summaries", 定期匯總; issue 12 item 13).

On a real server whose clock the test moves: a day's passages, denials, a visitor, a stock
issue and the anomaly they raise; past the site's midnight the daily summary appears (made by
the server's upkeep, not asked for), with those figures; past the week's end the weekly one,
whose figures are the sum of its days'. Both download as PDF and CSV for the readers of
site-wide reports, and for nobody else. The once-per-period rule (UNIQUE (kind, period_start),
insert-or-skip) is also checked in-process, two producers racing on one database.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pypdfium2 as pdfium
import pytest

from api.demo import make_prc_id
from resolvers.attendance import summaries
from resolvers.core import db
from resolvers.core.models import ScheduledSummary
from resolvers.runtime import Runtime
from tests.harness import FreshPass, Gate, GraphQLClient, Site, World, error_codes, eventually, http_client

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
LOBBY_IN, LOBBY_OUT = "Lobby turnstile in", "Lobby turnstile out"

SUMMARIES = """
query($k: SummaryKind, $n: Int = 100, $a: String) {
  scheduledSummaries(kind: $k, first: $n, after: $a) {
    edges { node { id kind periodStart periodEnd producedAt passages denials denialsByReason { name count }
                   visitors stockIn stockOut anomalies anomaliesByKind { name count } pdfPath csvPath } }
    pageInfo { hasNextPage endCursor }
  }
}"""
ALERTS = "query($s:DateTime){alerts(first:100,since:$s){edges{node{at kind}}}}"
EVENTS = "{gateEvents(first:100){edges{node{at decision reason}}}}"
INVITE = """
mutation($i: InviteVisitorInput!) { inviteVisitor(input: $i) { visit { id inviteCode } errors { code message } } }"""
REGISTER = """
mutation($c: String!, $i: VisitorDetailsInput!) {
  completeVisitorRegistration(inviteCode: $c, input: $i) { visit { id status } errors { code message } }
}"""
APPROVE_VISIT = "mutation($id: ID!) { approveVisit(id: $id) { visit { status } errors { code message } } }"
CHECK_IN = """
mutation($id: ID!, $l: String!) { checkInVisitor(id: $id, idNumberLast4: $l) { visit { status } errors { code } } }"""
REQUISITION = """
mutation($item: ID!, $q: Int!) {
  requestRequisition(itemId: $item, quantity: $q, purpose: "printing") { request { id } errors { code message } }
}"""
APPROVE_ITEM = "mutation($id: ID!) { approveItemRequest(id: $id) { request { status } errors { code message } } }"
ISSUE = """
mutation($id: ID!, $loc: ID!) {
  issueRequisition(requestId: $id, locationId: $loc) { request { status } errors { code } }
}"""


def local(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=TZ)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def listed(client: GraphQLClient, kind: str | None) -> list[dict[str, Any]]:
    data = (await client.ok(SUMMARIES, {"k": kind}))["scheduledSummaries"]
    assert data["pageInfo"]["hasNextPage"] is False
    return [edge["node"] for edge in data["edges"]]


async def wait_for_summary(client: GraphQLClient, kind: str, start: date) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def there() -> bool:
        found[:] = [s for s in await listed(client, kind) if s["periodStart"] == start.isoformat()]
        return bool(found)

    await eventually(there, 30, f"the {kind} summary of {start}")
    (summary,) = found
    return summary


async def get(world: World, path: str, username: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {world.demo.tokens[username]}"} if username else {}
    async with http_client(timeout=60) as client:
        return await client.get(world.server.http + path, headers=headers)


def pdf_text(body: bytes) -> str:
    pdf = pdfium.PdfDocument(body)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf)))
    finally:
        pdf.close()


# --- what the test does on its day ------------------------------------------------------------


async def visitor_checks_in(world: World, now: datetime) -> None:
    alice, guard = world.client("alice"), world.client("guard")
    invited = await alice.ok(
        INVITE,
        {
            "i": {
                "visitorName": "Vera Visitor",
                "phone": "+8613900000001",
                "purpose": "design review",
                "expectedStart": now.isoformat(),
                "expectedEnd": (now + timedelta(hours=2)).isoformat(),
                "zoneIds": [world.ids.zones["Engineering office"]],
            }
        },
    )
    assert invited["inviteVisitor"]["errors"] == [], invited
    visit = invited["inviteVisitor"]["visit"]
    id_number = make_prc_id("310101", "19900202", "555")
    registered = await world.client(None).ok(
        REGISTER, {"c": visit["inviteCode"], "i": {"idNumber": id_number, "gender": "FEMALE"}}
    )
    assert registered["completeVisitorRegistration"]["errors"] == [], registered
    approved = await alice.ok(APPROVE_VISIT, {"id": visit["id"]})
    assert approved["approveVisit"]["errors"] == [], approved
    checked = await guard.ok(CHECK_IN, {"id": visit["id"], "l": id_number[-4:]})
    assert checked["checkInVisitor"] == {"visit": {"status": "CHECKED_IN"}, "errors": []}


async def paper_is_issued(world: World, quantity: int) -> None:
    wendy = world.client("wendy")
    items = (await wendy.ok("{ items(first: 100) { edges { node { id name } } } }"))["items"]["edges"]
    paper = next(e["node"]["id"] for e in items if e["node"]["name"] == "A4 paper")
    locations = (await wendy.ok("{ stockLocations(first: 100) { edges { node { id } } } }"))["stockLocations"]
    requested = await world.client("alice").ok(REQUISITION, {"item": paper, "q": quantity})
    assert requested["requestRequisition"]["errors"] == [], requested
    rid = requested["requestRequisition"]["request"]["id"]
    approved = await world.client("carol").ok(APPROVE_ITEM, {"id": rid})  # Alice's department head
    assert approved["approveItemRequest"]["request"]["status"] == "APPROVED", approved
    issued = await wendy.ok(ISSUE, {"id": rid, "loc": locations["edges"][0]["node"]["id"]})
    assert issued["issueRequisition"] == {"request": {"status": "FULFILLED"}, "errors": []}


async def test_daily_and_weekly_summaries_are_produced_kept_and_downloaded(sqlite_site: Site) -> None:
    server = await asyncio.to_thread(
        sqlite_site.start_server, GATEHOUSE_TIME_ZONE=TZ_NAME, GATEHOUSE_UPKEEP_SECONDS="1"
    )
    world = World(sqlite_site, server)
    hr, security = world.client("hr"), world.client("security")

    # A day of the site's own, two days ahead: nothing of the template's making falls in it.
    day = server.clock.now().astimezone(TZ).date() + timedelta(days=2)
    server.clock.advance_to(local(day, 10))
    alice = FreshPass()
    await alice.phone.bind(world.client("alice"))
    gate = await Gate(server, world.demo.device_id, world.demo.device_secret).connect()
    try:
        for gate_name in (LOBBY_IN, LOBBY_OUT):
            reply = await gate.scan(world.gate(gate_name), await alice.fresh())
            assert reply["granted"] is True, reply
        for _ in range(3):  # a forged pass, three times: three denials and an anomaly
            reply = await gate.scan(world.gate(LOBBY_IN), alice.forged())
            assert (reply["granted"], reply["reason"]) == (False, "bad_signature"), reply
    finally:
        await gate.close()
    await visitor_checks_in(world, server.clock.now())
    await paper_is_issued(world, 5)

    async def raised() -> bool:
        found = (await security.ok(ALERTS, {"s": local(day).isoformat()}))["alerts"]["edges"]
        return any(e["node"]["kind"] == "repeated_denials_credential" for e in found)

    await eventually(raised, 10, "the repeated-denials alert")

    # Past the site's midnight the upkeep makes the day's summary, unasked.
    next_day = day + timedelta(days=1)
    assert not [s for s in await listed(hr, "DAILY") if s["periodStart"] == day.isoformat()]
    server.clock.advance_to(local(next_day, 0, 0, 5))
    daily = await wait_for_summary(hr, "DAILY", day)

    # Its figures are the day's events, as the event log and the alerts list show them.
    start, end = local(day), local(next_day)
    events = [e["node"] for e in (await security.ok(EVENTS))["gateEvents"]["edges"]]
    todays = [e for e in events if start <= instant(e["at"]) < end]
    denied = Counter(e["reason"] for e in todays if e["decision"] == "DENIED")
    alerts = [e["node"] for e in (await security.ok(ALERTS, {"s": start.isoformat()}))["alerts"]["edges"]]
    anomalies = Counter(a["kind"] for a in alerts if instant(a["at"]) < end)
    assert denied == {"bad_signature": 3}
    assert anomalies["repeated_denials_credential"] == 1
    assert {k: v for k, v in daily.items() if k not in ("id", "producedAt", "pdfPath", "csvPath")} == {
        "kind": "DAILY",
        "periodStart": day.isoformat(),
        "periodEnd": day.isoformat(),
        "passages": 2,
        "denials": 3,
        "denialsByReason": [{"name": "bad_signature", "count": 3}],
        "visitors": 1,
        "stockIn": 0,
        "stockOut": 5,
        "anomalies": sum(anomalies.values()),
        "anomaliesByKind": [{"name": k, "count": n} for k, n in sorted(anomalies.items())],
    }
    assert sum(e["decision"] == "GRANTED" for e in todays) == 2
    produced = instant(daily["producedAt"])
    assert end <= produced < end + timedelta(seconds=30)  # shortly after the day ended
    assert daily["pdfPath"] == f"/reports/scheduled/{daily['id']}.pdf"

    # Downloads: the PDF's text and the CSV carry the same figures.
    for reader in ("hr", "admin", "eve", "audrey", "security"):
        r = await get(world, daily["pdfPath"], reader)
        assert (r.status_code, r.headers["content-type"]) == (200, "application/pdf"), (reader, r.text)
    text = pdf_text(r.content)
    for line in (
        f"Gatehouse daily summary {day}",
        "Passages (granted): 2",
        "Denials: 3 (bad_signature 3)",
        "Visitors checked in: 1",
        "Stock in: 0 units; stock out: 5 units",
        f"Anomalies: {sum(anomalies.values())} (",
        "repeated_denials_credential 1",
    ):
        assert line in text, (line, text)
    r = await get(world, daily["csvPath"], "hr")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/csv; charset=utf-8")
    assert r.headers["content-disposition"] == f'attachment; filename="daily-summary-{day}.csv"'
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["figure", "detail", "value"]
    assert ["passages", "", "2"] in rows
    assert ["denials", "", "3"] in rows and ["denials", "bad_signature", "3"] in rows
    assert ["visitors", "", "1"] in rows
    assert ["stock in", "", "0"] in rows and ["stock out", "", "5"] in rows
    assert ["anomalies", "repeated_denials_credential", "1"] in rows
    assert ["period start", "", day.isoformat()] in rows

    # Only the readers of site-wide reports: not an employee, a guard, a department head.
    for other in ("alice", "guard", "carol", "wendy"):
        assert error_codes(await world.client(other)(SUMMARIES, {"k": None})) == ["FORBIDDEN"], other
        for path in (daily["pdfPath"], daily["csvPath"]):
            r = await get(world, path, other)
            assert (r.status_code, r.json()["error"]) == (403, "FORBIDDEN"), (other, path)
    assert error_codes(await world.client(None)(SUMMARIES, {"k": None})) == ["UNAUTHENTICATED"]
    assert (await get(world, daily["pdfPath"], None)).status_code == 401
    assert (await get(world, "/reports/scheduled/999999.pdf", "hr")).status_code == 404
    assert (await get(world, f"/reports/scheduled/{daily['id']}.xlsx", "hr")).status_code == 404

    # Past the week's end (Sunday, site time), the weekly one: the sum of its days, each of
    # which has its daily summary (the days the clock skipped were caught up).
    monday = day - timedelta(days=day.weekday())
    next_monday = monday + timedelta(days=7)
    server.clock.advance_to(local(next_monday, 0, 0, 5))
    weekly = await wait_for_summary(hr, "WEEKLY", monday)
    assert (weekly["periodStart"], weekly["periodEnd"]) == (
        monday.isoformat(),
        (next_monday - timedelta(1)).isoformat(),
    )
    dailies = [s for s in await listed(hr, "DAILY") if monday.isoformat() <= s["periodStart"] < next_monday.isoformat()]
    made_days = sorted(s["periodStart"] for s in dailies)
    assert made_days[-1] == (next_monday - timedelta(days=1)).isoformat()
    assert day.isoformat() in made_days
    assert len(made_days) == len(set(made_days))  # one per day
    for figure in ("passages", "denials", "visitors", "stockIn", "stockOut", "anomalies"):
        assert weekly[figure] == sum(s[figure] for s in dailies), figure
    assert weekly["passages"] >= 2 and weekly["stockOut"] >= 5
    text = pdf_text((await get(world, weekly["pdfPath"], "eve")).content)
    assert f"Gatehouse weekly summary {monday} to {next_monday - timedelta(days=1)}" in text
    assert f"Passages (granted): {weekly['passages']}" in text

    # Listed newest period first, a page at a time; each period once, however often upkeep ran.
    everything = await listed(hr, None)
    assert [s["id"] for s in everything] == [
        s["id"] for s in sorted(everything, key=lambda s: (s["periodStart"], int(s["id"])), reverse=True)
    ]
    assert len({(s["kind"], s["periodStart"]) for s in everything}) == len(everything)
    paged: list[str] = []
    after = None
    while True:
        page = (await hr.ok(SUMMARIES, {"k": None, "n": 2, "a": after}))["scheduledSummaries"]
        paged += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == [s["id"] for s in everything]
    assert [s["kind"] for s in await listed(hr, "WEEKLY")] == ["WEEKLY"] * len(await listed(hr, "WEEKLY"))
    for bogus in ("bogus", base64.urlsafe_b64encode(b"summary:0.1").decode()):
        assert error_codes(await hr(SUMMARIES, {"k": None, "a": bogus})) == ["BAD_USER_INPUT"], bogus


# --- in-process: periods, and once per period -------------------------------------------------


def test_due_periods_are_the_days_and_iso_weeks_before_today() -> None:
    wednesday = date(2026, 12, 2)
    days = summaries.due_periods(summaries.DAILY, wednesday)
    assert days[-1] == (date(2026, 12, 1), date(2026, 12, 1))
    assert len(days) == summaries.CATCH_UP_DAYS and days[0] == (date(2026, 11, 25), date(2026, 11, 25))
    weeks = summaries.due_periods(summaries.WEEKLY, wednesday)
    assert weeks[-1] == (date(2026, 11, 23), date(2026, 11, 29))  # Monday to Sunday, the week before
    assert len(weeks) == summaries.CATCH_UP_WEEKS
    assert all(start.isoweekday() == 1 and (end - start).days == 6 for start, end in weeks)
    # On a Monday the week that just ended is due.
    assert summaries.due_periods(summaries.WEEKLY, date(2026, 11, 30))[-1] == (date(2026, 11, 23), date(2026, 11, 29))


# A producer looks up its notification channels (README "Notifications"): none configured here.
NO_CHANNELS = {"email": None, "webhooks": None, "sms": None, "webpush": None}


async def test_two_producers_racing_make_one_summary(tmp_path: Path) -> None:
    """Two server processes' upkeep finding the same period owed: one row, the other skips."""
    await db.start(f"sqlite://{tmp_path / 'race.sqlite3'}")
    try:
        rt = cast(Runtime, SimpleNamespace(settings=SimpleNamespace(tz=TZ, **NO_CHANNELS)))
        first = date(2026, 11, 23)
        made = await asyncio.gather(*(summaries.produce(rt, "DAILY", first, first) for _ in range(4)))
        assert sum(row is not None for row in made) == 1
        assert await ScheduledSummary.filter(kind="DAILY", period_start=first).count() == 1
        assert await summaries.produce(rt, "DAILY", first, first) is None  # and later runs skip it
        weekly = await summaries.produce(rt, "WEEKLY", first, first + timedelta(days=6))
        assert weekly is not None  # the same start, another kind
    finally:
        await db.close()


async def test_a_lost_race_after_the_check_is_skipped_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other process inserts between this one's check and its insert: the UNIQUE pair
    refuses the second row and produce() skips."""
    await db.start(f"sqlite://{tmp_path / 'race.sqlite3'}")
    try:
        rt = cast(Runtime, SimpleNamespace(settings=SimpleNamespace(tz=TZ, **NO_CHANNELS)))
        first = date(2026, 11, 24)
        real_figures = summaries.figures

        async def slow_figures(rt: Runtime, a: date, b: date) -> summaries.Figures:
            # Meanwhile, "another process" makes the row.
            await ScheduledSummary.create(
                kind="DAILY", period_start=a, period_end=b, figures={}, produced_at=datetime.now(UTC)
            )
            return await real_figures(rt, a, b)

        monkeypatch.setattr(summaries, "figures", slow_figures)
        assert await summaries.produce(rt, "DAILY", first, first) is None
        assert await ScheduledSummary.filter(kind="DAILY", period_start=first).count() == 1
    finally:
        await db.close()


async def test_two_servers_on_one_postgres_database_make_each_summary_once(postgres_site: Site) -> None:
    """Both processes' upkeep wakes every second and finds the same periods owed: each period
    is made once, and neither process's upkeep is upset by losing the race."""
    env = {"GATEHOUSE_TIME_ZONE": TZ_NAME, "GATEHOUSE_UPKEEP_SECONDS": "1"}
    servers = [await asyncio.to_thread(lambda: postgres_site.start_server(**env)) for _ in range(2)]
    readers = [GraphQLClient(server, demo=postgres_site.demo, as_="hr") for server in servers]
    clock = servers[0].clock
    today = clock.now().astimezone(TZ).date()
    for days_on in (1, 2, 3):  # three midnights, each raced for by both processes
        clock.advance_to(local(today + timedelta(days=days_on), 0, 0, 5))
        ended = today + timedelta(days=days_on - 1)
        for reader in readers:
            await wait_for_summary(reader, "DAILY", ended)
    for reader in readers:
        rows = await listed(reader, None)
        assert len({(s["kind"], s["periodStart"]) for s in rows}) == len(rows)
        days = sorted(s["periodStart"] for s in rows if s["kind"] == "DAILY")
        assert days == [(today + timedelta(days=i)).isoformat() for i in range(3)]


async def test_summaries_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    await db.start(f"sqlite://{tmp_path / 'kept.sqlite3'}")
    try:
        rt = cast(Runtime, SimpleNamespace(settings=SimpleNamespace(tz=TZ, **NO_CHANNELS)))
        today = date(2026, 12, 1)
        kept_days = summaries.RETENTION_DAYS
        for age in (kept_days + 1, kept_days, 1):
            day = today - timedelta(days=age)
            await ScheduledSummary.create(
                kind="DAILY", period_start=day, period_end=day, figures={}, produced_at=datetime.now(UTC)
            )
        assert await summaries.delete_expired(rt, today) == 1
        left = await ScheduledSummary.all().order_by("period_start").values_list("period_start", flat=True)
        assert left == [today - timedelta(days=kept_days), today - timedelta(days=1)]
    finally:
        await db.close()
