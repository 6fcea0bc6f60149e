"""The employee's phone app in a real browser (issue 14), against a real server and a real gate
device: sign in with an issued password, set a new one, bind this phone, and the QR on screen —
read back from a screenshot with zxing-cpp — opens the gate; a step later it has changed and
opens it again; with the browser offline the pass still shows a token the gate accepts.

The page's clock is Playwright's (`page.clock`) and the server's the harness's (ServerClock):
both are moved a step forward instead of waiting 15 s. Screenshots of each screen go to
var/screenshots/{en,zh-CN}/.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import zxingcpp
from gatehouse_gate import passtoken
from PIL import Image

from tests.browser import (  # noqa: F401  (the fixture)
    CONTRACT_NAMES,
    DESKTOP,
    PHONE,
    PageWatch,
    assert_page_glyphs,
    assert_real_glyphs,
    browser_fixture,
    screenshot_path,
)
from tests.harness import Demo, Gate, ServerProcess, Site

PERIOD = passtoken.DEFAULT_PERIOD

NAMES = {
    "en": {
        **CONTRACT_NAMES["en"],
        "log": "Access log",
        "attendance": "Attendance",
    },
    "zh-CN": {
        **CONTRACT_NAMES["zh-CN"],
        "log": "通行记录",
        "attendance": "考勤",
    },
}


def issue_password(site: Site, username: str) -> str:
    """What HR does: `gatehouse reset-password` prints a new issued password (its last line)."""
    return site.cli("reset-password", username).stdout.strip().splitlines()[-1]


async def qr_text(page: Any, name: str, lang: str, shot: str | None = None) -> str:
    """The pass QR decoded from a screenshot of the page (what a gate's camera would read),
    checked to be exactly the token the page says it drew."""
    qr = page.get_by_role("img", name=name)
    await qr.wait_for()
    await page.wait_for_function("() => (document.querySelector('canvas.qr')?.dataset.token || '').startsWith('GH1:')")
    box = await qr.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], f"the QR is not fully visible: {box}"
    # The token may step while the screenshot is taken: take it again until it held still.
    for _attempt in range(3):
        before = await qr.get_attribute("data-token")
        png = await page.screenshot(path=screenshot_path(lang, shot) if shot else None)
        drawn = await qr.get_attribute("data-token")
        if before == drawn:
            break
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    texts = [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(texts) == 1, f"expected one QR code on the page, found {texts}"
    assert texts[0] == drawn, (texts[0], drawn)
    return texts[0]


async def first_sign_in(
    page: Any, server: ServerProcess, username: str, issued: str, lang: str, then: str = "bind"
) -> None:
    """Sign in with an issued password and set a new one; `then` names the button that follows."""
    n = NAMES[lang]
    await page.goto(server.http + "/")
    await page.get_by_label(n["username"]).fill(username)
    await page.get_by_label(n["password"], exact=True).fill(issued)
    await page.screenshot(path=screenshot_path(lang, "01-sign-in"))
    await page.get_by_role("button", name=n["sign_in"], exact=True).click()
    new_password = f"fresh-{username}-password-42"
    await page.get_by_label(n["new"], exact=True).fill(new_password)
    await page.get_by_label(n["repeat"], exact=True).fill(new_password)
    await page.screenshot(path=screenshot_path(lang, "02-new-password"))
    await page.get_by_role("button", name=n["save"]).click()
    if then == "bind":
        await page.get_by_role("button", name=n["bind"]).wait_for()
        await page.screenshot(path=screenshot_path(lang, "03-bind"))


async def test_employee_binds_and_the_rotating_pass_opens_the_gate_online_and_offline(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    server = sqlite_site.start_server()
    issued = issue_password(sqlite_site, "alice")
    context = await browser.new_context(viewport=PHONE, locale="en-US", service_workers="allow")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    # The page's clock starts at the servers' time and runs on; the test moves both at once.
    await page.clock.install(time=datetime.fromtimestamp(sqlite_site.clock.unix(), UTC))
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        await first_sign_in(page, server, "alice", issued, "en")
        await page.get_by_role("button", name=NAMES["en"]["bind"]).click()
        first = await qr_text(page, "Pass QR code", "en", "04-pass")
        parsed = passtoken.parse(first)
        assert parsed is not None, first
        reply = await gate.scan(demo.gates["Lobby turnstile in"], first, direction="IN")
        assert reply["granted"] is True and reply["person"] == {"displayName": "Alice Li"}, reply
        await assert_real_glyphs(page, ["Alice Li"])

        # The next step: a new token, signed on the page, accepted again.
        sqlite_site.clock.advance(PERIOD)
        await page.clock.fast_forward(PERIOD * 1000)
        await page.wait_for_function("(old) => document.querySelector('canvas.qr')?.dataset.token !== old", arg=first)
        second = await qr_text(page, "Pass QR code", "en")
        assert second != first
        # At least one step on (the clocks also run in real time: a step boundary may pass too).
        second_step = passtoken.parse(second).step  # type: ignore[union-attr]
        assert second_step > parsed.step
        reply = await gate.scan(demo.gates["Lobby turnstile out"], second, direction="OUT")
        assert reply["granted"] is True, reply

        # The access log shows what the gate decided.
        await page.get_by_role("button", name=NAMES["en"]["log"]).click()
        await page.get_by_text("Lobby turnstile out").wait_for()
        await page.screenshot(path=screenshot_path("en", "05-access-log"))
        await assert_page_glyphs(page)
        await page.get_by_role("button", name=NAMES["en"]["attendance"]).click()
        await page.get_by_role("table").or_(page.get_by_text("No days in this month.")).wait_for()
        await page.screenshot(path=screenshot_path("en", "06-attendance"))
        await page.set_viewport_size(DESKTOP)
        await page.screenshot(path=screenshot_path("en", "07-attendance-desktop"))
        await page.set_viewport_size(PHONE)

        # Offline: the service worker serves the app, the key in IndexedDB signs, the clock steps.
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        await context.set_offline(True)
        sqlite_site.clock.advance(PERIOD)
        await page.clock.fast_forward(PERIOD * 1000)
        await page.reload()
        third = await qr_text(page, "Pass QR code", "en", "08-pass-offline")
        assert await page.evaluate("() => navigator.onLine") is False
        assert passtoken.parse(third).step > second_step  # type: ignore[union-attr]
        reply = await gate.scan(demo.gates["Lobby turnstile in"], third, direction="IN")
        assert reply["granted"] is True, reply
        assert watch.csp_violations() == [], watch.errors
    finally:
        await gate.close()
        await context.close()


# What the app keeps in this origin's IndexedDB (idb-keyval's default store).
STORED_KEYS = """
() => new Promise((resolve, reject) => {
  const open = indexedDB.open("keyval-store");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const keys = open.result.transaction("keyval").objectStore("keyval").getAllKeys();
    keys.onsuccess = () => resolve(keys.result);
    keys.onerror = () => reject(keys.error);
  };
})
"""

KEY_IS_SEALED = """
() => new Promise((resolve, reject) => {
  const open = indexedDB.open("keyval-store");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const read = open.result.transaction("keyval").objectStore("keyval").get("gatehouse.passKey");
    read.onerror = () => reject(read.error);
    read.onsuccess = async () => {
      const key = read.result.privateKey;
      let exported = "refused";
      try { await crypto.subtle.exportKey("pkcs8", key); exported = "exported"; } catch (e) {}
      resolve({ type: key.type, extractable: key.extractable, export: exported });
    };
  };
})
"""


async def test_the_app_in_chinese_and_at_desktop_size(sqlite_site: Site, demo: Demo, browser: Any) -> None:
    """zh-CN from the browser's language: every contract name in Chinese, the employee's Chinese
    name drawn with real glyphs in both languages, and the Language / 语言 control switches to
    English and back."""
    server = sqlite_site.start_server()
    issued = issue_password(sqlite_site, "lina")
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", service_workers="block")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    try:
        await first_sign_in(page, server, "lina", issued, "zh-CN")
        assert await page.evaluate("() => document.documentElement.lang") == "zh-CN"
        await page.get_by_role("button", name=NAMES["zh-CN"]["bind"]).click()
        token = await qr_text(page, "通行二维码", "zh-CN", "04-pass")
        assert passtoken.parse(token) is not None
        await assert_real_glyphs(page, ["李娜"])
        await assert_page_glyphs(page)
        await page.get_by_role("button", name=NAMES["zh-CN"]["log"]).click()
        await page.get_by_role("heading", name="我的通行记录").wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "05-access-log"))
        await page.get_by_role("button", name=NAMES["zh-CN"]["attendance"]).click()
        await page.get_by_role("heading", name="我的考勤").wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "06-attendance"))
        await page.set_viewport_size(DESKTOP)
        await page.screenshot(path=screenshot_path("zh-CN", "07-attendance-desktop"))

        await page.get_by_label("Language / 语言").select_option("en")
        await page.get_by_role("heading", name="My attendance").wait_for()
        # In an English page the Chinese name still needs a CJK face (the stylesheet names one).
        await page.get_by_role("button", name="Pass", exact=True).click()
        await page.get_by_role("img", name="Pass QR code").wait_for()
        await assert_real_glyphs(page, ["李娜"])
        await page.get_by_label("Language / 语言").select_option("zh-CN")
        await page.get_by_role("img", name="通行二维码").wait_for()

        # A reload keeps the session (the refresh token in IndexedDB) and the key: the pass again.
        await page.set_viewport_size(PHONE)
        await page.reload()
        await page.get_by_role("img", name="通行二维码").wait_for()
        assert sorted(await page.evaluate(STORED_KEYS)) == ["gatehouse.passKey", "gatehouse.refreshToken"]
        # The private key is a CryptoKey that cannot be read out, not even by the app.
        assert await page.evaluate(KEY_IS_SEALED) == {"type": "private", "extractable": False, "export": "refused"}
        # Signing out forgets both: a reload finds nobody signed in.
        await page.get_by_role("button", name="退出登录").click()
        await page.get_by_role("button", name=NAMES["zh-CN"]["sign_in"], exact=True).wait_for()
        await page.reload()
        await page.get_by_role("button", name=NAMES["zh-CN"]["sign_in"], exact=True).wait_for()
        assert await page.evaluate(STORED_KEYS) == []
        assert watch.csp_violations() == [], watch.errors
    finally:
        await context.close()


async def test_graphiql_runs_from_local_files_under_its_policy(sqlite_site: Site, browser: Any) -> None:
    server = sqlite_site.start_server(GATEHOUSE_GRAPHIQL="1")
    context = await browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.http) else elsewhere.append(r.url))
    try:
        await page.goto(server.http + "/graphql")
        await page.locator(".graphiql-container").wait_for()
        await page.locator(".graphiql-query-editor .monaco-editor").wait_for()
        await page.screenshot(path=screenshot_path("en", "graphiql"))
        assert elsewhere == [], elsewhere
        assert watch.csp_violations() == [], watch.errors
    finally:
        await context.close()


# A browser without WebCrypto Ed25519 (older Safari, Firefox before 129): generateKey refuses it.
NO_ED25519 = """
(() => {
  const generateKey = crypto.subtle.generateKey.bind(crypto.subtle);
  crypto.subtle.generateKey = (algorithm, ...rest) =>
    (algorithm === "Ed25519" || (algorithm && algorithm.name === "Ed25519"))
      ? Promise.reject(new DOMException("Unrecognized algorithm name", "NotSupportedError"))
      : generateKey(algorithm, ...rest);
})();
"""


async def test_without_ed25519_the_app_says_so_and_shows_the_custodial_pass(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    server = sqlite_site.start_server()
    context = await browser.new_context(viewport=PHONE, locale="en-US", service_workers="block")
    context.set_default_timeout(20_000)
    await context.add_init_script(NO_ED25519)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        # The demo's passwords are issued ones: the app asks for a new one first.
        await first_sign_in(page, server, "carol", demo.passwords["carol"], "en", then="custodial")
        await page.get_by_role("status").filter(has_text="WebCrypto Ed25519 is missing").wait_for()
        assert await page.get_by_role("button", name=NAMES["en"]["bind"]).count() == 0
        await page.screenshot(path=screenshot_path("en", "09-no-ed25519"))
        await page.get_by_role("button", name="Show my pass (signed by the server)").click()
        token = await qr_text(page, "Pass QR code", "en", "10-custodial-pass")
        reply = await gate.scan(demo.gates["Lobby turnstile in"], token, direction="IN")
        assert reply["granted"] is True and reply["person"] == {"displayName": "Carol Chen"}, reply
        assert watch.csp_violations() == [], watch.errors
    finally:
        await gate.close()
        await context.close()


async def test_the_guard_address_opens_the_same_app_in_the_browsers_language(sqlite_site: Site, browser: Any) -> None:
    """`/guard` loads the one bundle, its screen chosen in the browser: the console's sign-in, in
    Chinese for any `zh*` browser (zh-TW included) and in English otherwise (its own screens:
    tests/test_web_guard.py; `/invite/{code}`: tests/test_web_visits.py)."""
    server = sqlite_site.start_server()
    for lang, locale in (("en", "en-GB"), ("zh-CN", "zh-TW")):
        context = await browser.new_context(viewport=PHONE, locale=locale, service_workers="block")
        context.set_default_timeout(20_000)
        page = await context.new_page()
        watch = PageWatch()
        watch.attach(page)
        try:
            await page.goto(server.http + "/guard")
            await page.get_by_label(NAMES[lang]["username"]).wait_for()
            await page.get_by_role("button", name=NAMES[lang]["sign_in"]).wait_for()
            await page.get_by_label("Language / 语言").wait_for()
            await page.screenshot(path=screenshot_path(lang, "30-guard"))
            assert watch.csp_violations() == [], watch.errors
        finally:
            await context.close()
