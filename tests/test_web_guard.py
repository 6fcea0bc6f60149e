"""The guard console (`/guard`, issue 14) in a real browser, against a real server and a real gate
device on /devices/ws: the guard signs in (setting a new password when the one used was issued),
a scan at the gate shows up in "Gate events" without a reload, a forced door's alert shows up
and is acknowledged, assigned and closed from the console (each step in the audit log), a manual
entry is recorded, and a lockdown asks for the password (the sign-in's confirmation has run out)
and is recorded. The console in 简体中文 names its controls in Chinese. Screenshots of each
screen go to var/screenshots/{en,zh-CN}/ (guard-*.png).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.demo import make_prc_id
from mobile_contracts import documents
from tests.browser import CONTRACT_NAMES, DESKTOP, PageWatch, browser_fixture, screenshot_path  # noqa: F401  (the fixture)
from tests.harness import Demo, Gate, GraphQLClient, Ids, Phone, ServerProcess, Site, operation_index
from tests.test_items import ASSETS, ITEMS, nodes, scan_item

TABLET = {"width": 1024, "height": 768}

NAMES: dict[str, dict[str, Any]] = {
    "en": {
        **CONTRACT_NAMES["en"],
        "events": "Gate events",
        "zone": "Zone",
        "granted": "Access granted",
        "menu": {
            "alerts": "Alerts",
            "visitors": "Visitors today",
            "actions": "Gate actions",
            "muster": "Muster list",
            "items": "Item checks",
            "events": "Gate events",
        },
    },
    "zh-CN": {
        **CONTRACT_NAMES["zh-CN"],
        "events": "通行记录",
        "zone": "区域",
        "granted": "准予通行",
        "menu": {
            "alerts": "告警",
            "visitors": "今日访客",
            "actions": "门岗操作",
            "muster": "人员清点",
            "items": "物品检查",
            "events": "通行记录",
        },
    },
}

AUDIT = """query($action: String) { auditLog(first: 20, action: $action) {
  edges { node { action actor { id } targetId outcome } } } }"""
ALERTS = "{ deviceAlerts(first: 20) { id kind status gateId assignee { id } closedBy { id } closeNote } }"
LOCKDOWNS = "{ lockdowns { id mode reason zone { id } gate { id } } }"
ITEM_CHECKS = "{ itemChecks(first: 20) { edges { node { id status } } pageInfo { hasNextPage } } }"
MANUAL_EVENTS = "{ gateEvents(first: 5, method: MANUAL) { edges { node { method person { displayName } } } } }"


OPERATIONS = operation_index(documents())
VERA_ID = make_prc_id("310101", "19900202", "901")


async def book_visit_today(site: Site, api: GraphQLClient) -> str:
    """Alice invites Vera for the next two hours, Vera registers, Alice approves: an expected
    visitor today, waiting at the gate. The visit's id."""
    ids = await Ids.read(api.server, api.tokens["admin"])
    start = site.clock.now().replace(microsecond=0)
    invite = {
        "visitorName": "Vera Visitor",
        "phone": "+8613900000001",
        "purpose": "design review",
        "expectedStart": start.isoformat(),
        "expectedEnd": (start + timedelta(hours=2)).isoformat(),
        "zoneIds": [ids.zones["Engineering office"]],
    }
    visit = (await api.op_ok("InviteVisitor", {"input": invite}, as_="alice"))["inviteVisitor"]["visit"]
    details = {"idNumber": VERA_ID, "gender": "FEMALE", "company": "ACME"}
    registered = await api.user(None).op_ok(
        "CompleteVisitorRegistration", {"inviteCode": visit["inviteCode"], "input": details}
    )
    assert registered["completeVisitorRegistration"]["errors"] == [], registered
    approved = await api.op_ok("ApproveVisit", {"id": visit["id"]}, as_="alice")
    assert approved["approveVisit"]["errors"] == [], approved
    return str(visit["id"])


