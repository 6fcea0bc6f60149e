"""Notifications in the web app (issue 16), in a real browser against a real server:

- the host gives the visitor's email in the invitation form, in English and in 简体中文; the
  server's email channel hands the invitation to a real SMTP server started here (aiosmtpd), whose
  message carries the same link the host's screen shows, and the screen says it was emailed;
- a security admin opens the guard console's Notifications view: with SMTP pointed at a closed
  port and one attempt allowed, the failed delivery and the email channel's error are shown, a
  Retry of the failed one queues it again (its message is kept for a retry), as does a Retry of
  one held back by the per-recipient limit; the view fits a 390 px phone in both
  languages, its texts drawn with real glyphs;
- a guard (no site admin role) has no Notifications tab, and the server refuses them the outbox.

Screenshots go to var/screenshots/{en,zh-CN}/ (notify-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.browser import (  # noqa: F401  (the fixture)
    DESKTOP,
    PHONE,
    PageWatch,
    assert_page_glyphs,
    browser_fixture,
    screenshot_path,
)
from tests.harness import Demo, GraphQLClient, Site, error_codes, eventually, free_port
from tests.smtp_peer import Mailbox, smtp_peer
from tests.test_notifications_email import mail_env
from tests.test_web_employee import first_sign_in
from tests.test_web_guard import sign_in as guard_sign_in

NAMES: dict[str, dict[str, str]] = {
    "en": {
        "visitors": "Visitors",
        "invite": "Invite a visitor",
        "name": "Visitor's name",
        "phone": "Visitor's phone",
        "email": "Visitor's email",
        "purpose": "Purpose of the visit",
        "create": "Create invitation",
        "link": "Invitation link",
        "emailed": "The invitation is on its way to {email}.",
        "bad_email": "does not look right",
        "tab": "Notifications",
        "channels": "Channels",
        "deliveries": "Deliveries",
        "status": "Status",
        "held": "Held back",
        "retry": "Retry",
        "queued": "Queued to be sent again.",
        "failed": "Failed",
        "waiting": "Waiting",
        "invitation": "Visitor invitation",
        "email_channel": "Email",
    },
    "zh-CN": {
        "visitors": "访客",
        "invite": "邀请访客",
        "name": "访客姓名",
        "phone": "访客手机",
        "email": "访客邮箱",
        "purpose": "来访事由",
        "create": "生成邀请",
        "link": "邀请链接",
        "emailed": "邀请已发送至 {email}。",
        "bad_email": "邮箱地址格式不对",
        "tab": "通知投递",
        "channels": "通知渠道",
        "deliveries": "投递记录",
        "status": "状态",
        "held": "已拦截",
        "retry": "重试",
        "queued": "已重新排队发送。",
        "failed": "发送失败",
        "waiting": "待发送",
        "invitation": "访客邀请",
        "email_channel": "邮件",
    },
}

ZONES = "{ zonesToInviteTo { id name } }"
DELIVERIES = """query($status: String) { notificationDeliveries(status: $status, first: 20) {
  edges { node { id status attempts lastError addressMasked } } } }"""
CHANNELS = "{ notificationChannels { name lastError failed } }"


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[tuple[Controller, Mailbox]]:
    """A real SMTP server (aiosmtpd) on a free local port, keeping what it receives."""
    with smtp_peer() as peer:
        yield peer


async def new_page(browser: Any, locale: str, viewport: dict[str, int], watch: PageWatch) -> tuple[Any, Any]:
    context = await browser.new_context(viewport=viewport, locale=locale, service_workers="block")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch.attach(page)
    return context, page


async def no_sideways_scroll(page: Any) -> None:
    width = await page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


async def host_invites_by_email(page: Any, lang: str, zone: str, visitor: str, address: str) -> str:
    """The invitation form with the visitor's email; the link the screen then shows."""
    n = NAMES[lang]
    await page.get_by_role("button", name=n["visitors"], exact=True).click()
    await page.get_by_role("button", name=n["invite"]).click()
    await page.get_by_label(n["name"]).fill(visitor)
    await page.get_by_label(n["phone"]).fill("+8613900000001")
    await page.get_by_label(n["purpose"]).fill("Design review 设计评审")
    email = page.get_by_label(n["email"])
    assert await email.get_attribute("type") == "email"
    await page.get_by_label(zone, exact=True).check()
    # A light check before sending: an address without a dotted domain is refused on the page.
    await email.fill("visitor@localhost")
    await page.get_by_role("button", name=n["create"]).click()
    await page.get_by_role("alert").filter(has_text=n["bad_email"]).wait_for()
    await email.fill(address)
    await page.screenshot(path=screenshot_path(lang, "notify-01-invite-email"), full_page=True)
    await page.get_by_role("button", name=n["create"]).click()
    said = page.get_by_role("status").filter(has_text=n["emailed"].format(email=address))
    await said.wait_for()
    link: str = await page.get_by_label(n["link"]).input_value()
    await page.screenshot(path=screenshot_path(lang, "notify-02-invite-emailed"), full_page=True)
    await no_sideways_scroll(page)
    return link


