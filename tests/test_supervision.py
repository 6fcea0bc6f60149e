"""Supervision (issue 18, POLICY 7): the team, a spot inspection, findings, rectification notices,
escalation, periodic schedules and the report, through the public API of one real server.

The findings come from a source the test feeds (tests/supervision_facts.py, imported by the
server): two facts about 研发部's people; the inspector confirms one and dismisses the other.
A notice goes to 研发部, whose head 李娜 answers it with a file; it is sent back once, then
verified. A second notice is left past its deadline (the server's clock is moved): the leading
worker's upkeep escalates it once and the executives see it. A monthly schedule opens its
inspection when due. The report PDF names everyone, in every script.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from tests.harness import SiteTemplate, World, error_codes, eventually, http_client

TEAM = "{ supervisionTeam { person { username displayName } why } }"
APPOINT = """
mutation($p: ID!, $m: Boolean!) {
  setSupervisionTeamMember(personId: $p, member: $m) { person { roles } errors { code } }
}"""
SPOT = """
mutation($i: SpotInspectionInput!) {
  startSpotInspection(input: $i) {
    inspection { id kind status areas sample lead { displayName } checklist { id area text result } }
    errors { code field message }
  }
}"""
PROPOSE = """
mutation($id: ID!) {
  proposeFindings(inspectionId: $id) { findings { id key status summary department { name } } errors { code } }
}"""
CONFIRM = "mutation($id: ID!) { confirmFinding(id: $id) { finding { id status } errors { code } } }"
DISMISS = """
mutation($id: ID!, $r: String!) {
  dismissFinding(id: $id, reason: $r) { finding { id status reason } errors { code field } }
}"""
ADD = """
mutation($i: AddFindingInput!) { addFinding(input: $i) { finding { id status source } errors { code field } } }"""
CHECK = """
mutation($id: ID!, $r: String!, $n: String!) {
  answerChecklistItem(itemId: $id, result: $r, note: $n) { item { result note } errors { code } }
}"""
ISSUE = """
mutation($i: IssueNoticeInput!) {
  issueRectificationNotice(input: $i) { notice { id status deadline department { name } } errors { code field } }
}"""
ANSWER = """
mutation($id: ID!, $t: String!, $f: [NoticeFileInput!]) {
  answerRectificationNotice(id: $id, text: $t, files: $f) {
    notice { id status answer answeredBy { displayName } files { name contentType size contentBase64 } }
    errors { code field }
  }
}"""
VERIFY = "mutation($id: ID!) { verifyRectificationNotice(id: $id) { notice { status } errors { code } } }"
RETURN = """
mutation($id: ID!, $r: String!) {
  returnRectificationNotice(id: $id, reason: $r) { notice { status returnReason } errors { code } }
}"""
MINE = "{ myRectificationNotices { id status requirement } }"
NOTICE = "query($id: ID!) { rectificationNotice(id: $id) { id status } }"
REPORT = "mutation($id: ID!) { reportInspection(id: $id) { inspection { status reportPath } errors { code } } }"
EXEC_VIEW = """
{ executiveSupervisionView {
    departments { department { name } open overdue escalated verified }
    escalated { id escalatedAt overdue }
    reportedInspections { id title }
} }"""
INSPECTIONS = "query($k: InspectionKind) { inspections(kind: $k) { id kind status title periodStart periodEnd } }"
SCHEDULE = """
mutation($i: InspectionScheduleInput!) {
  addInspectionSchedule(input: $i) { schedule { id nextDue } errors { code } }
}"""
AUDIT = "query($a: String!) { auditLog(first: 50, action: $a) { edges { node { action targetId outcome } } } }"
SET_HEAD = """
mutation($d: ID!, $h: ID) { setDepartmentHead(departmentId: $d, headId: $h) { department { id } errors { code } } }"""
RND = "研发部"


@pytest.fixture(scope="module")
def world(demo_template: SiteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("supervision")
    site = demo_template.sqlite_copy(tmp)
    facts = tmp / "facts.json"
    site.start_server(
        GATEHOUSE_TEST_IMPORTS="tests.supervision_facts",
        GATEHOUSE_TEST_FACTS_FILE=str(facts),
        GATEHOUSE_UPKEEP_SECONDS="1",
    )
    try:
        yield World(site)
    finally:
        site.let_go()


def pdf_text(body: bytes) -> str:
    pdf = pdfium.PdfDocument(body)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf)))
    finally:
        pdf.close()


async def audited(world: World, action: str) -> list[dict[str, Any]]:
    data = await world.client("admin").ok(AUDIT, {"a": action})
    return [e["node"] for e in data["auditLog"]["edges"]]


async def test_the_team_is_visible_and_inspections_are_not_for_everyone(world: World) -> None:
    for reader in ("eve", "admin", "sophie"):
        team = (await world.client(reader).ok(TEAM))["supervisionTeam"]
        assert {"username": "sophie", "displayName": "苏菲"} in [m["person"] for m in team]
    assert (await world.client("marta").ok(INSPECTIONS, {"k": None}))["inspections"] == []

    # The admin appoints to the team (HR may not), and takes off it; both audited.
    zhangwei = world.ids.people["zhangwei"]
    assert error_codes(await world.client("hr")(APPOINT, {"p": zhangwei, "m": True})) == ["FORBIDDEN"]
    admin = world.client("admin")
    assert not (await admin.ok(APPOINT, {"p": zhangwei, "m": True}))["setSupervisionTeamMember"]["errors"]
    team = (await admin.ok(TEAM))["supervisionTeam"]
    assert {"username": "zhangwei", "displayName": "張偉"} in [m["person"] for m in team]
    again = (await admin.ok(APPOINT, {"p": zhangwei, "m": True}))["setSupervisionTeamMember"]["errors"]
    assert [e["code"] for e in again] == ["CONFLICT"]
    assert not (await admin.ok(APPOINT, {"p": zhangwei, "m": False}))["setSupervisionTeamMember"]["errors"]
    team = (await admin.ok(TEAM))["supervisionTeam"]
    assert "zhangwei" not in [m["person"]["username"] for m in team]
    outcomes = [e["outcome"] for e in await audited(world, "setSupervisionTeamMember")]
    assert outcomes == ["ok", "refused:CONFLICT", "ok", "error:FORBIDDEN"]  # newest first
    # What the team reads (POLICY 7.1-7.2): the supervisor the gate events and people, as auditors
    # do; finance the item movements (purchasing, requisition, borrowing, scrapping).
    movements, events = (
        "{ itemMovements(first: 1) { edges { node { id } } } }",
        "{ gateEvents(first: 1) { edges { node { id } } } }",
    )
    await world.client("marta").ok(movements)
    await world.client("sophie").ok(events)
    people = (await world.client("sophie").ok("{ people(first: 100) { edges { node { username } } } }"))["people"]
    assert "lina" in [e["node"]["username"] for e in people["edges"]]
    assert error_codes(await world.client("alice")(movements)) == ["FORBIDDEN"]
    assert error_codes(await world.client("marta")(events)) == ["FORBIDDEN"]
    for refused in ("alice", "carol"):
        assert error_codes(await world.client(refused)(INSPECTIONS, {"k": None})) == ["FORBIDDEN"], refused
        assert error_codes(await world.client(refused)(SPOT, {"i": {"title": "x", "areas": ["entry"]}})) == [
            "FORBIDDEN"
        ]


async def test_a_spot_inspection_from_findings_to_verified_notice_escalation_and_report(
    world: World, tmp_path: Path
) -> None:
    sophie, lina, hr = world.client("sophie"), world.client("lina"), world.client("hr")
    rnd = world.ids.departments[RND]
    people = world.ids.people
    assert not (await hr.ok(SET_HEAD, {"d": rnd, "h": people["lina"]}))["setDepartmentHead"]["errors"]

    now = world.server.clock.now()
    facts = [
        {
            "key": "1",
            "at": (now - timedelta(hours=3)).isoformat(),
            "summary": "張偉 let a visitor through unscanned",
            "departmentId": int(rnd),
            "personId": int(people["zhangwei"]),
        },
        {
            "key": "2",
            "at": (now - timedelta(hours=2)).isoformat(),
            "summary": "Zoë Ångström's pass used twice",
            "departmentId": int(rnd),
            "personId": int(people["zoe"]),
        },
        # Out of the sample: another department's fact is not put to this inspection.
        {
            "key": "3",
            "at": (now - timedelta(hours=1)).isoformat(),
            "summary": "Bob Wang tailgated",
            "departmentId": int(world.ids.departments["Finance"]),
        },
    ]
    facts_file = Path(world.server.env["GATEHOUSE_TEST_FACTS_FILE"])
    await asyncio.to_thread(facts_file.write_text, json.dumps(facts), encoding="utf-8")

    started = (
        await sophie.ok(
            SPOT,
            {
                "i": {
                    "title": "研发部 spot check",
                    "areas": ["entry"],
                    "sample": "研发部's people, this week",
                    "sampleDepartmentIds": [rnd],
                    "days": 7,
                    "memberIds": [people["marta"]],
                }
            },
        )
    )["startSpotInspection"]
    assert not started["errors"], started
    inspection = started["inspection"]
    assert (inspection["kind"], inspection["status"], inspection["lead"]["displayName"]) == (
        "SPOT",
        "IN_PROGRESS",
        "苏菲",
    )
    texts = [c["text"] for c in inspection["checklist"]]
    assert {c["area"] for c in inspection["checklist"]} == {"entry"}
    assert "Checked in the data: Facts the test wrote down" in texts
    # Finance joins this one: its controller reads it (and only the inspections she is on).
    assert [i["id"] for i in (await world.client("marta").ok(INSPECTIONS, {"k": None}))["inspections"]] == [
        inspection["id"]
    ]
    team = (await sophie.ok(TEAM))["supervisionTeam"]
    assert f"on inspection #{inspection['id']}" in next(m for m in team if m["person"]["username"] == "marta")["why"]

    proposed = (await sophie.ok(PROPOSE, {"id": inspection["id"]}))["proposeFindings"]["findings"]
    assert [(f["key"], f["status"], f["department"]["name"]) for f in proposed] == [
        ("test_fact:1", "PROPOSED", RND),
        ("test_fact:2", "PROPOSED", RND),
    ]
    assert (await sophie.ok(PROPOSE, {"id": inspection["id"]}))["proposeFindings"]["findings"] == []
    first, second = proposed
    assert (await sophie.ok(CONFIRM, {"id": first["id"]}))["confirmFinding"]["finding"]["status"] == "CONFIRMED"
    blank = (await sophie.ok(DISMISS, {"id": second["id"], "r": "  "}))["dismissFinding"]
    assert blank["errors"] == [{"code": "INVALID", "field": "reason"}]
    dismissed = await sophie.ok(DISMISS, {"id": second["id"], "r": "a colleague's pass, reported lost"})
    assert dismissed["dismissFinding"]["finding"]["status"] == "DISMISSED"
    by_hand = (
        await sophie.ok(
            ADD,
            {
                "i": {
                    "inspectionId": inspection["id"],
                    "area": "entry",
                    "summary": "The 研发部 door was propped open",
                    "departmentId": rnd,
                }
            },
        )
    )["addFinding"]["finding"]
    assert (by_hand["status"], by_hand["source"]) == ("CONFIRMED", "manual")
    item = inspection["checklist"][0]
    checked = (await sophie.ok(CHECK, {"id": item["id"], "r": "FAIL", "n": "see findings"}))["answerChecklistItem"]
    assert checked["item"] == {"result": "FAIL", "note": "see findings"}

    # Two notices to 研发部: one followed through, one left to run out.
    deadline = (now + timedelta(days=7)).isoformat()
    issued = (
        await sophie.ok(
            ISSUE,
            {
                "i": {
                    "findingIds": [first["id"], by_hand["id"]],
                    "departmentId": rnd,
                    "requirement": "每次通行必须刷码 (scan every passage)",
                    "deadline": deadline,
                }
            },
        )
    )["issueRectificationNotice"]
    assert not issued["errors"], issued
    notice = issued["notice"]["id"]
    dismissed_one = await sophie.ok(
        ISSUE, {"i": {"findingIds": [second["id"]], "departmentId": rnd, "requirement": "x", "deadline": deadline}}
    )
    assert dismissed_one["issueRectificationNotice"]["errors"][0]["code"] == "INVALID"
    late = (
        await sophie.ok(
            ISSUE,
            {
                "i": {
                    "findingIds": [by_hand["id"]],
                    "departmentId": rnd,
                    "requirement": "Fit a door closer",
                    "deadline": (now + timedelta(days=1)).isoformat(),
                }
            },
        )
    )["issueRectificationNotice"]["notice"]["id"]

    # Only the department's head (or deputy) sees and answers its notices.
    assert [n["id"] for n in (await lina.ok(MINE))["myRectificationNotices"]] == [late, notice]
    assert (await world.client("carol").ok(MINE))["myRectificationNotices"] == []
    assert (await world.client("zhangwei").ok(MINE))["myRectificationNotices"] == []
    assert error_codes(await world.client("carol")(NOTICE, {"id": notice})) == ["FORBIDDEN"]
    assert error_codes(await world.client("zhangwei")(ANSWER, {"id": notice, "t": "done", "f": []})) == ["FORBIDDEN"]

    evidence = "门禁培训记录：李娜、張偉、Zoë 已签到".encode()
    files = [
        {"name": "培训记录.txt", "contentType": "text/plain", "contentBase64": base64.b64encode(evidence).decode()}
    ]
    too_big = [
        {
            "name": "big.txt",
            "contentType": "text/plain",
            "contentBase64": base64.b64encode(b"x" * (40 * 1024 + 1)).decode(),
        }
    ]
    refused = (await lina.ok(ANSWER, {"id": notice, "t": "trained", "f": too_big}))["answerRectificationNotice"]
    assert refused["errors"] == [{"code": "INVALID", "field": "files"}]
    answered = (await lina.ok(ANSWER, {"id": notice, "t": "全员培训完毕 (everyone retrained)", "f": files}))[
        "answerRectificationNotice"
    ]["notice"]
    assert (answered["status"], answered["answeredBy"]["displayName"]) == ("ANSWERED", "李娜")
    assert [(f["name"], base64.b64decode(f["contentBase64"])) for f in answered["files"]] == [
        ("培训记录.txt", evidence)
    ]

    # Only the inspection's lead or members verify: not another supervisor (the admin), not the head.
    assert error_codes(await world.client("admin")(VERIFY, {"id": notice})) == ["FORBIDDEN"]
    assert error_codes(await lina(VERIFY, {"id": notice})) == ["FORBIDDEN"]
    sent_back = (await sophie.ok(RETURN, {"id": notice, "r": "attach the sign-in sheet"}))["returnRectificationNotice"]
    assert sent_back["notice"] == {"status": "RETURNED", "returnReason": "attach the sign-in sheet"}
    again = await lina.ok(ANSWER, {"id": notice, "t": "sheet attached", "f": files})
    assert again["answerRectificationNotice"]["notice"]["status"] == "ANSWERED"
    verified = await world.client("marta").ok(VERIFY, {"id": notice})  # a member of the inspection
    assert verified["verifyRectificationNotice"]["notice"]["status"] == "VERIFIED"

    # The second notice runs past its deadline: escalated once, shown to the executives.
    world.server.clock.advance(2 * 86400)
    eve = world.client("eve")
    view: dict[str, Any] = {}

    async def escalated() -> bool:
        view.update((await eve.ok(EXEC_VIEW))["executiveSupervisionView"])
        return [n["id"] for n in view["escalated"]] == [late]

    await eventually(escalated, 20, "the overdue notice escalated")
    assert view["escalated"][0]["overdue"] is True
    assert view["departments"] == [
        {"department": {"name": RND}, "open": 1, "overdue": 1, "escalated": 1, "verified": 1}
    ]
    assert error_codes(await world.client("alice")(EXEC_VIEW)) == ["FORBIDDEN"]

    # The report: frozen, a PDF naming everyone in their own script.
    reported = (await sophie.ok(REPORT, {"id": inspection["id"]}))["reportInspection"]["inspection"]
    assert reported["status"] == "REPORTED"
    assert (await sophie.ok(PROPOSE, {"id": inspection["id"]}))["proposeFindings"]["errors"] == [{"code": "CONFLICT"}]
    async with http_client(timeout=60) as client:
        url = world.server.http + reported["reportPath"]
        answer = await client.get(url, headers={"Authorization": f"Bearer {world.demo.tokens['eve']}"})
        assert answer.status_code == 200, answer.text
        refused_pdf = await client.get(url, headers={"Authorization": f"Bearer {world.demo.tokens['alice']}"})
        assert refused_pdf.status_code == 403
    text = pdf_text(answer.content)
    for name in (
        "苏菲",
        "Märta Lindqvist",
        "李娜",
        "張偉",
        "Zoë Ångström",
        RND,
        "每次通行必须刷码",
        "ESCALATED",
        "培训记录.txt",
    ):
        assert name in text, name
    reported_ids = [i["id"] for i in (await eve.ok(EXEC_VIEW))["executiveSupervisionView"]["reportedInspections"]]
    assert reported_ids == [inspection["id"]]

    # A monthly schedule opens its inspection when its day comes (the leader's upkeep).
    schedule = (
        await sophie.ok(
            SCHEDULE,
            {"i": {"title": "Monthly entry check", "areas": ["entry", "data"], "cadence": "MONTHLY", "day": 1}},
        )
    )["addInspectionSchedule"]["schedule"]
    due = datetime.fromisoformat(schedule["nextDue"]).date()
    assert await sophie.ok(INSPECTIONS, {"k": "PERIODIC"}) == {"inspections": []}
    moment = datetime.combine(due, datetime.min.time(), tzinfo=world.server.clock.now().tzinfo) + timedelta(days=1)
    if moment > world.server.clock.now():
        world.server.clock.advance_to(moment)
    periodic: list[dict[str, Any]] = []

    async def opened() -> bool:
        periodic[:] = (await sophie.ok(INSPECTIONS, {"k": "PERIODIC"}))["inspections"]
        return bool(periodic)

    await eventually(opened, 20, "the periodic inspection opened")
    (one,) = periodic
    assert (one["status"], one["title"]) == ("PLANNED", f"Monthly entry check {schedule['nextDue']}")

    # Every step is in the audit log; the escalation once, though the upkeep has run since.
    for action in (
        "startSpotInspection",
        "proposeFindings",
        "confirmFinding",
        "dismissFinding",
        "issueRectificationNotice",
        "answerRectificationNotice",
        "returnRectificationNotice",
        "verifyRectificationNotice",
        "reportInspection",
    ):
        assert await audited(world, action), action
    assert [e["targetId"] for e in await audited(world, "supervision.escalateNotice")] == [late]
    assert len(await audited(world, "supervision.openPeriodicInspection")) == 1


PLAN = """
mutation($i: PlanInspectionInput!) {
  planInspection(input: $i) {
    inspection { id kind status topic checklist { area } reportPath } errors { code field }
  }
}"""
START = "mutation($id: ID!) { startInspection(id: $id) { inspection { status startedAt } errors { code } } }"


async def test_a_special_inspection_is_planned_on_a_topic_and_started_by_its_lead(world: World) -> None:
    sophie = world.client("sophie")
    now = world.server.clock.now()
    base = {
        "kind": "SPECIAL",
        "title": "来访登记专项检查",
        "areas": ["visitors"],
        "periodStart": (now - timedelta(days=30)).isoformat(),
        "periodEnd": now.isoformat(),
    }
    no_topic = (await sophie.ok(PLAN, {"i": base}))["planInspection"]
    assert no_topic["errors"] == [{"code": "INVALID", "field": "topic"}]
    backwards = {**base, "topic": "x", "periodEnd": base["periodStart"], "periodStart": base["periodEnd"]}
    assert (await sophie.ok(PLAN, {"i": backwards}))["planInspection"]["errors"][0]["field"] == "periodEnd"
    planned = await sophie.ok(PLAN, {"i": {**base, "topic": "Visitors booked and approved (POLICY 3)"}})
    inspection = planned["planInspection"]["inspection"]
    assert (inspection["kind"], inspection["status"], inspection["reportPath"]) == ("SPECIAL", "PLANNED", None)
    assert {c["area"] for c in inspection["checklist"]} == {"visitors"}
    # Not reported yet: no report to download.
    async with http_client(timeout=30) as client:
        early = await client.get(
            world.server.http + f"/supervision/inspections/{inspection['id']}.pdf",
            headers={"Authorization": f"Bearer {world.demo.tokens['sophie']}"},
        )
    assert early.status_code == 409
    assert error_codes(await world.client("admin")(START, {"id": inspection["id"]})) == ["FORBIDDEN"]
    started = (await sophie.ok(START, {"id": inspection["id"]}))["startInspection"]
    assert started["inspection"]["status"] == "IN_PROGRESS"
    again = (await sophie.ok(START, {"id": inspection["id"]}))["startInspection"]
    assert again["errors"] == [{"code": "CONFLICT"}]