async def held_item_check(server: ServerProcess, demo: Demo, gate: Gate) -> str:
    """Alice leaves by the lobby exit and the gate reads a laptop label from the warehouse shelf
    that she never declared: a HELD item check for the guard. Its id."""
    wendy = GraphQLClient(server, demo=demo, as_="wendy")
    laptop = next(i["id"] for i in nodes((await wendy.ok(ITEMS))["items"]) if i["name"] == "Laptop")
    shelf = nodes((await wendy.ok(ASSETS, {"itemId": laptop, "status": "IN_STOCK"}))["assets"])[0]["labelCode"]
    phone = Phone()
    await phone.bind(GraphQLClient(server, demo=demo, as_="alice"))
    out = demo.gates["Lobby turnstile out"]
    await gate.scan(out, phone.token())
    reply = await scan_item(gate, out, shelf, "guard-console-1")
    assert reply["problem"] == "no_declaration", reply
    return str(reply["checkId"])


def issue_password(site: Site, username: str) -> str:
    return site.cli("reset-password", username).stdout.strip().splitlines()[-1]


async def sign_in(page: Any, server: ServerProcess, username: str, password: str, lang: str) -> None:
    """Sign in at /guard; when the password was issued, set a new one first (PHONE_APP.md)."""
    n = NAMES[lang]
    await page.goto(server.http + "/guard")
    await page.get_by_label(n["username"]).fill(username)
    await page.get_by_label(n["password"], exact=True).fill(password)
    await page.screenshot(path=screenshot_path(lang, "guard-01-sign-in"))
    await page.get_by_role("button", name=n["sign_in"], exact=True).click()
    # The console's first screen (its zone filter; the events list is empty, so of no size yet).
    console = page.get_by_label(n["zone"])
    new_password = page.get_by_label(n["new"], exact=True)
    await console.or_(new_password).wait_for()
    if await new_password.is_visible():
        fresh = f"fresh-{username}-password-42"
        await new_password.fill(fresh)
        await page.get_by_label(n["repeat"], exact=True).fill(fresh)
        await page.screenshot(path=screenshot_path(lang, "guard-02-new-password"))
        await page.get_by_role("button", name=n["save"]).click()
        await console.wait_for()
    await page.get_by_role("log", name=n["events"]).wait_for(state="attached")


async def scan_alice(server: ServerProcess, demo: Demo, gate: Gate) -> None:
    """Alice binds a phone (as the app does) and scans it at the lobby turnstile."""
    phone = Phone()
    await phone.bind(GraphQLClient(server, demo=demo, as_="alice"))
    reply = await gate.scan(demo.gates["Lobby turnstile in"], phone.token(), direction="IN")
    assert reply["granted"] is True, reply