async def test_the_host_invites_by_email_in_both_languages(
    sqlite_site: Site, demo: Demo, browser: Any, smtp: tuple[Controller, Mailbox]
) -> None:
    controller, box = smtp
    server = sqlite_site.start_server(**mail_env(controller.port))
    api = GraphQLClient(server, demo=demo)
    hosts = {
        "en": ("alice", "李娜 Zoë", "zoe.visitor@example.test"),
        "zh-CN": ("carol", "張偉", "zhang.wei@example.test"),
    }
    zones = {lang: (await api.ok(ZONES, as_=user))["zonesToInviteTo"] for lang, (user, _, _) in hosts.items()}
    assert all(zones.values()), zones
    watch = PageWatch()
    for lang, (user, visitor, address) in hosts.items():
        context, page = await new_page(browser, "en-US" if lang == "en" else "zh-CN", PHONE, watch)
        try:
            await first_sign_in(page, server, user, demo.passwords[user], lang)
            link = await host_invites_by_email(page, lang, zones[lang][0]["name"], visitor, address)
        finally:
            await context.close()
        # The visitor's mailbox has the invitation, with the link the host's screen shows.
        await eventually(lambda a=address: any(m["To"] == a for m in box.messages), 15, f"the email to {address}")
        mail = next(m for m in box.messages if m["To"] == address)
        text = mail.get_body(("plain",)).get_content()
        assert visitor in text
        code = link.rsplit("/invite/", 1)[1]
        assert f"/invite/{code}" in text, (link, text)
    assert len(box.messages) == 2
    assert watch.csp_violations() == [], watch.errors


