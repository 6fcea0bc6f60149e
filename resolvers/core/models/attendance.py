"""Work schedules and attendance corrections."""

from __future__ import annotations

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
