"""Root query fields: running the server."""

from __future__ import annotations

import strawberry

from resolvers.ops import backups
from schema.core.errors import bad_input
from schema.core.permissions import IsBackupReader
from schema.ops.types import BackupRun

MAX_RUNS = 200


@strawberry.type
class OpsQuery:
    @strawberry.field(
        permission_classes=[IsBackupReader],
        description="The latest backup runs, newest first, failed ones too (POLICY 6.1).",
    )
    async def backup_runs(self, limit: int = 20) -> list[BackupRun]:
        if not 1 <= limit <= MAX_RUNS:
            raise bad_input(f"`limit` must be between 1 and {MAX_RUNS}")
        return [BackupRun.of(run) for run in await backups.recent_runs(limit)]
