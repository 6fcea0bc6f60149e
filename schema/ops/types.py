"""GraphQL object types: running the server."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from resolvers.core import models as m


@strawberry.enum(description="What started a backup.")
class BackupKind(Enum):
    DAILY = strawberry.enum_value("daily", description="The daily scheduled backup.")
    WEEKLY = strawberry.enum_value("weekly", description="The weekly scheduled backup (kept longer).")
    MANUAL = strawberry.enum_value("manual", description="`gatehouse backup`, run by hand.")


@strawberry.type(description="One backup run, scheduled or by hand, kept whether it worked or not.")
class BackupRun:
    id: strawberry.ID = strawberry.field(description="Opaque id.")
    kind: BackupKind = strawberry.field(description="DAILY, WEEKLY or MANUAL.")
    started_at: datetime = strawberry.field(description="When it started.")
    finished_at: datetime = strawberry.field(description="When it ended, written or failed.")
    ok: bool = strawberry.field(description="The backup file was written whole.")
    error: str = strawberry.field(description="Why it failed; empty when it worked.")
    file_name: str = strawberry.field(description="The file's name in the backup directory; empty when it failed.")
    size: int = strawberry.field(description="The file's size in bytes.")
    sha256: str = strawberry.field(
        description="SHA-256 of the file as written: a copy off site can be checked without the key."
    )
    offsite_ok: bool | None = strawberry.field(
        description="The off-site command succeeded; null when none is set or no file was written."
    )
    offsite_error: str = strawberry.field(description="Why the off-site command failed; empty otherwise.")

    @classmethod
    def of(cls, run: m.BackupRun) -> BackupRun:
        return cls(
            id=strawberry.ID(str(run.id)),
            kind=BackupKind(run.kind),
            started_at=run.started_at,
            finished_at=run.finished_at,
            ok=run.ok,
            error=run.error,
            file_name=run.file_name,
            size=run.size,
            sha256=run.sha256,
            offsite_ok=run.offsite_ok,
            offsite_error=run.offsite_error,
        )
