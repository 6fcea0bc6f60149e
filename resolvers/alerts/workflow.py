"""The guards' alert workflow: acknowledge (someone is looking), assign (to one of the gate staff),
close (with a note). Each step is one conditional update: two guards acting on one alert at once
get one success and one CONFLICT, never a step recorded over another. The GraphQL layer writes
one audit entry per step with the before/after noted here."""

from __future__ import annotations

from typing import Any

from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import DeviceAlert, Person, PersonStatus, Role
from resolvers.people import audit

OPEN, ACKNOWLEDGED, CLOSED = "OPEN", "ACKNOWLEDGED", "CLOSED"
# Who may be handed an alert: the roles that may work on it (schema/core/permissions.py GATE_STAFF).
ASSIGNABLE_ROLES = frozenset({Role.ADMIN.value, Role.SECURITY_ADMIN.value, Role.GUARD.value})


async def _alert(alert_id: str) -> DeviceAlert:
    alert = await DeviceAlert.get_or_none(id=parse_id(alert_id, "alert", "id"))
    if alert is None:
        raise not_found("alert", "id")
    if alert.status == CLOSED:
        raise UserError(ErrorCode.CONFLICT, "this alert is closed", "id")
    return alert


def _state(alert: DeviceAlert) -> dict[str, Any]:
    return {"status": alert.status, "assigneeId": alert.assignee_id}


async def _claim(alert: DeviceAlert, changes: dict[str, Any]) -> DeviceAlert:
    """Write `changes` only if the alert is still as read (status and assignee)."""
    before = _state(alert)
    claimed = await DeviceAlert.filter(id=alert.id, status=alert.status, assignee_id=alert.assignee_id).update(
        **changes
    )
    if not claimed:
        raise UserError(ErrorCode.CONFLICT, "this alert changed just now; look again", "id")
    for name, value in changes.items():
        setattr(alert, name, value)
    audit.note_change("device_alert", alert.id, before, {**_state(alert), **_plain_changes(changes)})
    return alert


def _plain_changes(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in changes.items() if k not in ("status", "assignee_id")}


def _acknowledgement(alert: DeviceAlert, actor: Actor) -> dict[str, Any]:
    """Fields that mark an OPEN alert acknowledged by `actor` now; nothing once it was."""
    if alert.status != OPEN:
        return {}
    return {"status": ACKNOWLEDGED, "acknowledged_at": clock.now(), "acknowledged_by_id": actor.person_id}


async def acknowledge(actor: Actor, alert_id: str) -> DeviceAlert:
    alert = await _alert(alert_id)
    if alert.status != OPEN:
        raise UserError(ErrorCode.CONFLICT, "this alert is already acknowledged", "id")
    return await _claim(alert, _acknowledgement(alert, actor))


async def assign(actor: Actor, alert_id: str, person_id: str) -> DeviceAlert:
    """Hand the alert to one of the gate staff (the caller included); an OPEN alert is
    acknowledged by the same step. Assigning it again hands it over."""
    alert = await _alert(alert_id)
    person = await Person.get_or_none(id=parse_id(person_id, "person", "personId"))
    if person is None:
        raise not_found("person", "personId")
    if person.status != PersonStatus.ACTIVE or ASSIGNABLE_ROLES.isdisjoint(person.roles):
        raise UserError(ErrorCode.NOT_ALLOWED, "an alert goes to an active guard, security admin or admin", "personId")
    if alert.assignee_id == person.id:
        raise UserError(ErrorCode.CONFLICT, f"this alert is already assigned to {person.display_name}", "personId")
    changes = _acknowledgement(alert, actor)
    changes.update(assignee_id=person.id, assigned_at=clock.now(), assigned_by_id=actor.person_id)
    return await _claim(alert, changes)


async def close(actor: Actor, alert_id: str, note: str) -> DeviceAlert:
    """Close it, saying what was done; an OPEN alert is acknowledged by the same step."""
    why = validation.name(note, "note", max_length=500)
    alert = await _alert(alert_id)
    changes = _acknowledgement(alert, actor)
    changes.update(status=CLOSED, resolved_at=clock.now(), closed_by_id=actor.person_id, close_note=why)
    return await _claim(alert, changes)


async def assignees() -> list[Person]:
    """Active people an alert may be assigned to, by name. Roles are a JSON list, which SQLite and
    PostgreSQL filter differently: only the narrow columns of active employees are read and the
    roles checked here (a site has thousands of people, not millions)."""
    rows = await Person.filter(status=PersonStatus.ACTIVE, username__isnull=False).values_list("id", "roles")
    ids = [pid for pid, roles in rows if not ASSIGNABLE_ROLES.isdisjoint(roles or [])]
    return await Person.filter(id__in=ids).order_by("display_name", "id") if ids else []
