"""Work schedules, attendance corrections and the scheduled summaries for leadership."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class WorkSchedule(Model):
    """A shift: weekdays, start and end in the site's time zone (end before start crosses midnight)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    weekdays: fields.JSONField[list[int]] = fields.JSONField(default=list)
    start = fields.CharField(max_length=5)
    end = fields.CharField(max_length=5)
    grace_minutes = fields.IntField(default=5)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "work_schedule"


class AttendanceCorrection(Model):
    """HR's correction of one person's day (a forgotten exit scan, a broken gate), with the reason."""

    id = fields.IntField(primary_key=True)
    person_id = fields.IntField()
    day = fields.DateField()
    first_in = fields.DatetimeField(null=True)
    last_out = fields.DatetimeField(null=True)
    reason = fields.CharField(max_length=500)
    corrected_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attendance_correction"
        indexes = (("person_id", "day"),)


class ScheduledSummary(Model):
    """A daily or weekly summary for leadership (POLICY 6.2), made once per period by upkeep."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=8)  # DAILY or WEEKLY
    period_start = fields.DateField()  # the first day, in the site's time zone
    period_end = fields.DateField()  # the last day, inclusive
    # The figures as they stood when produced; the PDF and CSV are rendered from them on download.
    figures: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    produced_at = fields.DatetimeField()

    class Meta:
        table = "scheduled_summary"
        # One summary per period, however many server processes run the upkeep: insert-or-skip.
        unique_together = (("kind", "period_start"),)
