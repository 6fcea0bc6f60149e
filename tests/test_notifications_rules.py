"""Notification rules: backoff, quiet hours (clock injected), limits, rendering in both languages,
mail headers; and `notify()` / alarms against a real copy of the demo database, in-process."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tortoise.transactions import in_transaction

from resolvers.core import clock, db
from resolvers.core.errors import UserError
from resolvers.core.models import Notification, Person
from resolvers.core.settings import Settings, SettingsError
from resolvers.notifications import kinds, mine, outbox, preferences
from resolvers.notifications.channels import email as email_channel
from resolvers.notifications.channels.base import Message
from resolvers.notifications.sender import backoff
from resolvers.runtime import Runtime
from tests.harness import Site

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAIL = {
    "GATEHOUSE_SMTP_HOST": "127.0.0.1",
    "GATEHOUSE_SMTP_PORT": "2525",
    "GATEHOUSE_SMTP_TLS": "none",
    "GATEHOUSE_SMTP_FROM": "gate@example.test",
    "GATEHOUSE_PUBLIC_URL": "https://gate.example.test",
    "GATEHOUSE_TIME_ZONE": "Asia/Shanghai",
}


def test_backoff_doubles_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 8):
        delay = backoff(attempt, 5.0, rng=rng)
        assert 5.0 * 2 ** (attempt - 1) * 0.75 <= delay <= 5.0 * 2 ** (attempt - 1) * 1.25
    assert backoff(40, 5.0, cap=3600.0, rng=rng) <= 3600.0 * 1.25
    assert len({backoff(3, 5.0) for _ in range(20)}) > 1  # jitter: retries of many rows spread out


def test_quiet_hours_across_midnight_in_the_site_time_zone() -> None:
    at = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    until = preferences.quiet_until(at, "22:00", "07:00", SHANGHAI)
    assert until == datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI)
    early = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # 06:30 next day there
    assert preferences.quiet_until(early, "22:00", "07:00", SHANGHAI) == datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI)
    assert preferences.quiet_until(datetime(2026, 11, 30, 4, 0, tzinfo=UTC), "22:00", "07:00", SHANGHAI) is None
    assert preferences.quiet_until(at, "12:00", "14:00", SHANGHAI) is None
    assert preferences.quiet_until(at, None, "07:00", SHANGHAI) is None


@pytest.mark.parametrize("name", ["李娜", "張偉", "Zoë"])
def test_rendering_in_both_languages(name: str) -> None:
    context = {
        "visitor": name,
        "host": "王芳",
        "start": "2026-12-01 09:00",
        "end": "11:00",
        "site": "研发楼",
        "link": "https://x/invite/A",
        "code": "A",
    }
    subject_zh, text_zh = kinds.render("visit.invitation", "zh-CN", context)
    subject_en, text_en = kinds.render("visit.invitation", "en", context)
    assert subject_zh == "王芳邀请您到访研发楼" and subject_en == "王芳 invites you to 研发楼"
    assert text_zh.startswith(f"{name}，您好") and text_en.startswith(f"Dear {name},")
    assert "https://x/invite/A" in text_zh.split("\n") and "https://x/invite/A" in text_en.split("\n")
    # A placeholder typed by a visitor stays text; a missing one renders as "-".
    assert kinds.render("visit.arrival", "en", {"visitor": "{at}"})[0] == "{at} has arrived"
    assert kinds.render("visit.arrival", "en", {})[1] == "- checked in at -."
    assert kinds.KINDS["alarm.door_forced"].label("zh-CN") == "强行开门"


def test_mail_headers_cannot_be_injected() -> None:
    message = Message(
        kind="visit.invitation", key="visit.invitation.abc", subject="Eve\r\nBcc: x@y.z", text="李娜\nZoë"
    )
    mail = email_channel.build_email(message, "gate@example.test", "zoe@example.test")
    raw = mail.as_bytes()
    assert b"\r\nBcc:" not in raw and mail["Message-ID"] == "<visit.invitation.abc@example.test>"
    for bad in ("a@b.c\r\nBcc: x@y.z", "a@b.c, x@y.z", "<a@b.c>", "no-at", "a@b", "a b@c.d"):
        assert email_channel.valid_address(bad) is None, bad
    assert email_channel.valid_address("zoë@例子.测试") == "zoë@例子.测试"


def test_malformed_notification_settings_stop_the_start() -> None:
    for env, needle in (
        ({"GATEHOUSE_SMTP_HOST": "mail", "GATEHOUSE_SMTP_FROM": "a@b.c"}, "GATEHOUSE_PUBLIC_URL must be set"),
        ({**MAIL, "GATEHOUSE_PUBLIC_URL": "gate.example.test"}, r"GATEHOUSE_PUBLIC_URL must be an http\(s\) URL"),
        ({**MAIL, "GATEHOUSE_SMTP_TLS": "ssl"}, "GATEHOUSE_SMTP_TLS"),
        ({**MAIL, "GATEHOUSE_SMTP_FROM": "nobody"}, "GATEHOUSE_SMTP_FROM"),
        ({**MAIL, "GATEHOUSE_NOTIFY_MAX_ATTEMPTS": "0"}, "GATEHOUSE_NOTIFY_MAX_ATTEMPTS"),
    ):
        with pytest.raises(SettingsError, match=needle):
            Settings.from_env(env)


# --------------------------------------------------------------------------- against the database


@pytest.fixture
async def rt(sqlite_site: Site, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    env = {**sqlite_site.env, **MAIL, "GATEHOUSE_NOTIFY_PER_RECIPIENT_HOUR": "3", "GATEHOUSE_NOTIFY_PER_HOST_HOUR": "4"}
    runtime = Runtime.create(Settings.from_env(env))
    await db.start(runtime.settings.database_url)
    await runtime.load_keys()
    try:
        yield runtime
    finally:
        await db.close()


def at(moment: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: moment)


async def person(username: str) -> Person:
    return await Person.get(username=username)


async def test_quiet_hours_defer_a_non_alarm_and_not_an_alarm(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = await person("security")
    await mine.change(
        rt,
        guard.id,
        mine.Change(email="guard@example.test", quiet_hours_start="22:00", quiet_hours_end="07:00", quiet_given=True),
    )
    night = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 23:30 site time
    at(night, monkeypatch)
    async with in_transaction() as conn:
        late = await outbox.notify(
            rt, "visit.overstay", recipients=[guard.id], context={"message": "张伟超时"}, connection=conn
        )
        alarm = await outbox.notify(
            rt, "alarm.door_forced", recipients=[guard.id], context={"message": "door forced"}, connection=conn
        )
    assert [r.channel for r in late] == ["email"]
    assert late[0].next_attempt_at == datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI)
    assert alarm[0].next_attempt_at == night and alarm[0].status == "pending"
    # The sealed payload renders the person's language, and opens to the same message.
    await mine.change(rt, guard.id, mine.Change(language="en"))
    async with in_transaction() as conn:
        (row,) = await outbox.notify(
            rt, "alarm.door_forced", recipients=[guard.id], context={"message": "Zoë"}, connection=conn
        )
    message = outbox.open_message(rt, row.payload_enc or b"")
    assert (message.subject, message.text, message.alarm, message.locale) == ("Door forced", "Zoë (-)", True, "en")


async def test_a_rolled_back_change_leaves_no_notification(rt: Runtime) -> None:
    guard = await person("security")
    await mine.change(rt, guard.id, mine.Change(email="guard@example.test"))
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await outbox.notify(rt, "alarm.door_forced", recipients=[guard.id], context={}, connection=conn)
            raise RuntimeError("the change failed")
    assert await Notification.all().count() == 0


async def test_limits_suppress_per_recipient_and_per_host(rt: Runtime) -> None:
    guard = await person("security")
    await mine.change(rt, guard.id, mine.Change(email="guard@example.test"))
    statuses = []
    for _ in range(5):
        async with in_transaction() as conn:
            (row,) = await outbox.notify(rt, "alarm.door_forced", recipients=[guard.id], context={}, connection=conn)
        statuses.append((row.status, row.last_error))
    assert [s for s, _ in statuses] == ["pending"] * 3 + ["suppressed"] * 2
    assert "per hour" in statuses[-1][1]
    host = (await person("alice")).id
    hosted = []
    for i in range(6):
        async with in_transaction() as conn:
            rows = await outbox.notify(
                rt,
                "visit.invitation",
                recipients=[outbox.Recipient(email=f"v{i}@example.test")],
                context={},
                connection=conn,
                host_id=host,
            )
        hosted.append(rows[0].status)
    assert hosted == ["pending"] * 4 + ["suppressed"] * 2


async def test_failed_messages_are_kept_for_a_retry_then_cleared(rt: Runtime) -> None:
    from resolvers.core.models.notifications import FAILED
    from resolvers.notifications import admin
    from resolvers.notifications.sender import clear_old_messages

    guard = await person("security")
    await mine.change(rt, guard.id, mine.Change(email="guard@example.test"))
    async with in_transaction() as conn:
        (row,) = await outbox.notify(rt, "alarm.door_forced", recipients=[guard.id], context={}, connection=conn)
    await Notification.filter(id=row.id).update(status=FAILED, attempts=8, last_error="SMTP unreachable")
    written = row.created_at
    # Within the days kept: nothing cleared, and an admin's retry queues it with its message.
    assert await clear_old_messages(rt, written + timedelta(days=6)) == 0
    assert (await admin.retry(str(row.id))).status == "pending"
    await Notification.filter(id=row.id).update(status=FAILED)
    # After them the sealed message goes, the row stays, and a retry says why it cannot.
    assert await clear_old_messages(rt, written + timedelta(days=7, minutes=1)) == 1
    kept = await Notification.get(id=row.id)
    assert (kept.status, kept.payload_enc) == (FAILED, None)
    with pytest.raises(UserError, match="cleared"):
        await admin.retry(str(row.id))


async def test_every_alarm_reaches_security(rt: Runtime) -> None:
    from resolvers.alerts.raising import raise_alert

    guard = await person("security")
    await mine.change(rt, guard.id, mine.Change(email="guard@example.test"))
    await rt.bus.connect()
    try:
        alert = await raise_alert(rt, "forced", "door forced at 正门")
        await raise_alert(rt, "below_target", "not an alarm")
    finally:
        await rt.bus.disconnect()
    rows = await Notification.all()
    assert [(r.kind, r.person_id, r.cause) for r in rows] == [("alarm.door_forced", guard.id, f"alert:{alert.id}")]


async def test_my_settings_refuse_bad_values(rt: Runtime) -> None:
    from resolvers.core.errors import UserError

    me = (await person("alice")).id
    for change, field in (
        (mine.Change(email="x@y.z\r\nBcc: a@b.c"), "email"),
        (mine.Change(quiet_hours_start="25:00", quiet_hours_end="07:00", quiet_given=True), "quietHoursStart"),
        (mine.Change(quiet_hours_start="22:00", quiet_given=True), "quietHoursEnd"),
        (mine.Change(language="fr"), "language"),
        (mine.Change(kinds={"visit.invitation": ["email"]}), "kinds"),
        (mine.Change(kinds={"visit.arrival": ["pigeon"]}), "kinds"),
    ):
        with pytest.raises(UserError) as refused:
            await mine.change(rt, me, change)
        assert refused.value.field == field
    done = await mine.change(rt, me, mine.Change(email="Zoë@example.test", kinds={"visit.arrival": []}))
    assert done.email_masked == "Z***@example.test"
    assert next(k for k in done.kinds if k.kind == "visit.arrival").channels == []
    assert all(not k.kind.startswith("visit.invitation") for k in done.kinds)
