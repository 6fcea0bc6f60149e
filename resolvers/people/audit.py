"""The audit log (POLICY 6.3, 7): append-only, written once per operator mutation and per
read of unmasked personal data.

Domain functions note what they changed (`note_change`) into the request's collector;
the GraphQL layer writes one entry per mutation field with those notes attached, so
the before/after of a change sits with who made it, when and from where.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from resolvers.core import clock
from resolvers.core.actor import Actor
from resolvers.core.models import AuditEntry

_collector: contextvars.ContextVar[ChangeCollector | None] = contextvars.ContextVar("audit_collector", default=None)

SECRET_FIELDS = frozenset(
    {
        "password",
        "refreshToken",
        "idNumber",
        "phone",
        "secret",
        "inviteCode",
        "idNumberLast4",
        "documentNumberLast4",
        "publicKey",
        # Second factor: codes and recovery codes are secrets too, and so are passwords by any name.
        "totpCode",
        "code",
        "currentPassword",
        "newPassword",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return "<bytes>"
    return value


def redact(value: Any) -> Any:
    """Variables as they may be kept: secrets and personal numbers replaced."""
    if isinstance(value, dict):
        return {k: ("<redacted>" if k in SECRET_FIELDS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return _plain(value)


@dataclass
class FieldRecord:
    changes: list[dict[str, Any]] = field(default_factory=list)
    outcome: str | None = None


@dataclass
class ChangeCollector:
    """What each top-level mutation field of one request changed, and how it ended."""

    records: dict[str, FieldRecord] = field(default_factory=dict)
    current: str | None = None

    def __enter__(self) -> ChangeCollector:
        self._token = _collector.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _collector.reset(self._token)

    def start(self, key: str) -> FieldRecord:
        self.current = key
        return self.records.setdefault(key, FieldRecord())


def note_change(
    target_type: str, target_id: object, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> None:
    collector = _collector.get()
    if collector is not None and collector.current is not None:
        collector.records[collector.current].changes.append(
            {"type": target_type, "id": str(target_id), "before": _plain(before), "after": _plain(after)}
        )


def note_outcome(outcome: str) -> None:
    """The field ended with a refusal the caller can act on (a UserError), e.g. `refused:NOT_FOUND`."""
    collector = _collector.get()
    if collector is not None and collector.current is not None:
        collector.records[collector.current].outcome = outcome


async def record(
    actor: Actor | None,
    action: str,
    *,
    address: str = "",
    outcome: str = "ok",
    target_type: str = "",
    target_id: object = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    return await AuditEntry.create(
        at=clock.now(),
        actor_id=actor.person_id if actor else None,
        actor_name=actor.display_name if actor else "",
        address=address[:64],
        action=action[:100],
        target_type=target_type,
        target_id=str(target_id)[:50],
        outcome=outcome[:100],
        detail=_plain(detail or {}),
    )


async def page(
    first: int,
    before_id: int | None,
    *,
    actor_id: int | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEntry]:
    query = AuditEntry.all()
    if actor_id is not None:
        query = query.filter(actor_id=actor_id)
    if action:
        query = query.filter(action=action)
    if target_type:
        query = query.filter(target_type=target_type)
    if target_id:
        query = query.filter(target_id=target_id)
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)
