"""A person's own notification settings: their email, quiet hours, language, channels per kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Person
from resolvers.notifications import kinds, preferences
from resolvers.notifications.channels import email as email_channel
from resolvers.notifications.channels.registry import channels_of

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

EMAIL = email_channel.EMAIL
PERSONAL_CHANNELS = ("email", "webpush", "sms", "webhook")


@dataclass(frozen=True)
class KindSetting:
    kind: str
    label: str
    alarm: bool
    channels: list[str]
    available_channels: list[str]


@dataclass(frozen=True)
class MySettings:
    email_masked: str | None
    phone_masked: str | None
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    language: str
    channels: list[str]
    kinds: list[KindSetting]


@dataclass(frozen=True)
class Change:
    email: str | None = None
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    language: str | None = None
    kinds: dict[str, list[str]] | None = None
    quiet_given: bool = False


async def read(rt: Runtime, person_id: int) -> MySettings:
    person = await Person.get(id=person_id)
    configured = sorted(channels_of(rt))
    chosen = await preferences.chosen(person_id)
    rows = [
        KindSetting(
            kind=k.name,
            label=k.label(person.notify_language),
            alarm=k.alarm,
            channels=[c for c in chosen.get(k.name, list(k.defaults)) if c in configured],
            available_channels=configured,
        )
        for k in kinds.KINDS.values()
        if k.choosable
    ]
    return MySettings(
        email_masked=person.email_masked,
        phone_masked=person.phone_masked,
        quiet_hours_start=person.quiet_hours_start,
        quiet_hours_end=person.quiet_hours_end,
        language=kinds.language(person.notify_language),
        channels=configured,
        kinds=rows,
    )


async def change(rt: Runtime, person_id: int, data: Change) -> MySettings:
    fields: dict[str, object] = {}
    if data.email is not None:
        if data.email.strip() == "":
            fields.update(email_enc=None, email_hash=None, email_masked=None)
        else:
            address = email_channel.valid_address(data.email)
            if address is None:
                raise UserError(ErrorCode.INVALID, "not an email address", "email")
            fields.update(
                email_enc=rt.sealer.seal(address, EMAIL),
                email_hash=rt.sealer.lookup_hash(address, EMAIL),
                email_masked=email_channel.masked(address),
            )
    if data.quiet_given:
        start, end = data.quiet_hours_start or None, data.quiet_hours_end or None
        if (start is None) != (end is None):
            raise UserError(ErrorCode.INVALID, "give both quiet hours or neither", "quietHoursEnd")
        for value, field in ((start, "quietHoursStart"), (end, "quietHoursEnd")):
            if value is not None and preferences.parse_hhmm(value) is None:
                raise UserError(ErrorCode.INVALID, "a time of day HH:MM (00:00 to 23:59)", field)
        fields.update(quiet_hours_start=start, quiet_hours_end=end)
    if data.language is not None:
        if data.language not in kinds.LOCALES:
            raise UserError(ErrorCode.INVALID, "zh-CN or en", "language")
        fields["notify_language"] = data.language
    for kind, channels in (data.kinds or {}).items():
        spec = kinds.KINDS.get(kind)
        if spec is None or not spec.choosable:
            raise UserError(ErrorCode.INVALID, f"no notification kind {kind[:64]!r}", "kinds")
        unknown = [c for c in channels if c not in PERSONAL_CHANNELS]
        if unknown:
            raise UserError(ErrorCode.INVALID, f"no channel {unknown[0][:32]!r}", "kinds")
    async with in_transaction():
        if fields:
            await Person.filter(id=person_id).update(**fields)
        for kind, channels in (data.kinds or {}).items():
            await preferences.choose(person_id, kind, list(dict.fromkeys(channels)))
    return await read(rt, person_id)
