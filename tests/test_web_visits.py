"""The visitor's and the host's screens in a real browser (issue 14), against a real server and a
real gate device: a host invites from the phone app and shares the invitation (link and QR); the
visitor opens the link — read back from the QR — in another browser context, registers and waits;
the host approves and the visitor's page shows the pass without a reload; after the guard's
check-in the QR on screen (screenshot → zxing-cpp) opens a gate of the visit's zone and is refused
at a gate of a zone outside it; the host ends the visit and the visitor's page says it is over.
In zh-CN, the contract's names in Chinese, and a rejection ends the visit on the visitor's page.

The visitor page's clock is Playwright's (`page.clock`) and the server's the harness's
(ServerClock): both move a step forward for each scan (a pass token opens one gate once).
Screenshots of each screen go to var/screenshots/{en,zh-CN}/.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import zxingcpp
from gatehouse_gate import passtoken
from PIL import Image

from api.demo import make_prc_id
from tests.browser import DESKTOP, PHONE, PageWatch, browser_fixture, screenshot_path  # noqa: F401  (the fixture)
from tests.harness import Demo, Gate, GraphQLClient, ServerProcess, Site
from tests.test_web_employee import NO_ED25519, first_sign_in, issue_password, qr_text

PERIOD = passtoken.DEFAULT_PERIOD

NAMES: dict[str, dict[str, Any]] = {
    "en": {
        "visitors": "Visitors",
        "invite": "Invite a visitor",
        "name": "Visitor's name",
        "phone": "Visitor's phone",
        "purpose": "Purpose of the visit",
        "create": "Create invitation",
        "link": "Invitation link",
        "link_qr": "Invitation QR code",
        "done": "Done",
        "document_type": "Document type",
        "documents": ["ID card", "Passport", "Other"],
        "document_number": "Document number",
        "company": "Company",
        "register": "Register",
        "waiting": "Waiting for approval",
        "approve": "Approve",
        "reject": "Reject",
        "reason": "Reason for rejecting",
        "send_rejection": "Send rejection",
        "qr": "Pass QR code",
        "details": "Visit details",
        "end": "End visit",
        "over": "Visit over",
    },
    "zh-CN": {
        "visitors": "访客",
        "invite": "邀请访客",
        "name": "访客姓名",
        "phone": "访客手机",
        "purpose": "来访事由",
        "create": "生成邀请",
        "link": "邀请链接",
        "link_qr": "邀请二维码",
        "done": "完成",
        "document_type": "证件类型",
        "documents": ["居民身份证", "护照", "其他"],
        "document_number": "证件号码",
        "company": "单位",
        "register": "提交登记",
        "waiting": "等待审批",
        "approve": "批准",
        "reject": "拒绝",
        "reason": "拒绝理由",
        "send_rejection": "确认拒绝",
        "qr": "通行二维码",
        "details": "来访详情",
        "end": "结束来访",
        "over": "访问已结束",
    },
}

# Marks the page's document: still there after the host's approval means the page did not reload.
MARK = "() => { window.__sameDocument = true; }"
SAME_DOCUMENT = "() => window.__sameDocument === true"


def decode_qr(png: bytes) -> list[str]:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode]


async def new_page(browser: Any, locale: str, watch: PageWatch, no_ed25519: bool = False) -> tuple[Any, Any]:
    context = await browser.new_context(viewport=PHONE, locale=locale, service_workers="block")
    context.set_default_timeout(20_000)
    if no_ed25519:
        await context.add_init_script(NO_ED25519)
    page = await context.new_page()
    watch.attach(page)
    return context, page


async def host_invites(page: Any, lang: str, visitor: str, phone: str, zone: str) -> str:
    """From the phone app's menu: the invitation form, then its link, checked against its QR."""
    n = NAMES[lang]
    await page.get_by_role("button", name=n["visitors"], exact=True).click()
    await page.get_by_role("button", name=n["invite"]).click()
    await page.get_by_label(n["name"]).fill(visitor)
    await page.get_by_label(n["phone"]).fill(phone)
    await page.get_by_label(n["purpose"]).fill("Design review 设计评审")
    await page.get_by_label(zone, exact=True).check()
    await page.screenshot(path=screenshot_path(lang, "40-host-invite"), full_page=True)
    await page.get_by_role("button", name=n["create"]).click()
    link = await page.get_by_label(n["link"]).input_value()
    qr = page.get_by_role("img", name=n["link_qr"])
    await qr.wait_for()
    await page.wait_for_function("() => document.querySelector('canvas.invite-qr')?.width > 0")
    await qr.scroll_into_view_if_needed()
    png = await page.screenshot(path=screenshot_path(lang, "41-host-share"))
    assert decode_qr(png) == [link], (decode_qr(png), link)
    await page.get_by_role("button", name=n["done"]).click()
    return link


