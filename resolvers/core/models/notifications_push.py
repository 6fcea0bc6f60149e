"""Web Push subscriptions (issue 16): one row per browser a person turned notifications on in.

The endpoint is the push service's URL for that browser (a capability: whoever holds it and the keys
can write to the phone), so it is unique and deleted when the push service says it is gone.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class PushSubscription(Model):
    id = fields.IntField(primary_key=True)
    person_id = fields.IntField()
    endpoint = fields.CharField(max_length=1024, unique=True)
    p256dh = fields.CharField(max_length=100)  # the browser's P-256 public key, base64url (65 bytes)
    auth = fields.CharField(max_length=32)  # the 16-byte auth secret, base64url
    user_agent = fields.CharField(max_length=256, null=True)
    created_at = fields.DatetimeField()
    last_success_at = fields.DatetimeField(null=True)

    class Meta:
        table = "push_subscription"
        indexes = (("person_id",),)