async def test_security_admin_sees_the_failed_delivery_and_a_guard_has_no_tab(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    closed = free_port()  # nothing listens there
    server = sqlite_site.start_server(
        **mail_env(closed, GATEHOUSE_NOTIFY_MAX_ATTEMPTS="1", GATEHOUSE_NOTIFY_PER_RECIPIENT_HOUR="1")
    )
    api = GraphQLClient(server, demo=demo)
    zone = (await api.ok(ZONES, as_="alice"))["zonesToInviteTo"][0]["id"]
    start = datetime.now(UTC).replace(microsecond=0)
    invite = {
        "visitorName": "李娜",
        "phone": "+8613900000001",
        "purpose": "audit",
        "expectedStart": start.isoformat(),
        "expectedEnd": (start + timedelta(hours=2)).isoformat(),
        "zoneIds": [zone],
        "email": "lina@example.test",
    }
    mutation = "mutation($input: InviteVisitorInput!) { inviteVisitor(input: $input) { errors { code } } }"
    for _ in range(2):  # the second is over the per-recipient limit: held back
        assert (await api.ok(mutation, {"input": invite}, as_="alice"))["inviteVisitor"]["errors"] == []

    async def statuses() -> list[str]:
        data = await api.ok(DELIVERIES, {"status": None}, as_="admin")
        return sorted(e["node"]["status"] for e in data["notificationDeliveries"]["edges"])

    async def settled() -> bool:
        return await statuses() == ["failed", "suppressed"]

    await eventually(settled, 20, "one delivery given up, one held back")
    (failed,) = [
        e["node"]
        for e in (await api.ok(DELIVERIES, {"status": "failed"}, as_="admin"))["notificationDeliveries"]["edges"]
    ]
    channel_error = (await api.ok(CHANNELS, as_="admin"))["notificationChannels"][0]["lastError"]
    assert "unreachable" in channel_error and failed["attempts"] == 1

    # A guard is gate staff but no site admin: no tab, and the server refuses the outbox.
    watch = PageWatch()
    context, page = await new_page(browser, "en-US", DESKTOP, watch)
    try:
        await guard_sign_in(page, server, "guard", demo.passwords["guard"], "en")
        menu = page.get_by_role("navigation")
        await menu.get_by_role("button", name="Item checks").wait_for()
        assert await menu.get_by_role("button", name=NAMES["en"]["tab"]).count() == 0
    finally:
        await context.close()
    refused = await api.raw(DELIVERIES, {"status": None}, as_="alice")
    assert error_codes(refused) == ["FORBIDDEN"], refused

    # The security admin: the channel's error and the failed delivery; Retry queues it again.
    n = NAMES["en"]
    context, page = await new_page(browser, "en-US", DESKTOP, watch)
    try:
        await guard_sign_in(page, server, "security", demo.passwords["security"], "en")
        await page.get_by_role("button", name=n["tab"]).click()
        channels = page.get_by_role("list", name=n["channels"])
        email = channels.get_by_role("listitem", name=n["email_channel"])
        await email.get_by_text(channel_error).wait_for()
        assert "1 failed" in await email.inner_text()
        deliveries = page.get_by_role("list", name=n["deliveries"])
        card = deliveries.get_by_role("listitem", name=f"{n['invitation']} · l***@example.test")
        await card.wait_for()
        text = await card.inner_text()
        assert n["failed"] in text and "Attempts: 1" in text and failed["lastError"] in text, text
        await page.screenshot(path=screenshot_path("en", "notify-10-failed"), full_page=True)
        await card.get_by_role("button", name=n["retry"]).click()
        await card.get_by_role("status").filter(has_text=n["queued"]).wait_for()
        await eventually(lambda: _statuses(api, ["failed", "suppressed"]), 20, "the retried one given up again")

        # The one held back by the limit: Retry queues it, and the card says so.
        await page.get_by_label(n["status"]).select_option(label=n["held"])
        held = deliveries.get_by_role("listitem", name=f"{n['invitation']} · l***@example.test")
        await held.get_by_text("limit:").wait_for()
        await held.get_by_role("button", name=n["retry"]).click()
        await held.get_by_role("status").filter(has_text=n["queued"]).wait_for()
        assert n["waiting"] in await held.inner_text()
        await page.screenshot(path=screenshot_path("en", "notify-11-retried"), full_page=True)
        # …and the sender tries it again: one attempt, given up (SMTP is still unreachable).
        await eventually(lambda: _all_failed(api), 20, "the retried delivery given up again")

        # At 390×844 in both languages: nothing wider than the phone, every text in real glyphs.
        await page.set_viewport_size(PHONE)
        await page.get_by_label(n["status"]).select_option(value="failed")
        await deliveries.get_by_role("listitem").nth(1).wait_for()
        await no_sideways_scroll(page)
        await assert_page_glyphs(page)
        await page.screenshot(path=screenshot_path("en", "notify-12-phone"), full_page=True)
        z = NAMES["zh-CN"]
        await page.get_by_label("Language / 语言").select_option(value="zh-CN")
        await page.get_by_role("button", name=z["tab"]).wait_for()
        zh_card = page.get_by_role("list", name=z["deliveries"]).get_by_role("listitem").first
        await zh_card.get_by_role("button", name=z["retry"]).wait_for()
        assert z["failed"] in await zh_card.inner_text()
        await page.get_by_role("list", name=z["channels"]).get_by_role("listitem", name=z["email_channel"]).wait_for()
        await no_sideways_scroll(page)
        await assert_page_glyphs(page)
        await page.screenshot(path=screenshot_path("zh-CN", "notify-12-phone"), full_page=True)
    finally:
        await context.close()
    assert watch.csp_violations() == [], watch.errors


async def _statuses(api: GraphQLClient, expected: list[str]) -> bool:
    data = await api.ok(DELIVERIES, {"status": None}, as_="admin")
    return sorted(e["node"]["status"] for e in data["notificationDeliveries"]["edges"]) == expected


async def _all_failed(api: GraphQLClient) -> bool:
    return await _statuses(api, ["failed", "failed"])