async def register(page: Any, lang: str, link: str, visitor: str, id_number: str) -> None:
    n = NAMES[lang]
    await page.goto(link)
    # The invitation names the visitor and their phone (masked): neither is asked again.
    await page.get_by_text(visitor, exact=True).wait_for()
    assert await page.get_by_label(n["name"]).count() == 0
    select = page.get_by_label(n["document_type"])
    assert [o.strip() for o in await select.locator("option").all_inner_texts()] == n["documents"]
    await select.select_option(label=n["documents"][0])
    await page.get_by_label(n["document_number"]).fill(id_number)
    await page.get_by_label(n["company"], exact=True).fill("Ångström & 张 Ltd")
    await page.screenshot(path=screenshot_path(lang, "50-visitor-register"), full_page=True)
    await page.get_by_role("button", name=n["register"]).click()
    await page.get_by_role("heading", name=n["waiting"]).wait_for()
    await page.screenshot(path=screenshot_path(lang, "51-visitor-waiting"))
    await page.evaluate(MARK)


def visit_row(page: Any, visitor: str) -> Any:
    return page.get_by_role("listitem").filter(has_text=visitor)


async def next_token(page: Any, site: Site, old: str, lang: str = "en", shot: str | None = None) -> str:
    """Both clocks a step on: the page signs the next step's token (each token opens one gate once)."""
    site.clock.advance(PERIOD)
    await page.clock.fast_forward(PERIOD * 1000)
    await page.wait_for_function("(old) => document.querySelector('canvas.qr')?.dataset.token !== old", arg=old)
    return await qr_text(page, NAMES[lang]["qr"], lang, shot)


async def visit_id_of(guard: GraphQLClient, visitor: str) -> str:
    data = await guard.ok("{ visits(first: 50) { edges { node { id visitorName } } } }")
    return next(e["node"]["id"] for e in data["visits"]["edges"] if e["node"]["visitorName"] == visitor)


