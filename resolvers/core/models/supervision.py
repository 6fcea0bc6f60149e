"""Supervision (POLICY 7): inspections, their checklists and findings, rectification notices.

People and departments are plain id columns, as on Department: a person erased or offboarded
must not be held back by an inspection that names them, and the inspection keeps its record."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class InspectionKind(str, Enum):
    PERIODIC = "PERIODIC"
    SPOT = "SPOT"
    SPECIAL = "SPECIAL"


class InspectionStatus(str, Enum):
    PLANNED = "PLANNED"
    IN_PROGRESS = "IN_PROGRESS"
    REPORTED = "REPORTED"


class FindingStatus(str, Enum):
    PROPOSED = "PROPOSED"
    CONFIRMED = "CONFIRMED"
    DISMISSED = "DISMISSED"


class NoticeStatus(str, Enum):
    ISSUED = "ISSUED"
    ANSWERED = "ANSWERED"
    RETURNED = "RETURNED"
    VERIFIED = "VERIFIED"


class InspectionSchedule(Model):
    """A periodic inspection: the leading worker's upkeep opens one each time it falls due."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    areas: fields.JSONField[list[str]] = fields.JSONField(default=list)
    cadence = fields.CharField(max_length=16)  # MONTHLY or QUARTERLY
    day = fields.IntField()  # day of the month it opens, 1-28
    lead_id = fields.IntField()
    next_due = fields.DateField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "inspection_schedule"


class Inspection(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(InspectionKind, max_length=16)
    title = fields.CharField(max_length=200)
    topic = fields.CharField(max_length=500, default="")
    areas: fields.JSONField[list[str]] = fields.JSONField(default=list)
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    sample = fields.CharField(max_length=1000, default="")
    # A spot check's sample: findings about other departments are not proposed to it.
    sample_department_ids: fields.JSONField[list[int]] = fields.JSONField(default=list)
    status = fields.CharEnumField(InspectionStatus, max_length=16)
    lead_id = fields.IntField()
    member_ids: fields.JSONField[list[int]] = fields.JSONField(default=list)
    schedule_id = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    started_at = fields.DatetimeField(null=True)
    reported_at = fields.DatetimeField(null=True)
    # What the report shows, frozen when it is reported: the PDF is drawn from this.
    report: fields.JSONField[dict[str, object]] | None = fields.JSONField(null=True)

    class Meta:
        table = "inspection"
        # A schedule opens one inspection per period, whichever worker led at the time.
        unique_together = (("schedule_id", "period_start"),)
        indexes = (("status",),)


class ChecklistItem(Model):
    id = fields.IntField(primary_key=True)
    inspection: fields.ForeignKeyRelation[Inspection] = fields.ForeignKeyField(
        "models.Inspection", related_name="checklist", on_delete=fields.CASCADE
    )
    inspection_id: int
    position = fields.IntField()
    area = fields.CharField(max_length=16)
    text = fields.CharField(max_length=500)
    result = fields.CharField(max_length=4, null=True)  # PASS, FAIL or NA once answered
    note = fields.CharField(max_length=1000, default="")
    answered_by_id = fields.IntField(null=True)
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inspection_checklist_item"


class Finding(Model):
    id = fields.IntField(primary_key=True)
    inspection: fields.ForeignKeyRelation[Inspection] = fields.ForeignKeyField(
        "models.Inspection", related_name="findings", on_delete=fields.CASCADE
    )
    inspection_id: int
    source = fields.CharField(max_length=64)  # a registered source's name, or "manual"
    key = fields.CharField(max_length=200)
    area = fields.CharField(max_length=16)
    summary = fields.CharField(max_length=1000)
    department_id = fields.IntField(null=True)
    subject_type = fields.CharField(max_length=32, null=True)
    subject_id = fields.CharField(max_length=64, null=True)
    evidence: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)
    status = fields.CharEnumField(FindingStatus, max_length=16)
    created_at = fields.DatetimeField()
    decided_by_id = fields.IntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    reason = fields.CharField(max_length=1000, default="")

    class Meta:
        table = "inspection_finding"
        # The same fact is proposed to an inspection once, whatever was decided about it.
        unique_together = (("inspection_id", "key"),)


class RectificationNotice(Model):
    id = fields.IntField(primary_key=True)
    inspection: fields.ForeignKeyRelation[Inspection] = fields.ForeignKeyField(
        "models.Inspection", related_name="notices", on_delete=fields.CASCADE
    )
    inspection_id: int
    finding_ids: fields.JSONField[list[int]] = fields.JSONField(default=list)
    department_id = fields.IntField()
    requirement = fields.CharField(max_length=2000)
    deadline = fields.DatetimeField()
    status = fields.CharEnumField(NoticeStatus, max_length=16)
    issued_by_id = fields.IntField()
    issued_at = fields.DatetimeField()
    answer = fields.CharField(max_length=4000, default="")
    answered_by_id = fields.IntField(null=True)
    answered_at = fields.DatetimeField(null=True)
    return_reason = fields.CharField(max_length=1000, default="")
    verified_by_id = fields.IntField(null=True)
    verified_at = fields.DatetimeField(null=True)
    # Set once, by the leading worker's upkeep, when the deadline passed before verification.
    escalated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "rectification_notice"
        indexes = (("department_id", "status"), ("status", "deadline"))


class NoticeFile(Model):
    """Evidence a department files with its answer, kept in the database beside the notice."""

    id = fields.IntField(primary_key=True)
    notice: fields.ForeignKeyRelation[RectificationNotice] = fields.ForeignKeyField(
        "models.RectificationNotice", related_name="files", on_delete=fields.CASCADE
    )
    notice_id: int
    name = fields.CharField(max_length=200)
    content_type = fields.CharField(max_length=100)
    size = fields.IntField()
    data = fields.BinaryField()
    uploaded_by_id = fields.IntField()
    uploaded_at = fields.DatetimeField()

    class Meta:
        table = "rectification_notice_file"
