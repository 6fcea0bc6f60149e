"""Erasure of one person's personal data on request (PIPL art. 47; README "Retention and erasure").

The person's row stays, under a pseudonym ("Erased person 42"), so everything that points at it
keeps counting the same: passages, attendance, approvals, hosted visits, grants. What identifies
them goes: name, username (freed), password, gender, position, ID and phone numbers sealed and
their look-up hashes, the second factor, custodial keys and phone names; every credential and
session ends; alerts and supervision records (findings, notices' answers, reports, plain-text
evidence) that named them name the pseudonym. As a visitor, their visits are
anonymised as retention would (visits/upkeep.py).

Refused while the person is still employed (offboard first), while a visit of theirs is under
way, and a second time. Over GraphQL it is a dangerous operation: a recent sign-in or
confirmIdentity first; only an ADMIN erases a holder of a privileged role.

The audit trail keeps every entry, but an entry by the person or naming them (an onboarding's
arguments carry the name and username, a guard's entries carry their name) would give the
erased name back: those strings become the pseudonym. The audit log's triggers (migration 0021)
allow exactly that change, to `actor_name` and `detail` only, and only for an entry an
AuditRedaction row ties to this erasure's own entry ("personalDataErased": who, when, why, never
the erased values). The erasure's entry is written first and the person's row changed last, so
an erasure cut short (a crash) can be run again: the name is still there to find.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from tortoise.transactions import in_transaction

from realtime.messages import CredentialsRevoked
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import (
    AuditEntry,
    AuditRedaction,
    ChecklistItem,
    Credential,
    CredentialStatus,
    DeviceAlert,
    Finding,
    GateEvent,
    Grant,
    Inspection,
    LoginThrottle,
    NoticeFile,
    Notification,
    Person,
    PersonKind,
    PersonStatus,
    PushSubscription,
    RectificationNotice,
    RefreshSession,
    Role,
    TotpRecoveryCode,
    Visit,
    VisitStatus,
)
from resolvers.faces import templates as face_templates
from resolvers.people import audit, ratelimit, second_factor
from resolvers.people.people import PRIVILEGED_NAMES, PRIVILEGED_ROLES
from resolvers.runtime import Runtime
from resolvers.visits.upkeep import anonymise_visit

ERASED = "personalDataErased"  # the erasure's own audit entry, which redactions point at
PAGE = 500
LIVE_VISITS = (VisitStatus.INVITED, VisitStatus.PENDING_APPROVAL, VisitStatus.APPROVED, VisitStatus.CHECKED_IN)


def pseudonym(person_id: int) -> str:
    return f"Erased person {person_id}"


@dataclass(frozen=True)
class Erasure:
    person: Person
    audit_entries_redacted: int


def _scrubber(names: set[str], label: str) -> Callable[[Any], Any]:
    """Replace the names in every string of a JSON value. A name of two or more characters is
    found inside text too ("李娜 is offboarded"), but not inside a longer Latin word; a shorter
    one only as a whole value."""
    whole = {n for n in names if n}
    patterns = [
        re.compile(rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])")
        for n in sorted(whole, key=len, reverse=True)
        if len(n) >= 2
    ]

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            if value in whole:
                return label
            for pattern in patterns:
                value = pattern.sub(lambda _: label, value)
            return value
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub


async def check_erasable(person: Person, actor: Actor | None, reason: str) -> None:
    """Refuse (UserError, Forbidden) unless this person may be erased now, by this caller, for this reason."""
    if person.erased_at is not None:
        raise UserError(ErrorCode.CONFLICT, "this person's personal data is already erased", "personId")
    # The reason is kept in the audit log for good: it must not carry what is being erased.
    if _scrubber({person.display_name, person.username or ""}, "")(reason) != reason:
        raise UserError(ErrorCode.INVALID, "the reason must not name the person (the audit log keeps it)", "reason")
    if person.kind is PersonKind.EMPLOYEE and person.status is PersonStatus.ACTIVE:
        raise UserError(
            ErrorCode.NOT_ALLOWED,
            f"{person.display_name} is still employed: offboard them first, then erase",
            "personId",
        )
    if await Visit.filter(visitor_id=person.id, status__in=LIVE_VISITS).exists():
        raise UserError(ErrorCode.NOT_ALLOWED, "a visit of this person is still under way", "personId")
    if actor is not None:
        if person.id == actor.person_id:
            raise UserError(ErrorCode.NOT_ALLOWED, "you cannot erase yourself", "personId")
        if {Role(r) for r in person.roles} & PRIVILEGED_ROLES and Role.ADMIN not in actor.roles:
            raise Forbidden(f"only an ADMIN may erase someone who held {PRIVILEGED_NAMES}")


async def erase_personal_data(rt: Runtime, actor: Actor, person_id: str, reason: str, address: str) -> Erasure:
    """The GraphQL way: a recent confirmation, the checks, then `erase`."""
    await second_factor.require_confirmation(rt, actor)
    why = validation.name(reason, "reason", max_length=500)
    person = await Person.get_or_none(id=parse_id(person_id, "person", "personId"))
    if person is None:
        raise not_found("person", "personId")
    await check_erasable(person, actor, why)
    return await erase(rt, actor, person, why, address)


async def erase_by_username(rt: Runtime, username: str, reason: str) -> Erasure:
    """The CLI way (`gatehouse erase-person`): whoever runs it holds the server; no caller signs in."""
    why = validation.name(reason, "reason", max_length=500)
    person = await Person.get_or_none(username=validation.username(username))
    if person is None:
        raise UserError(ErrorCode.NOT_FOUND, f"no account with username {username!r}", "username")
    await check_erasable(person, None, why)
    return await erase(rt, None, person, why, "cli")


async def _redact_audit(person: Person, entry: AuditEntry, label: str, scrub: Callable[[Any], Any]) -> int:
    """Every earlier entry by or naming the person, with the names replaced; a page per transaction."""
    # Nothing names the person before their row existed.
    first = await AuditEntry.filter(at__gte=person.created_at).order_by("id").limit(1).values_list("id", flat=True)
    after_id = cast(int, first[0]) - 1 if first else entry.id
    redacted = 0
    while True:
        rows = await AuditEntry.filter(id__gt=after_id, id__lt=entry.id).order_by("id").limit(PAGE)
        if not rows:
            return redacted
        changed = []
        for row in rows:
            actor_name = label if row.actor_id == person.id else scrub(row.actor_name)
            detail = scrub(row.detail)
            if actor_name != row.actor_name or detail != row.detail:
                changed.append((row.id, actor_name, detail))
        if changed:
            now = clock.now()
            async with in_transaction():
                await AuditRedaction.bulk_create(
                    [AuditRedaction(entry_id=pk, erasure_entry_id=entry.id, at=now) for pk, _, _ in changed]
                )
                for pk, actor_name, detail in changed:
                    await AuditEntry.filter(id=pk).update(actor_name=actor_name, detail=detail)
            redacted += len(changed)
        after_id = rows[-1].id


async def _redact_alerts(person: Person, scrub: Callable[[Any], Any]) -> None:
    """Alerts name people in their text ("李娜 left through Lobby after their access ended")."""
    first = await DeviceAlert.filter(at__gte=person.created_at).order_by("id").limit(1).values_list("id", flat=True)
    if not first:
        return
    after_id = cast(int, first[0]) - 1
    while True:
        rows = await DeviceAlert.filter(id__gt=after_id).order_by("id").limit(PAGE)
        if not rows:
            return
        async with in_transaction():
            for row in rows:
                message, note, payload = scrub(row.message), scrub(row.close_note), scrub(row.payload)
                if (message, note, payload) != (row.message, row.close_note, row.payload):
                    await DeviceAlert.filter(id=row.id).update(message=message, close_note=note, payload=payload)
        after_id = rows[-1].id


# Supervision's free text: (model, the columns that may name a person, JSON or text).
SUPERVISION_TEXT: tuple[tuple[type[Any], tuple[str, ...]], ...] = (
    (Inspection, ("title", "topic", "sample", "report")),
    (ChecklistItem, ("note",)),
    (Finding, ("summary", "reason", "evidence")),
    (RectificationNotice, ("requirement", "answer", "return_reason")),
)


async def _redact_supervision(scrub: Callable[[Any], Any]) -> None:
    """Inspections name people: a finding's summary ("access of 張偉 to …"), a notice's answer, the
    frozen report (its lead, members and findings), a plain-text evidence file. Ids stay (they
    point at the pseudonymous row). A site runs tens of inspections a year: read page by page,
    all of it (a finding may name someone onboarded after the inspection's period began).
    Evidence filed as PDF or an image is not read: its text is not ours to rewrite."""
    for model, columns in SUPERVISION_TEXT:
        after_id = 0
        while True:
            rows = await model.filter(id__gt=after_id).order_by("id").limit(PAGE)
            if not rows:
                break
            async with in_transaction():
                for row in rows:
                    changed = {c: scrub(getattr(row, c)) for c in columns}
                    changed = {c: v for c, v in changed.items() if v != getattr(row, c)}
                    if changed:
                        await model.filter(id=row.id).update(**changed)
            after_id = rows[-1].id
    after_id = 0
    while True:
        files = await NoticeFile.filter(id__gt=after_id, content_type="text/plain").order_by("id").limit(PAGE)
        if not files:
            return
        for file in files:
            try:
                text = bytes(file.data).decode()
            except UnicodeDecodeError:
                continue  # not text after all: left as filed
            data = scrub(text).encode()
            name = scrub(file.name)
            if (data, name) != (bytes(file.data), file.name):
                await NoticeFile.filter(id=file.id).update(data=data, size=len(data), name=name)
        after_id = files[-1].id


async def _redact_operated_events(person: Person, label: str) -> None:
    """Passages a guard let through carry the guard's name in their payload."""
    after_id = 0
    while True:
        rows = await GateEvent.filter(operator_id=person.id, id__gt=after_id).order_by("id").limit(PAGE)
        if not rows:
            return
        async with in_transaction():
            for row in rows:
                if "operatorName" in row.payload:
                    await GateEvent.filter(id=row.id).update(payload={**row.payload, "operatorName": label})
        after_id = rows[-1].id


async def erase(rt: Runtime, actor: Actor | None, person: Person, reason: str, address: str) -> Erasure:
    label = pseudonym(person.id)
    entry = await audit.record(
        actor,
        ERASED,
        address=address,
        target_type="person",
        target_id=person.id,
        detail={"reason": reason, "pseudonym": label},
    )
    scrub = _scrubber({person.display_name, person.username or ""}, label)
    redacted = await _redact_audit(person, entry, label, scrub)
    await _redact_alerts(person, scrub)
    await _redact_supervision(scrub)
    await _redact_operated_events(person, label)
    for visit in await Visit.filter(visitor_id=person.id, anonymised_at=None):
        await anonymise_visit(visit, clock.now())
    now = clock.now()
    revoked = await Credential.filter(person_id=person.id, status=CredentialStatus.ACTIVE).values_list("cid", flat=True)
    async with in_transaction():
        await Credential.filter(person_id=person.id, status=CredentialStatus.ACTIVE).update(
            status=CredentialStatus.REVOKED, ended_at=now
        )
        await Credential.filter(person_id=person.id).update(private_key_enc=None, device_name="")
        await Grant.filter(person_id=person.id, revoked_at=None).update(revoked_at=now)
        await RefreshSession.filter(person_id=person.id, revoked_at=None).update(revoked_at=now)
        await PushSubscription.filter(person_id=person.id).delete()  # no notifications after leaving
        await TotpRecoveryCode.filter(person_id=person.id).delete()
        if person.username:
            await LoginThrottle.filter(key=ratelimit.account_key(person.username)).delete()
        await Person.filter(id=person.id).update(
            display_name=label,
            username=None,
            password_hash=None,
            password_issued_at=None,
            gender=None,
            position="",
            id_number_enc=None,
            id_number_hash=None,
            id_number_masked=None,
            phone_enc=None,
            phone_hash=None,
            phone_masked=None,
            email_enc=None,
            email_hash=None,
            email_masked=None,
            totp_secret_enc=None,
            totp_pending_enc=None,
            totp_enabled_at=None,
            totp_last_step=None,
            erased_at=now,
        )
        await Notification.filter(person_id=person.id).delete()  # their addresses and messages
    audit.note_change("person", person.id, {"erased": False}, {"erased": True, "auditEntriesRedacted": redacted})
    await face_templates.delete_for_person(rt, person.id)
    rt.access_changed()
    if revoked:
        rt.bus.send(CredentialsRevoked(credential_ids=tuple(str(c) for c in revoked), person_id=person.id))
    return Erasure(await Person.get(id=person.id), redacted)