async def test_host_invites_visitor_registers_approval_shows_the_pass_that_opens_only_the_visits_zone(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    server: ServerProcess = sqlite_site.start_server()
    issued = issue_password(sqlite_site, "alice")
    visitor = "Zoë Ångström"
    id_number = make_prc_id("110101", "19900307", "123")
    host_watch, visitor_watch = PageWatch(), PageWatch()
    host_context, host = await new_page(browser, "en-US", host_watch)
    visitor_context, page = await new_page(browser, "en-US", visitor_watch)
    await page.clock.install(time=datetime.fromtimestamp(sqlite_site.clock.unix(), UTC))
    guard = GraphQLClient(server, demo=demo, as_="guard")
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        await first_sign_in(host, server, "alice", issued, "en")
        link = await host_invites(host, "en", visitor, "+86 139 1234 5678", "Engineering office")
        assert link.startswith(server.http + "/invite/"), link
        await visit_row(host, visitor).filter(has_text="Invited").wait_for()

        await register(page, "en", link, visitor, id_number)

        # The host sees the registration (polled) and approves; the visitor's page follows by itself.
        row = visit_row(host, visitor)
        await row.get_by_role("button", name="Approve").wait_for()
        await host.screenshot(path=screenshot_path("en", "42-host-visits"), full_page=True)
        await row.get_by_role("button", name="Approve").click()
        first = await qr_text(page, "Pass QR code", "en", "52-visitor-pass")
        assert await page.evaluate(SAME_DOCUMENT), "the visitor's page reloaded"
        assert passtoken.parse(first) is not None, first

        # Approved but not yet checked in: the pass opens nothing.
        reply = await gate.scan(demo.gates["Lobby turnstile in"], first, direction="IN")
        assert reply["granted"] is False, reply

        # The guard compares the document at check-in; the host is told at once.
        visit_id = await visit_id_of(guard, visitor)
        checked = await guard.ok(
            "mutation($id: ID!, $l: String!) { checkInVisitor(id: $id, idNumberLast4: $l) { errors { code } } }",
            {"id": visit_id, "l": id_number[-4:]},
        )
        assert checked["checkInVisitor"]["errors"] == [], checked
        await host.get_by_role("log").get_by_text(f"{visitor} has arrived").wait_for()
        await host.screenshot(path=screenshot_path("en", "43-host-arrival"))

        second = await next_token(page, sqlite_site, first)
        reply = await gate.scan(demo.gates["Lobby turnstile in"], second, direction="IN")
        assert reply["granted"] is True and reply["person"] == {"displayName": visitor}, reply
        third = await next_token(page, sqlite_site, second)
        reply = await gate.scan(demo.gates["Engineering door"], third, direction="IN")
        assert reply["granted"] is True, reply
        # A zone outside the visit: refused.
        fourth = await next_token(page, sqlite_site, third)
        reply = await gate.scan(demo.gates["Finance door"], fourth, direction="IN")
        assert reply["granted"] is False, reply

        await page.get_by_role("button", name="Visit details").click()
        await page.get_by_text("Engineering office").wait_for()
        await page.get_by_text("You may move on your own").wait_for()
        await page.screenshot(path=screenshot_path("en", "53-visitor-details"))
        await page.set_viewport_size(DESKTOP)
        await page.screenshot(path=screenshot_path("en", "54-visitor-details-desktop"))
        await host.set_viewport_size(DESKTOP)
        await host.screenshot(path=screenshot_path("en", "44-host-visits-desktop"), full_page=True)

        # The host ends the visit: the visitor's page says so, without a reload, and the pass is gone.
        await visit_row(host, visitor).get_by_role("button", name="End visit").click()
        await page.get_by_role("heading", name="Visit over").wait_for()
        assert await page.evaluate(SAME_DOCUMENT), "the visitor's page reloaded"
        assert await page.get_by_role("img", name="Pass QR code").count() == 0
        await page.get_by_text("You have left the site").wait_for()
        await page.set_viewport_size(PHONE)
        await page.screenshot(path=screenshot_path("en", "55-visitor-visit-over"))
        assert host_watch.csp_violations() == [], host_watch.errors
        assert visitor_watch.csp_violations() == [], visitor_watch.errors
    finally:
        await gate.close()
        await host_context.close()
        await visitor_context.close()


async def test_in_chinese_the_contract_names_a_custodial_pass_and_a_rejection(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    """zh-CN from the browser's language. 张伟's browser has no Ed25519: approved, he gets the
    custodial pass; the host ends the visit before check-in (cancelled). 李娜 is rejected with a
    reason. Both pages say the visit is over without a reload; a spent or unknown code says so."""
    server = sqlite_site.start_server()
    issued = issue_password(sqlite_site, "bob")
    host_watch, visitor_watch = PageWatch(), PageWatch()
    host_context, host = await new_page(browser, "zh-CN", host_watch)
    zhang_context, zhang = await new_page(browser, "zh-CN", visitor_watch, no_ed25519=True)
    li_context, li = await new_page(browser, "zh-CN", visitor_watch)
    try:
        await first_sign_in(host, server, "bob", issued, "zh-CN")
        link = await host_invites(host, "zh-CN", "张伟", "13800138000", "Finance office")
        await register(zhang, "zh-CN", link, "张伟", make_prc_id("310101", "19850612", "456"))
        link = await host_invites(host, "zh-CN", "李娜", "13900139000", "Finance office")
        await register(li, "zh-CN", link, "李娜", make_prc_id("440101", "19920815", "789"))

        zhang_row, li_row = visit_row(host, "张伟"), visit_row(host, "李娜")
        await zhang_row.get_by_role("button", name="批准").wait_for()
        await li_row.get_by_role("button", name="拒绝").wait_for()
        await host.screenshot(path=screenshot_path("zh-CN", "42-host-visits"), full_page=True)
        await zhang_row.get_by_role("button", name="批准").click()

        # No Ed25519 in this browser: the page says so and shows the server-signed pass.
        token = await qr_text(zhang, "通行二维码", "zh-CN", "52-visitor-pass")
        assert passtoken.parse(token) is not None, token
        await zhang.get_by_role("status").filter(has_text="缺少 WebCrypto Ed25519").wait_for()
        assert await zhang.evaluate(SAME_DOCUMENT), "the visitor's page reloaded"
        await zhang.get_by_role("button", name="来访详情").click()
        await zhang.get_by_text("Finance office").wait_for()
        await zhang.get_by_text("您可以在上述区域内自行活动。").wait_for()
        await zhang.screenshot(path=screenshot_path("zh-CN", "53-visitor-details"))
        await zhang.set_viewport_size(DESKTOP)
        await zhang.screenshot(path=screenshot_path("zh-CN", "54-visitor-details-desktop"))
        await zhang.set_viewport_size(PHONE)

        await li_row.get_by_role("button", name="拒绝").click()
        await li_row.get_by_label("拒绝理由").fill("会议改期")
        await li_row.get_by_role("button", name="确认拒绝").click()
        await li_row.filter(has_text="已拒绝").wait_for()
        await li.get_by_role("heading", name="访问已结束").wait_for()
        assert await li.evaluate(SAME_DOCUMENT), "the visitor's page reloaded"
        await li.get_by_text("接待人未批准此次来访。").wait_for()
        await li.screenshot(path=screenshot_path("zh-CN", "55-visitor-visit-over"))
        # The code is spent; the session kept on this phone still finds the visit after a reload.
        await li.reload()
        await li.get_by_role("heading", name="访问已结束").wait_for()
        # The Language / 语言 control switches the visitor's page too.
        await li.get_by_label("Language / 语言").select_option("en")
        await li.get_by_role("heading", name="Visit over").wait_for()

        # Ended before check-in: cancelled, and the custodial pass is gone from the page.
        await zhang_row.get_by_role("button", name="结束来访").click()
        await zhang.get_by_role("heading", name="访问已结束").wait_for()
        await zhang.get_by_text("接待人已取消此次来访。").wait_for()
        assert await zhang.get_by_role("img", name="通行二维码").count() == 0
        await host.get_by_role("heading", name="我的访客").wait_for()
        await host.screenshot(path=screenshot_path("zh-CN", "43-host-visits-after"), full_page=True)
        await host.set_viewport_size(DESKTOP)
        await host.screenshot(path=screenshot_path("zh-CN", "44-host-visits-desktop"), full_page=True)

        # A spent or unknown code: the page says so rather than showing a form.
        other_context, other = await new_page(browser, "zh-CN", visitor_watch)
        try:
            await other.goto(server.http + "/invite/AAAA-BBBB-CCCC")
            await other.get_by_role("alert").filter(has_text="此邀请无法使用").wait_for()
            assert await other.get_by_label("证件类型").count() == 0
            await other.screenshot(path=screenshot_path("zh-CN", "56-visitor-invalid"))
        finally:
            await other_context.close()
        assert host_watch.csp_violations() == [], host_watch.errors
        assert visitor_watch.csp_violations() == [], visitor_watch.errors
    finally:
        await host_context.close()
        await zhang_context.close()
        await li_context.close()


async def test_a_department_head_decides_walk_ins_and_requests_from_one_queue(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    """Carol heads Engineering: alice's emergency walk-in and her purchase request wait in Carol's
    "To decide" queue; she approves the one and rejects the other with a reason."""
    server = sqlite_site.start_server()
    alice = GraphQLClient(server, demo=demo, as_="alice")
    ids = sqlite_site.ids
    assert ids is not None
    end = datetime.fromtimestamp(sqlite_site.clock.unix() + 3600, UTC).isoformat()
    filed = await alice.ok(
        "mutation($i: EmergencyVisitInput!) { fileEmergencyVisit(input: $i) { visit { id } errors { code } } }",
        {
            "i": {
                "visitorName": "Walk-in Wang 王",
                "phone": "13700137000",
                "idNumber": make_prc_id("110101", "19880808", "321"),
                "reason": "Server room repair",
                "expectedEnd": end,
                "zoneIds": [ids.zones["Engineering office"]],
            }
        },
    )
    assert filed["fileEmergencyVisit"]["errors"] == [], filed
    asked = await alice.ok(
        'mutation { requestPurchase(name: "Oscilloscope", quantity: 1, budget: 900) { errors { code } } }'
    )
    assert asked["requestPurchase"]["errors"] == [], asked

    watch = PageWatch()
    context, page = await new_page(browser, "en-US", watch)
    try:
        await first_sign_in(page, server, "carol", demo.passwords["carol"], "en")
        await page.get_by_role("button", name="Visitors", exact=True).click()
        queue = page.get_by_role("list", name="To decide")
        walk_in = queue.get_by_role("listitem").filter(has_text="Walk-in Wang 王")
        purchase = queue.get_by_role("listitem").filter(has_text="Oscilloscope")
        await walk_in.wait_for()
        await purchase.wait_for()
        await page.screenshot(path=screenshot_path("en", "45-head-queue"), full_page=True)
        # The same queue in Chinese (the Language / 语言 control), with the contract's names.
        await page.get_by_label("Language / 语言").select_option("zh-CN")
        zh_queue = page.get_by_role("list", name="待我审批")
        await (
            zh_queue.get_by_role("listitem")
            .filter(has_text="Walk-in Wang 王")
            .get_by_role("button", name="批准")
            .wait_for()
        )
        assert await zh_queue.get_by_role("button", name="拒绝").count() == 2
        await page.screenshot(path=screenshot_path("zh-CN", "45-head-queue"), full_page=True)
        await page.get_by_label("Language / 语言").select_option("en")
        await walk_in.get_by_role("button", name="Approve").click()
        await walk_in.wait_for(state="detached")
        await purchase.get_by_role("button", name="Reject").click()
        await purchase.get_by_label("Reason for rejecting").fill("Borrow the lab's one")
        await purchase.get_by_role("button", name="Send rejection").click()
        await purchase.wait_for(state="detached")
        await page.get_by_text("Nothing waits for your decision.").wait_for()

        mine = await alice.ok(
            "{ me { hostedVisits(first: 5) { edges { node { visitorName status } } } } "
            "itemRequests(first: 5) { edges { node { status } } } }"
        )
        assert mine["me"]["hostedVisits"]["edges"][0]["node"] == {
            "visitorName": "Walk-in Wang 王",
            "status": "APPROVED",
        }
        assert mine["itemRequests"]["edges"][0]["node"]["status"] == "REJECTED"
        assert watch.csp_violations() == [], watch.errors
    finally:
        await context.close()
