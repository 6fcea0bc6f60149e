"""The phone app's Notifications / 通知 screen (issue 16) in a real browser against a real server
with Web Push configured: reached from the menu in 简体中文 and English, its controls found by their
accessible names.

- A browser without push (PushManager removed before the page loads, as on many Android browsers in
  mainland China): the switch is there but disabled and says "此浏览器无法接收通知" / "This browser
  cannot receive notifications"; nothing is registered.
- Headless Chromium with the notification permission granted: turning the switch on asks the
  browser for a subscription with the server's VAPID key. Chromium's push service (FCM) is not
  reachable from the test machine, so the browser may refuse: then the screen shows why, the switch
  stays off and nothing is stored; if it does subscribe, the server holds exactly that https
  endpoint for this person. Either way what the screen says matches the server.
- The app's service worker, handed a push message through DevTools (ServiceWorker.deliverPushMessage,
  as the browser hands one over once decrypted), shows it: title, body, tag = kind, link, alarms loud.
  (A tap on a notification cannot be driven from DevTools: `notificationclick` is not tested.)
- The preferences (per kind the channels, quiet hours, message language, email) are saved through
  the screen and read back from the server (`myNotificationSettings`).
Screenshots go to var/screenshots/{en,zh-CN}/.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from mobile_contracts import documents
from resolvers.core.settings_webpush import private_key_pem, webpush_settings
from tests.browser import (  # noqa: F401  (the fixture)
    CONTRACT_NAMES,
    PHONE,
    PageWatch,
    assert_page_glyphs,
    browser_fixture,
    screenshot_path,
)
from tests.harness import Demo, GraphQLClient, Site, operation_index

NEW_PASSWORD = "fresh-notify-password-42"
SUBJECT = "mailto:security@example.cn"

NAMES = {
    "en": {
        **CONTRACT_NAMES["en"],
        "menu": "Notifications",
        "title": "Notifications",
        "switch": "Notifications on this phone",
        "unsupported": "This browser cannot receive notifications",
        "off": "This phone receives no notifications.",
        "on": "This phone receives notifications.",
        "failed": "Notifications could not be turned on",
        "settings_failed": "Your notification settings cannot be loaded",
        "quiet_start": "Quiet hours from",
        "quiet_end": "Quiet hours until",
        "language": "Language of messages",
        "email": "My email address",
        "save_settings": "Save notification settings",
        "saved": "Saved.",
        "door_forced": "Door forced",
        "arrival": "Visitor arrived",
        "email_channel": "Email",
        "push_channel": "Push to my phone",
    },
    "zh-CN": {
        **CONTRACT_NAMES["zh-CN"],
        "menu": "通知",
        "title": "通知",
        "switch": "本机通知",
        "unsupported": "此浏览器无法接收通知",
        "off": "本机不会收到通知。",
        "on": "本机会收到通知。",
        "failed": "无法开启通知",
        "settings_failed": "无法加载您的通知设置",
        "quiet_start": "免打扰开始",
        "quiet_end": "免打扰结束",
        "language": "消息语言",
        "email": "我的邮箱",
        "save_settings": "保存通知设置",
        "saved": "已保存。",
        "door_forced": "强行开门",
        "arrival": "访客到达",
        "email_channel": "邮件",
        "push_channel": "推送到我的手机",
    },
}


def subscriptions(site: Site) -> list[tuple[str, str]]:
    with sqlite3.connect(site.database_url.removeprefix("sqlite://")) as conn:
        return conn.execute(
            "SELECT p.username, s.endpoint FROM push_subscription s JOIN person p ON p.id = s.person_id ORDER BY s.id"
        ).fetchall()


async def signed_in_page(browser: Any, server: Any, demo: Demo, username: str, locale: str, **options: Any) -> Any:
    """A phone-sized page of the app in `locale`, signed in (through the issued password's change)."""
    context = await browser.new_context(viewport=PHONE, locale=locale, **options)
    context.set_default_timeout(20_000)
    page = await context.new_page()
    n = NAMES[locale]
    await page.goto(server.http + "/")
    await page.get_by_label(n["username"]).fill(username)
    await page.get_by_label(n["password"], exact=True).fill(demo.passwords[username])
    await page.get_by_role("button", name=n["sign_in"], exact=True).click()
    await page.get_by_label(n["new"], exact=True).fill(NEW_PASSWORD)
    await page.get_by_label(n["repeat"], exact=True).fill(NEW_PASSWORD)
    await page.get_by_role("button", name=n["save"]).click()
    await page.get_by_role("button", name=n["bind"]).wait_for()
    return page


async def open_screen(page: Any, locale: str) -> None:
    n = NAMES[locale]
    await page.get_by_role("navigation").get_by_role("button", name=n["menu"], exact=True).click()
    await page.get_by_role("heading", name=n["title"], exact=True).wait_for()


def vapid_env() -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = private_key_pem(ec.generate_private_key(ec.SECP256R1())).decode()
    return {
        "GATEHOUSE_VAPID_PRIVATE_KEY": key,
        "GATEHOUSE_VAPID_SUBJECT": SUBJECT,
        "GATEHOUSE_PUBLIC_URL": "https://gh.example.cn",
    }


async def check_preferences(page: Any, api: GraphQLClient, locale: str) -> None:
    n = NAMES[locale]
    await page.get_by_role("button", name=n["save_settings"]).wait_for()
    door = page.get_by_role("group", name=n["door_forced"])
    await door.wait_for()
    await page.get_by_label(n["quiet_start"]).fill("22:00")
    await page.get_by_label(n["quiet_end"]).fill("07:00")
    await page.get_by_label(n["language"]).select_option("en" if locale == "zh-CN" else "zh-CN")
    await page.get_by_label(n["email"]).fill("li.na@example.cn")
    # The server in these tests has Web Push as its one channel: arrivals stop coming by push.
    arrival_push = page.get_by_role("group", name=n["arrival"]).get_by_role("checkbox", name=n["push_channel"])
    await arrival_push.set_checked(False)
    await page.get_by_role("button", name=n["save_settings"]).click()
    await page.get_by_role("status").filter(has_text=n["saved"]).wait_for()
    stored = (await api.op_ok("MyNotificationSettings"))["myNotificationSettings"]
    assert stored["quietHoursStart"] == "22:00" and stored["quietHoursEnd"] == "07:00", stored
    assert stored["language"] == ("en" if locale == "zh-CN" else "zh-CN"), stored
    assert stored["emailMasked"], stored
    arrival = next(k for k in stored["kinds"] if k["kind"] == "visit.arrival")
    assert "webpush" not in arrival["channels"], arrival


async def test_notifications_screen_without_push_support_in_chinese(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    server = sqlite_site.start_server(**vapid_env())
    page = await signed_in_page(browser, server, demo, "lina", "zh-CN")
    # A browser with no push service at all, from the first script on.
    await page.context.add_init_script("delete window.PushManager;")
    await page.reload()
    watch = PageWatch()
    watch.attach(page)
    zh, en = NAMES["zh-CN"], NAMES["en"]
    try:
        await open_screen(page, "zh-CN")
        switch = page.get_by_role("switch", name=zh["switch"])
        await switch.wait_for()
        assert await switch.is_disabled() and not await switch.is_checked()
        await page.get_by_role("status").filter(has_text=zh["unsupported"]).wait_for()
        api = await GraphQLClient(server, demo=demo, operations=operation_index(documents())).login(
            "lina", NEW_PASSWORD
        )
        await check_preferences(page, api, "zh-CN")
        await page.screenshot(path=screenshot_path("zh-CN", "50-notifications-unsupported"), full_page=True)
        await assert_page_glyphs(page)

        # The same screen in English, switched in place.
        await page.get_by_label("Language / 语言").select_option("en")
        await page.get_by_role("heading", name=en["title"], exact=True).wait_for()
        assert await page.get_by_role("switch", name=en["switch"]).is_disabled()
        await page.get_by_role("status").filter(has_text=en["unsupported"]).wait_for()
        assert subscriptions(sqlite_site) == []
        assert watch.csp_violations() == [], watch.errors
    finally:
        await page.context.close()


async def test_notifications_switch_subscribes_or_says_why_in_english(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    env = vapid_env()
    server = sqlite_site.start_server(**env)
    settings = webpush_settings(env)
    assert settings is not None
    page = await signed_in_page(browser, server, demo, "zoe", "en")
    await page.context.grant_permissions(["notifications"], origin=server.http)
    watch = PageWatch()
    watch.attach(page)
    en = NAMES["en"]
    api = await GraphQLClient(server, demo=demo, operations=operation_index(documents())).login("zoe", NEW_PASSWORD)
    assert (await api.op_ok("PushPublicKey"))["pushPublicKey"] == settings.public_key
    try:
        await open_screen(page, "en")
        switch = page.get_by_role("switch", name=en["switch"])
        await page.get_by_role("status").filter(has_text=en["off"]).wait_for()
        assert await switch.is_enabled() and not await switch.is_checked()
        await page.screenshot(path=screenshot_path("en", "51-notifications-off"), full_page=True)

        await switch.click()
        failed = page.get_by_role("alert").filter(has_text=en["failed"])
        turned_on = page.get_by_role("status").filter(has_text=en["on"])
        await failed.or_(turned_on).first.wait_for()
        await page.screenshot(path=screenshot_path("en", "52-notifications-switch"), full_page=True)
        if await failed.count():
            # The browser could not reach its push service: nothing stored, the switch off.
            assert not await switch.is_checked()
            assert subscriptions(sqlite_site) == []
        else:
            [(who, endpoint)] = subscriptions(sqlite_site)
            assert who == "zoe" and endpoint.startswith("https://")
            assert await switch.is_checked()
            await switch.click()
            await page.get_by_role("status").filter(has_text=en["off"]).wait_for()
            assert subscriptions(sqlite_site) == []
        await check_preferences(page, api, "en")
        await service_worker_shows_a_push(page, server.http)
        assert watch.csp_violations() == [], watch.errors
    finally:
        await page.context.close()


NOTIFICATIONS_SHOWN = """
navigator.serviceWorker.ready
  .then((r) => r.getNotifications())
  .then((ns) => ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data, loud: n.requireInteraction })))
"""


async def service_worker_shows_a_push(page: Any, origin: str) -> None:
    """The app's service worker, given a push message (delivered through DevTools, as the browser
    hands it over once decrypted), shows it: title, body, tag = kind, the link in its data."""
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    cdp = await page.context.new_cdp_session(page)
    found: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: found.put_nowait(e["registrations"]))
    await cdp.send("ServiceWorker.enable")
    registrations: list[dict[str, Any]] = []
    while not registrations:
        registrations = [r for r in await asyncio.wait_for(found.get(), 10) if not r["isDeleted"]]
    message = {
        "title": "强行开门：东门",
        "body": "东门被强行打开 — Zoë Ångström",
        "link": "/guard",
        "kind": "alarm.door_forced",
        "key": "notification:1:webpush:1",
        "alarm": True,
    }
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin, "registrationId": registrations[0]["registrationId"], "data": json.dumps(message)},
    )
    # Read in the same evaluation that sees it: headless Chromium may take a shown notification down again.
    seen = await page.wait_for_function(f"({NOTIFICATIONS_SHOWN}).then((ns) => ns.length > 0 && ns)", polling=100)
    [shown] = await seen.json_value()
    assert shown == {
        "title": "强行开门：东门",
        "body": "东门被强行打开 — Zoë Ångström",
        "tag": "alarm.door_forced",
        "data": {"link": "/guard", "key": "notification:1:webpush:1"},
        "loud": True,
    }, shown
