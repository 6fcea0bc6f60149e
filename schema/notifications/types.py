"""Notification settings and deliveries as the apps see them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.notifications import mine
from resolvers.notifications.channels.base import ChannelHealth
from schema.core.payloads import UserError

DELIVERY_CURSOR_KIND = "notification"


@strawberry.type(description="One notification kind among a person's settings.")
class NotificationKindSetting:
    kind: str = strawberry.field(description='e.g. "alarm.door_forced".')
    label: str = strawberry.field(description="Its name in the person's language (设备离线 / Device offline).")
    alarm: bool = strawberry.field(description="A security alarm: sent in quiet hours too.")
    channels: list[str] = strawberry.field(description="The channels the person takes it on.")
    available_channels: list[str] = strawberry.field(description="The channels this server has.")


@strawberry.type(description="The caller's notification settings.")
class NotificationSettings:
    email_masked: str | None = strawberry.field(description="The caller's email, masked; null when none is given.")
    phone_masked: str | None = strawberry.field(description="The caller's phone, masked.")
    quiet_hours_start: str | None = strawberry.field(description='"HH:MM" in the site\'s time zone, or null.')
    quiet_hours_end: str | None = strawberry.field(description='"HH:MM" in the site\'s time zone, or null.')
    language: str = strawberry.field(description='"zh-CN" or "en": the language of messages sent to me.')
    channels: list[str] = strawberry.field(description="Channels configured on this server.")
    kinds: list[NotificationKindSetting] = strawberry.field(description="Each kind the caller may choose channels for.")

    @classmethod
    def of(cls, s: mine.MySettings) -> NotificationSettings:
        return cls(
            email_masked=s.email_masked,
            phone_masked=s.phone_masked,
            quiet_hours_start=s.quiet_hours_start,
            quiet_hours_end=s.quiet_hours_end,
            language=s.language,
            channels=s.channels,
            kinds=[
                NotificationKindSetting(
                    kind=k.kind,
                    label=k.label,
                    alarm=k.alarm,
                    channels=k.channels,
                    available_channels=k.available_channels,
                )
                for k in s.kinds
            ],
        )


@strawberry.type(description="setMyNotificationSettings' answer.")
class NotificationSettingsPayload:
    settings: NotificationSettings | None = strawberry.field(default=None, description="The settings as now stored.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="What to fix; nothing changed.")


@strawberry.type(description="One message to one address on one channel, as admins see it (never its content).")
class NotificationDelivery:
    id: strawberry.ID = strawberry.field(description="The delivery's id (retryNotification takes it).")
    kind: str = strawberry.field(description='e.g. "visit.invitation".')
    channel: str = strawberry.field(description="The channel it goes by.")
    status: str = strawberry.field(description="pending, sending, sent, failed or suppressed.")
    address_masked: str = strawberry.field(description="The address, masked (l***@example.com).")
    attempts: int = strawberry.field(description="Sends tried so far.")
    last_error: str = strawberry.field(description="Why the last attempt failed, or why it was suppressed.")
    cause: str = strawberry.field(description='What caused it, e.g. "visit:42", "alert:7".')
    created_at: datetime = strawberry.field(description="When it was written (with the change that caused it).")
    next_attempt_at: datetime = strawberry.field(
        description="When it is (or was) due: after quiet hours, or the next retry."
    )
    sent_at: datetime | None = strawberry.field(description="When the peer took it, if it did.")


@strawberry.type(description="A configured channel's health.")
class NotificationChannel:
    name: str = strawberry.field(description='"email", "webpush", "webhook" or "sms".')
    configured: bool = strawberry.field(description="Whether its settings are set.")
    last_success_at: str | None = strawberry.field(description="This worker's last successful send (ISO 8601), if any.")
    last_failure_at: str | None = strawberry.field(description="This worker's last failed send (ISO 8601), if any.")
    last_error: str | None = strawberry.field(description="Why that send failed.")
    pending: int = strawberry.field(description="Notifications waiting or being sent on it.")
    failed: int = strawberry.field(description="Notifications given up on it.")

    @classmethod
    def of(cls, h: ChannelHealth) -> NotificationChannel:
        return cls(
            name=h.name,
            configured=h.configured,
            last_success_at=h.last_success_at,
            last_failure_at=h.last_failure_at,
            last_error=h.last_error,
            pending=h.pending,
            failed=h.failed,
        )


@strawberry.type(description="retryNotification's answer.")
class NotificationDeliveryPayload:
    delivery: NotificationDelivery | None = strawberry.field(default=None, description="The delivery, pending again.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="What to fix; nothing changed.")


@strawberry.input(description="One kind's channels.")
class NotificationKindInput:
    kind: str = strawberry.field(description='A kind, e.g. "visit.arrival" (not visit.invitation).')
    channels: list[str] = strawberry.field(description="The channels to take it on ([] for none).")


@strawberry.input(description="What to change; fields left out stay. An empty email removes it.")
class NotificationSettingsInput:
    email: str | None = strawberry.field(default=strawberry.UNSET, description='The caller\'s email ("" removes it).')
    quiet_hours_start: str | None = strawberry.field(
        default=strawberry.UNSET, description='"HH:MM" site time, or null to have none (with quietHoursEnd).'
    )
    quiet_hours_end: str | None = strawberry.field(
        default=strawberry.UNSET, description='"HH:MM" site time, or null to have none (with quietHoursStart).'
    )
    language: str | None = strawberry.field(default=strawberry.UNSET, description='"zh-CN" or "en".')
    kinds: list[NotificationKindInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Channels per kind; kinds left out stay."
    )
