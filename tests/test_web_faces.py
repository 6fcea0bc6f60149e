"""The phone app's face screen (issue 15) in a real browser against a real server: an employee
with a Chinese name reads the separate consent in 简体中文 and in English (the server's text, its
version), cannot send a photo before ticking it, is refused a photo with no face with the reason
in their language, enrols a real face (a photo far larger than the upload limit, shrunk to a JPEG
by the page), withdraws behind a confirmation (the template is gone at once), and offline the
screen says it needs a connection. Screenshots go to var/screenshots/{en,zh-CN}/.
"""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any

import numpy as np
from PIL import Image

from mobile_contracts import documents
from tests.browser import (  # noqa: F401  (the fixture)
    CONTRACT_NAMES,
    PHONE,
    PageWatch,
    assert_page_glyphs,
    assert_real_glyphs,
    browser_fixture,
    screenshot_path,
)
from tests.harness import Demo, GraphQLClient, Site, operation_index

USERNAME = "zhangwei"  # 張偉: a Traditional-Chinese name on a Simplified-Chinese page
NEW_PASSWORD = "fresh-zhangwei-password-42"
LIMIT = 512 * 1024

NAMES = {
    "en": {
        **CONTRACT_NAMES["en"],
        "menu": "Face",
        "title": "My face",
        "not_enrolled": "No face is enrolled for you.",
        "enrolled_since": "Your face is enrolled since",
        "enrol": "Enrol my face",
        "consent_title": "Separate consent to face recognition",
        "agree": "I have read this text and separately consent to the processing of my face",
        "photo": "Photo of my face",
        "need_consent": "Tick the consent box before you send a photo.",
        "submit": "Send photo and enrol",
        "no_face": "No face was found in this photo.",
        "withdraw": "Withdraw consent and delete my face",
        "confirm": "Yes, withdraw and delete my face",
        "version": "Consent text version {version}",
        "offline": "The face screen needs a connection",
    },
    "zh-CN": {
        **CONTRACT_NAMES["zh-CN"],
        "menu": "人脸",
        "title": "我的人脸",
        "not_enrolled": "您尚未录入人脸",
        "enrolled_since": "您的人脸录入于",
        "enrol": "录入我的人脸",
        "consent_title": "人脸识别单独同意书",
        "agree": "我已阅读上述内容，并单独同意处理我的人脸信息",
        "photo": "我的人脸照片",
        "need_consent": "发送照片前，请先勾选同意。",
        "submit": "发送照片并录入",
        "no_face": "照片中未找到人脸。",
        "withdraw": "撤回同意并删除我的人脸",
        "confirm": "确定撤回并删除我的人脸",
        "version": "同意书版本 {version}",
        "offline": "人脸页面需要网络连接",
    },
}


def png_without_a_face() -> bytes:
    """A plain grey picture: a valid image in which no detector finds a face."""
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 180, 176)).save(out, "PNG")
    return out.getvalue()


def photo_with_a_face() -> bytes:
    """skimage's astronaut (Eileen Collins), head and shoulders, blown up to 2048 px wide and
    saved as a PNG several times the upload limit, so that only the page's shrinking lets it in."""
    from skimage import data

    head = Image.fromarray(np.asarray(data.astronaut())[0:320])
    out = io.BytesIO()
    head.resize((head.width * 4, head.height * 4), Image.Resampling.BICUBIC).save(out, "PNG")
    return out.getvalue()


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def consent_matches(page: Any, api: GraphQLClient, lang: str) -> str:
    """The consent on screen is the server's text in `lang`, with its version; returns the version."""
    n = NAMES[lang]
    await page.get_by_role("heading", name=n["consent_title"]).wait_for()
    served = (await api.op_ok("FaceConsent", {"language": lang}))["faceConsent"]
    assert served["text"].strip() and served["version"], served
    shown = page.locator(".consent-text")
    await page.wait_for_function(
        "(want) => (document.querySelector('.consent-text')?.innerText || '').replace(/\\s+/g, '') === want",
        arg=flat(served["text"]),
    )
    assert await shown.get_attribute("lang") == lang
    await page.get_by_text(n["version"].format(version=served["version"]), exact=True).wait_for()
    return str(served["version"])


async def sent_photos(requests: list[Any]) -> list[bytes]:
    photos = []
    for request in requests:
        body = json.loads(request.post_data or "{}")
        if body.get("operationName") == "EnrolMyFace":
            photos.append(base64.b64decode(body["variables"]["photo"], validate=True))
    return photos


