"""The consent text a person agrees to before their face is enrolled (PIPL art. 28-29: a face is
sensitive personal information and needs its own, separate consent).

Versions are kept in the code: a consent record names the version the person saw, and a new
version (changed wording) makes enrolment ask again. Only CURRENT may be given now.
"""

from __future__ import annotations

from resolvers.core.errors import ErrorCode, UserError

CURRENT = "2026-11-v1"
LANGUAGES = ("zh-CN", "en")

TEXTS: dict[str, dict[str, str]] = {
    "2026-11-v1": {
        "zh-CN": (
            "人脸识别单独同意书\n"
            "人脸信息属于敏感个人信息。经您单独同意后，本系统将根据您提供的照片生成人脸特征值"
            "（模板），仅用于本场所门禁的身份识别。系统只保存加密后的特征值，不保存照片；"
            "特征值使用专用密钥加密，不会通过任何接口返回，也不会写入日志。\n"
            "人脸识别不是进入的唯一方式：您仍可使用二维码通行证或由门岗人工登记进入。\n"
            "您可以随时在应用中撤回同意，撤回后特征值立即删除；离职或访问结束时也会删除。"
        ),
        "en": (
            "Separate consent to face recognition\n"
            "A face is sensitive personal information. With your separate consent this system makes a face "
            "template (a list of numbers) from the photo you give, used only to recognise you at this site's "
            "gates. Only the encrypted template is kept, not the photo; it is encrypted under a key of its own, "
            "never returned by any interface and never written to logs.\n"
            "Your face is never the only way in: your QR pass and manual entry at the gate keep working.\n"
            "You may withdraw this consent at any time in the app: the template is then deleted at once. It "
            "is also deleted when you leave the company or your visit ends."
        ),
    },
}


def text(language: str) -> tuple[str, str]:
    """The current version and its text in `language`: Chinese for any "zh" tag, else English
    (a phone set to another language still gets a text its user can be shown)."""
    chosen = "zh-CN" if language.strip().lower().startswith("zh") else "en"
    return CURRENT, TEXTS[CURRENT][chosen]


def check_version(version: str) -> None:
    if version == CURRENT:
        return
    if version in TEXTS:
        raise UserError(
            ErrorCode.INVALID,
            f"consent version {version} has been replaced: show the current text ({CURRENT}) and ask again",
            "consentVersion",
        )
    raise UserError(ErrorCode.INVALID, f"unknown consent version: the current one is {CURRENT}", "consentVersion")
