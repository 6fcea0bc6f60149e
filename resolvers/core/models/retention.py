"""What retention and erasure keep (README "Retention and erasure"): attendance days summed up
before their passages are purged, how far the purge has gone, and which audit entries an
erasure rewrote."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AttendanceDayTally(Model):
    """One person's attendance day as `day_tallies.day_tallies` summed it up from the passages,
    stored before those passages are purged, so attendance for days still kept reads the same."""

    id = fields.BigIntField(primary_key=True)
    person_id = fields.IntField()
    day = fields.DateField()
    passages = fields.IntField()
    first_in = fields.DatetimeField(null=True)
    last_out = fields.DatetimeField(null=True)
    inside_us = fields.BigIntField(default=0)  # time inside, microseconds
    ends_inside = fields.BooleanField(default=False)
    exits_before_entry = fields.IntField(default=0)

    class Meta:
        table = "attendance_day_tally"
        unique_together = (("person_id", "day"),)
        indexes = (("day",),)


class RetentionMark(Model):
    """How far a purge has gone. `passages`: attendance days before `since` are read from
    AttendanceDayTally (their passages may be gone); days from `since` on from the passages."""

    kind = fields.CharField(max_length=32, primary_key=True)
    since = fields.DateField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "retention_mark"


class AuditRedaction(Model):
    """An audit entry whose names an erasure replaced by a pseudonym (PIPL art. 47). The audit
    log's triggers let an entry change only in `actor_name` and `detail`, and only with a row
    here naming the erasure's own audit entry (who, when, why); rows here are append-only too."""

    id = fields.BigIntField(primary_key=True)
    entry_id = fields.BigIntField()
    erasure_entry_id = fields.BigIntField()
    at = fields.DatetimeField()

    class Meta:
        table = "audit_redaction"
        unique_together = (("entry_id", "erasure_entry_id"),)
