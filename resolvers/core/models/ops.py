"""Running the server: the record of every backup run (POLICY 6.1)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class BackupRun(Model):
    """One backup, scheduled or by hand: kept whether it worked or not, so a failure is seen."""

    id = fields.IntField(primary_key=True)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField()
    kind = fields.CharField(max_length=8)  # daily, weekly or manual
    file_name = fields.CharField(max_length=255, default="")
    size = fields.BigIntField(default=0)
    # SHA-256 of the file as written: a copy off site can be checked with `sha256sum`, no key needed.
    sha256 = fields.CharField(max_length=64, default="")
    ok = fields.BooleanField()
    error = fields.CharField(max_length=1000, default="")
    # Null when no off-site command is set.
    offsite_ok = fields.BooleanField(null=True)
    offsite_error = fields.CharField(max_length=1000, default="")

    class Meta:
        table = "backup_run"
        indexes = (("started_at",),)
