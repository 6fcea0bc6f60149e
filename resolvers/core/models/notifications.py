"""The notification outbox (resolvers/notifications/outbox.py): one row per message to one address
on one channel, written in the transaction of the change that caused it, sent by the leader."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SUPPRESSED = "suppressed"
STATUSES = (PENDING, SENDING, SENT, FAILED, SUPPRESSED)


class Notification(Model):
    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=128, unique=True)  # idempotency: Message-ID, X-Gatehouse-Delivery
    kind = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=32)
    person_id = fields.IntField(null=True)  # null: a visitor's email, a robot target
    host_id = fields.IntField(null=True)  # whose action sent it (the per-host limit)
    address_enc = fields.BinaryField()
    address_hash = fields.CharField(max_length=64)  # the per-recipient limit counts by it
    payload_enc = fields.BinaryField(
        null=True
    )  # the rendered Message, sealed; cleared once sent, or GATEHOUSE_NOTIFY_KEEP_FAILED_DAYS after it failed
    status = fields.CharField(max_length=16, default=PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    provider_id = fields.CharField(max_length=200, null=True)
    cause = fields.CharField(max_length=64, default="")

    class Meta:
        table = "notification"
        indexes = (("status", "next_attempt_at"), ("address_hash", "created_at"), ("host_id", "created_at"))


class NotificationPreference(Model):
    id = fields.IntField(primary_key=True)
    person_id = fields.IntField()
    kind = fields.CharField(max_length=64)
    channels: fields.JSONField[list[str]] = fields.JSONField(default=list)

    class Meta:
        table = "notification_preference"
        unique_together = (("person_id", "kind"),)
