"""Every screen of the web app, in English and in Chinese, drawn with real glyphs (issue 14).

Names on this site are Chinese (Simplified 李娜, Traditional 張偉) and Latin with diacritics
(Zoë Ångström): a browser without a font for them draws boxes (tofu) and raises nothing. Each
screen is screenshotted to var/screenshots/{en,zh-CN}/ (tour-*.png) and every text on it is
checked against the cmaps of the fonts Chromium says it drew with (tests/browser.py,
assert_page_glyphs). The first test shows the check fails on a character no installed font has.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.browser import (  # noqa: F401  (the fixture)
    CONTRACT_NAMES,
    PHONE,
    MissingGlyph,
    PageWatch,
    assert_page_glyphs,
    assert_real_glyphs,
    browser_fixture,
    drawn_families,
    screenshot_path,
)
from tests.harness import Demo, Site

# Plane 16's last private-use code point: no font on a Debian machine maps it (checked below).
TOFU = "\U0010fffd"
NAMES = ["李娜", "張偉", "Zoë Ångström", "笔记本电脑"]


def installed_fonts_with(char: str) -> list[str]:
    return subprocess.run(
        ["fc-list", f":charset={ord(char):x}", "family"], capture_output=True, text=True, check=True
    ).stdout.split("\n")[:-1]


async def test_the_check_fails_on_a_missing_glyph_and_passes_real_ones(browser: Any) -> None:
    assert installed_fonts_with(TOFU) == [], "the tofu character has a font here: pick another"
    assert installed_fonts_with("李") != [], "no CJK font installed (make font: fonts-noto-cjk)"
    page = await (await browser.new_context(viewport=PHONE)).new_page()
    try:
        await page.set_content(
            "<main><p>" + "</p><p>".join(NAMES) + f"</p><p id=tofu>Ann{TOFU}</p>"
            f'<p style="display:none">{TOFU}</p></main>'
        )
        await assert_real_glyphs(page, NAMES)
        with pytest.raises(MissingGlyph, match="U\\+10FFFD"):
            await assert_real_glyphs(page, [f"Ann{TOFU}"])
        with pytest.raises(MissingGlyph, match="U\\+10FFFD"):
            await assert_page_glyphs(page)
        # A text not drawn at all fails too (a hidden element has no glyphs to vouch for it).
        with pytest.raises(MissingGlyph, match="not drawn"):
            await assert_real_glyphs(page, ["Nobody"])
        # Without the tofu the same page passes, hidden text aside.
        await page.locator("#tofu").evaluate("p => p.remove()")
        assert set(NAMES) <= set(await assert_page_glyphs(page))
    finally:
        await page.context.close()


# Who signs in for the tour in each language (their issued demo passwords, so every screen of a
# first sign-in shows), and the texts of each language's screens.
TOUR = {
    "en": {
        **CONTRACT_NAMES["en"],
        "locale": "en-US",
        "user": "zoe",
        "name": "Zoë Ångström",
        "log": "Access log",
        "attendance": "Attendance",
        "no_log": "No passages yet.",
        "no_days": "No days in this month.",
        "not_found": "Nothing here",
        # Issue 16: the host's invitation form (its visitor's email) and the guard console's
        # Notifications view, which a site admin signs in for.
        "visitors": "Visitors",
        "invite": "Invite a visitor",
        "visitor_email": "Visitor's email",
        "sign_out": "Sign out",
        "site_admin": "security",
        "zone": "Zone",
        "notify_tab": "Notifications",
        "channels": "Channels",
        "no_deliveries": "No deliveries with this status.",
    },
    "zh-CN": {
        **CONTRACT_NAMES["zh-CN"],
        "locale": "zh-CN",
        "user": "zhangwei",
        "name": "張偉",
        "log": "通行记录",
        "attendance": "考勤",
        "no_log": "暂无通行记录。",
        "no_days": "本月没有记录。",
        "not_found": "页面不存在",
        "visitors": "访客",
        "invite": "邀请访客",
        "visitor_email": "访客邮箱",
        "sign_out": "退出登录",
        "site_admin": "admin",
        "zone": "区域",
        "notify_tab": "通知投递",
        "channels": "通知渠道",
        "no_deliveries": "没有该状态的投递记录。",
    },
}


async def shot(page: Any, lang: str, name: str) -> None:
    """Screenshot the screen, then check every text on it has real glyphs."""
    await page.screenshot(path=screenshot_path(lang, f"tour-{name}"))
    await assert_page_glyphs(page)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_every_screen_draws_real_glyphs(sqlite_site: Site, demo: Demo, browser: Any, lang: str) -> None:
    n = TOUR[lang]
    server = sqlite_site.start_server()
    context = await browser.new_context(viewport=PHONE, locale=n["locale"], service_workers="block")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    try:
        await page.goto(server.http + "/")
        await page.get_by_label(n["username"]).fill(n["user"])
        await page.get_by_label(n["password"], exact=True).fill(demo.passwords[n["user"]])
        await shot(page, lang, "01-sign-in")
        await page.get_by_role("button", name=n["sign_in"], exact=True).click()
        await page.get_by_label(n["new"], exact=True).fill("a-fresh-password-for-the-tour")
        await page.get_by_label(n["repeat"], exact=True).fill("a-fresh-password-for-the-tour")
        await shot(page, lang, "02-new-password")
        await page.get_by_role("button", name=n["save"]).click()
        await page.get_by_role("button", name=n["bind"]).wait_for()
        await shot(page, lang, "03-bind")
        await assert_real_glyphs(page, [n["name"]])
        await page.get_by_role("button", name=n["bind"]).click()
        await page.get_by_role("img", name=n["qr"]).wait_for()
        await page.wait_for_function(
            "() => (document.querySelector('canvas.qr')?.dataset.token || '').startsWith('GH1:')"
        )
        await shot(page, lang, "04-pass")
        await assert_real_glyphs(page, [n["name"]])
        if lang == "zh-CN" and any("Noto Sans CJK SC" in f for f in installed_fonts_with("張")):
            # Where it is installed, the stylesheet's CJK face draws the name, not whichever one
            # Chromium's fallback would pick (its Japanese face, for a page without a CJK stack).
            assert await drawn_families(page, n["name"]) == {"Noto Sans CJK SC"}
        await page.get_by_role("button", name=n["log"]).click()
        await page.get_by_role("listitem").or_(page.get_by_text(n["no_log"])).first.wait_for()
        await shot(page, lang, "05-access-log")
        await page.get_by_role("button", name=n["attendance"]).click()
        await page.get_by_role("table").or_(page.get_by_text(n["no_days"])).first.wait_for()
        await shot(page, lang, "06-attendance")
        await page.get_by_role("button", name=n["visitors"], exact=True).click()
        await page.get_by_role("button", name=n["invite"]).click()
        await page.get_by_label(n["visitor_email"]).wait_for()
        await shot(page, lang, "07-host-invite")
        for address, name in (("/invite/ABCD2345EFGH", "20-invite"), ("/guard", "30-guard")):
            await page.goto(server.http + address)
            await page.get_by_role("heading").first.wait_for()
            await shot(page, lang, name)
        # The guard console's Notifications view, as a site admin (zoe and 張偉 are not gate staff).
        await page.get_by_role("button", name=n["sign_out"]).click()
        await page.get_by_label(n["username"]).fill(n["site_admin"])
        await page.get_by_label(n["password"], exact=True).fill(demo.passwords[n["site_admin"]])
        await page.get_by_role("button", name=n["sign_in"], exact=True).click()
        await page.get_by_label(n["new"], exact=True).fill("a-fresh-password-for-the-tour")
        await page.get_by_label(n["repeat"], exact=True).fill("a-fresh-password-for-the-tour")
        await page.get_by_role("button", name=n["save"]).click()
        await page.get_by_label(n["zone"]).wait_for()
        await page.get_by_role("button", name=n["notify_tab"]).click()
        await page.get_by_role("heading", name=n["channels"]).wait_for()
        await page.get_by_text(n["no_deliveries"]).wait_for()
        await shot(page, lang, "31-guard-notify")
        # The server answers only the app's addresses; the app's own "nothing here" screen shows
        # for an address it does not route, reached in the browser (history, not a request).
        await page.evaluate(
            "() => { history.pushState(null, '', '/no-such-screen'); dispatchEvent(new PopStateEvent('popstate')); }"
        )
        await page.get_by_role("heading", name=n["not_found"]).wait_for()
        await shot(page, lang, "90-not-found")
        assert watch.csp_violations() == [], watch.errors
    finally:
        await context.close()
