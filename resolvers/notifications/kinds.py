"""The fixed notification kinds: who may choose them, their default channels, whether they are
alarms, and their texts in 简体中文 and English.

Texts are `str.format_map` templates over the caller's `context`; a value is inserted as it is
(a visitor's "{name}" stays text) and each channel escapes it for its own format. A key missing
from the context renders as "-" rather than failing a send.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class Kind:
    name: str
    label_zh: str
    label_en: str
    subject: dict[str, str]
    text: dict[str, str]
    defaults: tuple[str, ...] = ("email", "webpush")
    alarm: bool = False
    choosable: bool = True  # shown among a person's settings (the invitation goes to visitors)

    def label(self, locale: str) -> str:
        return self.label_en if locale == "en" else self.label_zh


def _k(
    name: str,
    zh: str,
    en: str,
    subject: tuple[str, str],
    text: tuple[str, str],
    alarm: bool = False,
    choosable: bool = True,
    defaults: tuple[str, ...] = ("email", "webpush"),
) -> Kind:
    return Kind(
        name,
        zh,
        en,
        {"zh-CN": subject[0], "en": subject[1]},
        {"zh-CN": text[0], "en": text[1]},
        defaults=("webpush", "webhook", "sms", "email") if alarm else defaults,
        alarm=alarm,
        choosable=choosable,
    )


# A scheduled summary's figures (resolvers/attendance/summaries.py Figures), in both languages.
_SUMMARY_TEXT = (
    "{period}：通行{passages}次，拒绝{denials}次，访客签到{visitors}人，入库{stock_in}件，出库{stock_out}件，"
    "异常{anomalies}次。\n详见附件或链接中的 PDF。",
    "{period}: {passages} passages, {denials} denials, {visitors} visitors checked in, "
    "stock in {stock_in} units, stock out {stock_out} units, {anomalies} anomalies.\n"
    "The PDF is attached or linked.",
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        _k(
            "visit.invitation",
            "访客邀请",
            "Visitor invitation",
            ("{host}邀请您到访{site}", "{host} invites you to {site}"),
            (
                "{visitor}，您好：\n{host}邀请您于 {start} 至 {end} 到访{site}。\n"
                "请打开链接登记：\n{link}\n邀请码：{code}",
                "Dear {visitor},\n{host} invites you to {site} from {start} to {end}.\n"
                "Register with this link:\n{link}\nInvite code: {code}",
            ),
            choosable=False,
            defaults=("email", "sms"),
        ),
        _k(
            "visit.awaiting_approval",
            "待审批访客",
            "Visit awaiting approval",
            ("访客{visitor}待您审批", "{visitor}'s visit awaits your approval"),
            (
                "访客{visitor}已登记，{start} 到访，等待您审批。",
                "{visitor} registered for {start} and awaits approval.",
            ),
        ),
        _k(
            "visit.reminder",
            "访客提醒",
            "Visit reminder",
            ("访客{visitor}即将到访", "{visitor} is coming soon"),
            ("访客{visitor}将于 {start} 到访。", "{visitor} is expected at {start}."),
        ),
        _k(
            "visit.arrival",
            "访客到达",
            "Visitor arrived",
            ("访客{visitor}已到达", "{visitor} has arrived"),
            ("访客{visitor}已于 {at} 签到。", "{visitor} checked in at {at}."),
        ),
        _k(
            "visit.overstay",
            "访客超时",
            "Visitor overstay",
            ("访客超时：{visitor}", "Visitor overstay: {visitor}"),
            (
                "访客{visitor}在访问结束（{end}）后仍在场内，接待人：{host}。",
                "{visitor} is still inside after the visit ended ({end}); host: {host}.",
            ),
        ),
        _k(
            "visit.emergency",
            "紧急访客",
            "Emergency visit",
            ("紧急访客待您决定：{visitor}", "Emergency visit needs your decision: {visitor}"),
            ("{host}登记了紧急访客{visitor}：{reason}", "{host} filed an emergency visit by {visitor}: {reason}"),
        ),
        _k(
            "approval.pending",
            "待审批事项",
            "Approval waiting",
            ("待审批：{what}", "Waiting for your approval: {what}"),
            ("{what}", "{what}"),
        ),
        _k(
            "loan.overdue",
            "借用逾期",
            "Loan overdue",
            ("借用逾期：{item}", "Loan overdue: {item}"),
            ("{item} 应于 {due} 归还。", "{item} was due back on {due}."),
        ),
        _k(
            "alarm.device_offline",
            "设备离线",
            "Device offline",
            ("设备离线", "Device offline"),
            ("{message}（{at}）", "{message} ({at})"),
            alarm=True,
        ),
        _k(
            "alarm.door_forced",
            "强行开门",
            "Door forced",
            ("强行开门告警", "Door forced"),
            ("{message}（{at}）", "{message} ({at})"),
            alarm=True,
        ),
        _k(
            "alarm.repeated_denials",
            "多次拒绝",
            "Repeated denials",
            ("多次拒绝告警", "Repeated denials"),
            ("{message}（{at}）", "{message} ({at})"),
            alarm=True,
        ),
        _k(
            "summary.daily",
            "每日摘要",
            "Daily summary",
            ("每日摘要 {day}", "Daily summary {day}"),
            _SUMMARY_TEXT,
            defaults=("email",),
        ),
        _k(
            "summary.weekly",
            "每周摘要",
            "Weekly summary",
            ("每周摘要 {day}", "Weekly summary {day}"),
            _SUMMARY_TEXT,
            defaults=("email",),
        ),
    )
}

# Device alert kinds (resolvers/alerts/raising.py) → the notification they send to security.
ALERT_KINDS = {
    "offline": "alarm.device_offline",
    "forced": "alarm.door_forced",
    "held_open": "alarm.door_forced",
    "door_without_decision": "alarm.door_forced",
    "repeated_denials_credential": "alarm.repeated_denials",
    "repeated_denials_gate": "alarm.repeated_denials",
    "overstay": "visit.overstay",
}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"


def language(value: str | None) -> str:
    return "en" if value == "en" else "zh-CN"


def render(kind: str, locale: str, context: dict[str, str]) -> tuple[str, str]:
    """(subject, text) of `kind` in `locale` ("zh-CN" unless "en"), the subject on one line."""
    spec = KINDS[kind]
    locale = language(locale)
    values = _Blank({k: str(v) for k, v in context.items()})
    subject = spec.subject[locale].format_map(values)
    subject = " ".join(subject.split())  # no CR/LF (or any run of whitespace) in a subject, ever
    return subject, spec.text[locale].format_map(values)