async def test_guard_console_live_scan_alert_workflow_manual_entry_and_lockdown(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    # The confirmation window as shipped (the harness widens it for the other tests).
    server = sqlite_site.start_server(GATEHOUSE_CONFIRMATION_MINUTES="5")
    api = GraphQLClient(server, demo=demo, operations=OPERATIONS)
    ids = await Ids.read(server, demo.tokens["admin"])
    issued = issue_password(sqlite_site, "guard")  # ends the guard's other sessions: the API reads as security
    context = await browser.new_context(viewport=DESKTOP, locale="en-US", service_workers="block")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    n = NAMES["en"]
    try:
        await sign_in(page, server, "guard", issued, "en")
        log = page.get_by_role("log", name=n["events"])

        # A scan at the gate appears without a reload, its reason in words.
        await scan_alice(server, demo, gate)
        row = log.get_by_role("listitem").filter(has_text="Alice Li")
        await row.wait_for()
        assert "Access granted" in await row.inner_text()
        assert "Lobby turnstile in" in await row.inner_text()
        await page.screenshot(path=screenshot_path("en", "guard-03-events"))
        # The zone filter: the lobby's event is not in the Finance office, and is in the Lobby.
        await page.get_by_label(n["zone"]).select_option(label="Finance office")
        await page.get_by_text("No gate events yet.").wait_for()
        await page.get_by_label(n["zone"]).select_option(label="Lobby")
        await log.get_by_role("listitem").filter(has_text="Alice Li").wait_for()

        # A forced door: the alert arrives live, then acknowledge → assign → close.
        await page.get_by_role("button", name=n["menu"]["alerts"]).click()
        await gate.send(
            {"type": "door", "gateId": demo.gates["Finance door"], "state": "forced", "at": _now(sqlite_site)}
        )
        card = page.get_by_role("listitem").filter(has_text="Door forced").filter(has_text="Finance door")
        await card.wait_for()
        await page.screenshot(path=screenshot_path("en", "guard-04-alert-open"))
        await card.get_by_role("button", name="Acknowledge").click()
        await card.get_by_text("acknowledged by Gao Guard").wait_for()
        await card.get_by_label("Assign to").select_option(value=ids.people["security"])
        await card.get_by_role("button", name="Assign", exact=True).click()
        await card.get_by_text("assigned to Sam Security").wait_for()
        await page.screenshot(path=screenshot_path("en", "guard-05-alert-assigned"))
        await card.get_by_label("What was done").fill("door shut, nobody went in")
        await card.get_by_role("button", name="Close alert").click()
        await card.wait_for(state="detached")  # closed alerts are hidden unless asked for
        await page.get_by_label("Show closed alerts").check()
        await card.get_by_text("closed by Gao Guard").wait_for()
        await page.screenshot(path=screenshot_path("en", "guard-06-alert-closed"))
        alert = next(
            a
            for a in (await api.ok(ALERTS, as_="security"))["deviceAlerts"]
            if a["gateId"] == demo.gates["Finance door"]
        )
        assert alert["status"] == "CLOSED" and alert["assignee"] == {"id": ids.people["security"]}, alert
        assert alert["closedBy"] == {"id": ids.people["guard"]} and alert["closeNote"] == "door shut, nobody went in"
        for action in ("acknowledgeAlert", "assignAlert", "closeAlert"):
            entries = [
                e["node"]
                for e in (await api.ok(AUDIT, {"action": action}, as_="admin"))["auditLog"]["edges"]
                if e["node"]["targetId"] == alert["id"]
            ]
            assert [(e["actor"], e["outcome"]) for e in entries] == [({"id": ids.people["guard"]}, "ok")], entries

        # An expected visitor: the document check (last 4 of the ID number), check-in, check-out.
        visit_id = await book_visit_today(sqlite_site, api)
        await page.get_by_role("button", name=n["menu"]["visitors"]).click()
        vera = page.get_by_role("listitem", name="Vera Visitor")
        await vera.get_by_text("Approved").wait_for()
        await page.screenshot(path=screenshot_path("en", "guard-07-visitors"))
        await vera.get_by_label("Last 4 of the ID number").fill("0000" if VERA_ID[-4:] != "0000" else "1111")
        await vera.get_by_role("button", name="Check in").click()
        await vera.get_by_role("alert").wait_for()  # the wrong document: refused, still approved
        await vera.get_by_label("Last 4 of the ID number").fill(VERA_ID[-4:])
        await vera.get_by_role("button", name="Check in").click()
        await vera.get_by_text("Checked in").wait_for()
        await vera.get_by_role("button", name="Check out").click()
        await vera.get_by_text("Checked out").wait_for()
        expected = (await api.op_ok("ExpectedVisitors", {"day": _now(sqlite_site)[:10]}, as_="security"))[
            "expectedVisitors"
        ]
        assert [(v["id"], v["status"]) for v in expected] == [(visit_id, "CHECKED_OUT")], expected

        # A manual entry: Bob cannot scan; the guard checks his ID card.
        await page.get_by_role("button", name=n["menu"]["actions"]).click()
        manual = page.get_by_role("region", name="Manual entry")
        await manual.get_by_label("Person").select_option(value=ids.people["bob"])
        await manual.get_by_label("Gate").select_option(label="Lobby turnstile in (Lobby)")
        await manual.get_by_label("Document checked").select_option(label="ID card")
        await manual.get_by_label("Last 4 of the document number").fill(make_prc_id("110101", "19860101", "106")[-4:])
        await manual.get_by_role("button", name="Record entry").click()
        await manual.get_by_role("status").filter(has_text="Bob Wang").wait_for()
        await page.screenshot(path=screenshot_path("en", "guard-08-manual-entry"))
        manual_events = (await api.ok(MANUAL_EVENTS, as_="security"))["gateEvents"]["edges"]
        assert [e["node"]["person"]["displayName"] for e in manual_events] == ["Bob Wang"], manual_events

        # A lockdown of the whole site, past the sign-in's confirmation: the dialog asks for the
        # password, then the lockdown is in force.
        sqlite_site.clock.advance(6 * 60)
        emergency = page.get_by_role("region", name="Lockdown and evacuation")
        await emergency.get_by_label("Reason").fill("intruder reported at the north fence")
        await emergency.get_by_role("button", name="Lock down").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_role("button", name="Confirm").click()
        await dialog.get_by_label("Your password").fill("fresh-guard-password-42")
        await page.screenshot(path=screenshot_path("en", "guard-09-confirm-identity"))
        await dialog.get_by_role("button", name="Confirm").click()
        await dialog.wait_for(state="detached")
        await page.get_by_role("status").filter(has_text="Lockdown in force.").wait_for()
        await page.screenshot(path=screenshot_path("en", "guard-10-lockdown"))
        lockdowns = (await api.ok(LOCKDOWNS, as_="security"))["lockdowns"]
        assert [(x["mode"], x["reason"], x["zone"], x["gate"]) for x in lockdowns] == [
            ("LOCKDOWN", "intruder reported at the north fence", None, None)
        ], lockdowns
        outcomes = [
            e["node"]["outcome"]
            for e in (await api.ok(AUDIT, {"action": "lockdown"}, as_="admin"))["auditLog"]["edges"]
        ]
        assert outcomes == ["ok", "refused:CONFIRMATION_REQUIRED"], outcomes  # newest first
        # Released again, behind the same dialog.
        await emergency.get_by_role("button", name="Release").click()
        await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
        await page.get_by_role("status").filter(has_text="Released.").wait_for()
        assert (await api.ok(LOCKDOWNS, as_="security"))["lockdowns"] == []

        # The muster list, and how it prints: only the list, with its heading.
        await page.get_by_role("button", name=n["menu"]["muster"]).click()
        await page.get_by_role("table", name="Muster list").or_(page.get_by_text("Nobody is inside.")).wait_for()
        await page.screenshot(path=screenshot_path("en", "guard-11-muster"))
        muster = page.get_by_role("table", name="Muster list")
        await muster.get_by_role("row").filter(has_text="Alice Li").wait_for()
        await page.get_by_role("button", name="Confirm Alice Li has left").click()
        await page.get_by_role("dialog").get_by_label("How do you know?").fill("seen at the assembly point")
        await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
        await muster.get_by_role("row").filter(has_text="Alice Li").wait_for(state="detached")
        await muster.get_by_role("row").filter(has_text="Bob Wang").wait_for()
        await page.emulate_media(media="print")
        assert not await page.get_by_role("button", name="Print").is_visible()
        assert not await page.get_by_role("navigation").is_visible()
        assert await page.get_by_text("Muster list: Whole site").is_visible()
        await page.screenshot(path=screenshot_path("en", "guard-12-muster-print"))
        await page.emulate_media(media="screen")

        await page.get_by_role("button", name=n["menu"]["items"]).click()
        await (
            page.get_by_text("No held item checks.")
            .or_(page.get_by_role("list", name="Held item checks"))
            .first.wait_for()
        )
        await page.screenshot(path=screenshot_path("en", "guard-13-item-checks"))
        assert watch.csp_violations() == [], watch.errors
    finally:
        await gate.close()
        await context.close()


def _now(site: Site) -> str:
    return site.clock.now().isoformat()


async def test_guard_console_in_chinese_on_a_tablet(sqlite_site: Site, demo: Demo, browser: Any) -> None:
    server = sqlite_site.start_server()
    api = GraphQLClient(server, demo=demo)
    context = await browser.new_context(viewport=TABLET, locale="zh-CN", service_workers="block")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    n = NAMES["zh-CN"]
    try:
        await sign_in(page, server, "guard", demo.passwords["guard"], "zh-CN")
        assert await page.evaluate("() => document.documentElement.lang") == "zh-CN"
        await page.get_by_label(n["zone"]).wait_for()
        await scan_alice(server, demo, gate)
        row = page.get_by_role("log", name=n["events"]).get_by_role("listitem").filter(has_text="Alice Li")
        await row.wait_for()
        assert n["granted"] in await row.inner_text()
        await page.screenshot(path=screenshot_path("zh-CN", "guard-03-events"))

        await page.get_by_role("button", name=n["menu"]["alerts"]).click()
        await gate.send(
            {"type": "door", "gateId": demo.gates["Finance door"], "state": "forced", "at": _now(sqlite_site)}
        )
        card = page.get_by_role("listitem").filter(has_text="门被强行打开")
        await card.wait_for()
        await card.get_by_role("button", name="确认告警").wait_for()
        await card.get_by_label("指派给").wait_for()
        await card.get_by_role("button", name="关闭告警").wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "guard-04-alert-open"))

        await page.get_by_role("button", name=n["menu"]["visitors"]).click()
        await page.get_by_text("今日没有预约访客。").or_(page.get_by_role("list")).first.wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "guard-07-visitors"))

        await page.get_by_role("button", name=n["menu"]["actions"]).click()
        for region, labels in (
            ("人工登记", ["人员", "门", "方向", "已查验证件", "证件号码后4位", "备注"]),
            ("远程开门", ["门", "原因"]),
            ("封锁与疏散", ["范围", "原因"]),
        ):
            section = page.get_by_role("region", name=region)
            for label in labels:
                await section.get_by_label(label, exact=True).wait_for()
        await page.get_by_role("button", name="封锁").wait_for()
        await page.get_by_role("button", name="疏散").wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "guard-08-actions"))

        await page.get_by_role("button", name=n["menu"]["muster"]).click()
        await page.get_by_role("button", name="打印").wait_for()
        await page.get_by_role("table", name="人员清点").or_(page.get_by_text("区域内无人。")).wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "guard-11-muster"))

        # A held item check: the guard refuses it from the console.
        check_id = await held_item_check(server, demo, gate)
        await page.get_by_role("button", name=n["menu"]["items"]).click()
        held = page.get_by_role("listitem").filter(has_text="Alice Li").filter(has_text="Lobby turnstile out")
        await held.wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "guard-12-item-check-held"))
        await held.get_by_label("备注", exact=True).fill("未申报的笔记本电脑")
        await held.get_by_role("button", name="拒绝").click()
        await held.wait_for(state="detached")
        checks = nodes((await api.ok(ITEM_CHECKS, as_="security"))["itemChecks"])
        assert [(c["id"], c["status"]) for c in checks if c["id"] == check_id] == [(check_id, "REFUSED")], checks
        await (
            page.get_by_text("没有被扣留的物品检查。")
            .or_(page.get_by_role("list", name="被扣留的物品检查"))
            .first.wait_for()
        )
        await page.screenshot(path=screenshot_path("zh-CN", "guard-13-item-checks"))

        # The Language / 语言 control switches the console to English.
        await page.get_by_label("Language / 语言").select_option("en")
        await page.get_by_role("button", name="Item checks").wait_for()
        assert watch.csp_violations() == [], watch.errors
    finally:
        await gate.close()
        await context.close()