async def test_employee_consents_enrols_a_face_and_withdraws_in_both_languages(
    sqlite_site: Site, demo: Demo, browser: Any
) -> None:
    server = sqlite_site.start_server()
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", service_workers="block")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/graphql") else None)
    zh, en = NAMES["zh-CN"], NAMES["en"]
    try:
        # The demo's passwords are issued ones: a new one first, then the home (the pass to bind).
        await page.goto(server.http + "/")
        await page.get_by_label(zh["username"]).fill(USERNAME)
        await page.get_by_label(zh["password"], exact=True).fill(demo.passwords[USERNAME])
        await page.get_by_role("button", name=zh["sign_in"], exact=True).click()
        await page.get_by_label(zh["new"], exact=True).fill(NEW_PASSWORD)
        await page.get_by_label(zh["repeat"], exact=True).fill(NEW_PASSWORD)
        await page.get_by_role("button", name=zh["save"]).click()
        await page.get_by_role("button", name=zh["bind"]).wait_for()
        api = await GraphQLClient(server, demo=demo, operations=operation_index(documents())).login(
            USERNAME, NEW_PASSWORD
        )

        # The Face screen from the home's menu: nothing enrolled yet.
        await page.get_by_role("button", name=zh["menu"], exact=True).click()
        await page.get_by_role("heading", name=zh["title"]).wait_for()
        await page.get_by_text(zh["not_enrolled"]).wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "40-face-none"))

        # The consent: the server's Chinese text and version, its box not ticked, nothing to send.
        await page.get_by_role("button", name=zh["enrol"]).click()
        version = await consent_matches(page, api, "zh-CN")
        agree = page.get_by_role("checkbox", name=zh["agree"])
        assert await agree.is_checked() is False
        submit = page.get_by_role("button", name=zh["submit"])
        await page.get_by_text(zh["need_consent"]).wait_for()
        assert await submit.is_disabled()
        # A photo without the consent still cannot be sent.
        await page.get_by_label(zh["photo"]).set_input_files(
            {"name": "face.png", "mimeType": "image/png", "buffer": photo_with_a_face()}
        )
        assert await submit.is_disabled()
        await page.screenshot(path=screenshot_path("zh-CN", "41-face-consent"), full_page=True)
        await assert_page_glyphs(page)

        # English: the server's English text, the same version.
        await page.get_by_label("Language / 语言").select_option("en")
        assert await consent_matches(page, api, "en") == version
        await page.get_by_text(en["need_consent"]).wait_for()
        assert await page.get_by_role("button", name=en["submit"]).is_disabled()
        assert await sent_photos(posts) == []

        # A photo with no face: refused next to the photo, with the reason in English.
        await page.get_by_role("checkbox", name=en["agree"]).check()
        photo = page.get_by_label(en["photo"])
        await photo.set_input_files({"name": "wall.png", "mimeType": "image/png", "buffer": png_without_a_face()})
        await page.get_by_role("button", name=en["submit"]).click()
        refusal = page.locator("#face-photo-error").get_by_role("alert")
        await refusal.wait_for()
        assert en["no_face"] in (await refusal.inner_text()), await refusal.inner_text()
        assert await photo.get_attribute("aria-invalid") == "true"
        await page.screenshot(path=screenshot_path("en", "42-face-no-face"), full_page=True)
        assert (await api.op_ok("MyFace"))["myFace"]["enrolled"] is False

        # A real face, far over the limit as taken: the page sends a JPEG of at most 1024 px.
        big = photo_with_a_face()
        assert len(big) > LIMIT
        await photo.set_input_files({"name": "me.png", "mimeType": "image/png", "buffer": big})
        await page.get_by_role("button", name=en["submit"]).click()
        await page.get_by_text(en["enrolled_since"]).wait_for()
        await page.screenshot(path=screenshot_path("en", "43-face-enrolled"))
        sent = await sent_photos(posts)
        assert len(sent) == 2, len(sent)
        for jpeg in sent:
            assert len(jpeg) <= LIMIT and jpeg[:3] == b"\xff\xd8\xff", len(jpeg)
            with Image.open(io.BytesIO(jpeg)) as image:
                assert image.format == "JPEG" and max(image.size) <= 1024, image.size
        face = (await api.op_ok("MyFace"))["myFace"]
        assert face["enrolled"] is True and face["consentVersion"] == version and face["consentedAt"], face
        await page.get_by_text(en["version"].format(version=version)).wait_for()

        # Withdraw, in Chinese, behind a confirmation: after it, nothing enrolled, here and on the server.
        await page.get_by_label("Language / 语言").select_option("zh-CN")
        await page.get_by_text(zh["enrolled_since"]).wait_for()
        await assert_real_glyphs(page, [zh["enrolled_since"]])
        await page.get_by_role("button", name=zh["withdraw"]).click()
        dialog = page.get_by_role("alertdialog")
        await dialog.wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "44-face-withdraw"))
        assert (await api.op_ok("MyFace"))["myFace"]["enrolled"] is True  # not before the confirmation
        await dialog.get_by_role("button", name=zh["confirm"]).click()
        await page.get_by_text(zh["not_enrolled"]).wait_for()
        assert (await api.op_ok("MyFace"))["myFace"]["enrolled"] is False

        # Offline: the screen says it needs a connection instead of failing.
        await context.set_offline(True)
        await page.get_by_role("status").filter(has_text=zh["offline"]).wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "45-face-offline"))
        await assert_page_glyphs(page)
        assert watch.csp_violations() == [], watch.errors
    finally:
        await context.close()
