"""Visits (POLICY 3.2): invitation → registration → approval → check-in → exit.

States and transitions follow contracts/README.md "Visits in detail". Repeating a
transition that already happened changes nothing; any other transition is
`NOT_ALLOWED`. Every change that ends a visit revokes the visitor's passes at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from realtime.messages import VisitorArrived
from resolvers.access import grants
from resolvers.alerts.raising import raise_alert
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.crypto import mask, sha256_hex
from resolvers.core.errors import ErrorCode, Forbidden, UserError, not_found, parse_id
from resolvers.core.models import (
    Credential,
    CredentialStatus,
    Gender,
    IdentityDocument,
    Person,
    PersonKind,
    Role,
    Visit,
    VisitStatus,
    VisitZone,
    WatchlistEntry,
    Zone,
)
from resolvers.faces import templates as face_templates
from resolvers.notifications import invitations, journeys
from resolvers.notifications.channels import email as email_channel
from resolvers.notifications.channels.registry import channels_of
from resolvers.people import approvers, audit, ratelimit
from resolvers.people.people import ID_NUMBER, PHONE
from resolvers.people.sessions import SessionTokens, open_session
from resolvers.runtime import Runtime

CHECK_IN_EARLY = timedelta(minutes=30)
MAX_VISIT = timedelta(days=14)
BEFORE_CHECK_IN = (VisitStatus.INVITED, VisitStatus.PENDING_APPROVAL, VisitStatus.APPROVED)
ENDED = (VisitStatus.REJECTED, VisitStatus.CHECKED_OUT, VisitStatus.CANCELLED, VisitStatus.EXPIRED)
# Who may name any zone for a visitor, and who may run any visit's transitions.
ZONE_ANYWHERE = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _new_invite_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _code_hash(code: str) -> str:
    return sha256_hex("invite:" + code.replace("-", "").replace(" ", "").upper())


@dataclass(frozen=True)
class InviteInput:
    visitor_name: str
    phone: str
    purpose: str
    expected_start: datetime
    expected_end: datetime
    zone_ids: list[str]
    email: str | None = None  # the visitor's: the invitation is emailed to it (README "Notifications")


async def _check_zones(actor: Actor, zone_ids: list[str]) -> list[Zone]:
    if not zone_ids:
        raise UserError(ErrorCode.INVALID, "name at least one zone", "zoneIds")
    wanted = {parse_id(z, "zone", "zoneIds") for z in zone_ids}
    zones = await Zone.filter(id__in=wanted)
    if len(zones) != len(wanted):
        raise not_found("zone", "zoneIds")
    if not actor.has_any(*ZONE_ANYWHERE):
        from resolvers.access.topology import load_topology

        topo = await load_topology()
        now = clock.now()
        for zone in zones:
            # A visit to Z opens Z's whole subtree: the host must hold a grant on Z or above it.
            covering = {zone.id, *topo.ancestors(zone.id)}
            if not await grants.has_grant(actor.person_id, actor.department_id, covering, now):
                raise UserError(ErrorCode.NOT_ALLOWED, f"you may not enter {zone.name} yourself", "zoneIds")
    return zones


async def zones_to_invite_to(actor: Actor) -> list[Zone]:
    """The zones this host may name for a visitor (as `_check_zones` decides), by name: the
    invitation form offers exactly these, so a host is never shown a zone they would be refused."""
    if actor.has_any(*ZONE_ANYWHERE):
        return await Zone.all().order_by("name", "id")
    from resolvers.access.topology import load_topology

    topo = await load_topology()
    granted = {g.zone_id for g in await grants.active_grants(actor.person_id, actor.department_id)}
    now = clock.now()
    open_ids = [
        z
        for z in topo.zones
        if {z, *topo.ancestors(z)} & granted
        and await grants.has_grant(actor.person_id, actor.department_id, {z, *topo.ancestors(z)}, now)
    ]
    return await Zone.filter(id__in=open_ids).order_by("name", "id")


def _check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise UserError(ErrorCode.INVALID, "must be after expectedStart", "expectedEnd")
    if end <= clock.now():
        raise UserError(ErrorCode.INVALID, "the visit would already have ended", "expectedEnd")
    if end - start > MAX_VISIT:
        raise UserError(ErrorCode.INVALID, f"a visit lasts at most {MAX_VISIT.days} days", "expectedEnd")


async def invite(rt: Runtime, actor: Actor, data: InviteInput) -> tuple[Visit, str]:
    """A booking; the invite code is returned this once and stored only hashed."""
    name = validation.name(data.visitor_name, "visitorName")
    phone = validation.phone(data.phone)
    purpose = validation.name(data.purpose, "purpose", max_length=500)
    _check_window(data.expected_start, data.expected_end)
    zones = await _check_zones(actor, data.zone_ids)
    email = None
    if data.email is not None and data.email.strip():
        email = email_channel.valid_address(data.email)
        if email is None:
            raise UserError(ErrorCode.INVALID, "not an email address", "email")
    code = _new_invite_code()
    async with in_transaction() as conn:
        visit = await Visit.create(
            host_id=actor.person_id,
            visitor_name=name,
            phone_enc=rt.sealer.seal(phone, PHONE),
            phone_hash=rt.sealer.lookup_hash(phone, PHONE),
            phone_masked=mask(phone, head=3, tail=2),
            purpose=purpose,
            expected_start=data.expected_start,
            expected_end=data.expected_end,
            status=VisitStatus.INVITED,
            invite_code_hash=_code_hash(code),
        )
        await VisitZone.bulk_create([VisitZone(visit_id=visit.id, zone_id=z.id) for z in zones])
        await invitations.enqueue(rt, visit, code, name, email, phone, actor, [z.name for z in zones], conn)
    return visit, code


@dataclass(frozen=True)
class EmergencyInput:
    visitor_name: str
    phone: str
    id_number: str
    document_type: IdentityDocument
    reason: str
    expected_end: datetime
    zone_ids: list[str]


async def file_emergency(rt: Runtime, actor: Actor, data: EmergencyInput) -> Visit:
    """A walk-in without a booking (POLICY 3.2.3): the host's department head must approve it;
    the visitor is then limited to the named zones and escorted throughout."""
    name = validation.name(data.visitor_name, "visitorName")
    phone = validation.phone(data.phone)
    reason = validation.name(data.reason, "reason", max_length=500)
    id_number = validation.identity_number(data.id_number, data.document_type)
    now = clock.now()
    _check_window(now, data.expected_end)
    zones = await _check_zones(actor, data.zone_ids)
    # Someone always signs: the host's head, a deputy, the next level up, or the fallback roles.
    await _refuse_if_blocked(rt, id_number, "idNumber", host=actor)
    async with in_transaction() as conn:
        visitor = await _create_visitor(rt, name, id_number, data.document_type, None)
        visit = await Visit.create(
            host_id=actor.person_id,
            visitor_id=visitor.id,
            visitor_name=name,
            phone_enc=rt.sealer.seal(phone, PHONE),
            phone_hash=rt.sealer.lookup_hash(phone, PHONE),
            phone_masked=mask(phone, head=3, tail=2),
            purpose=reason,
            expected_start=now,
            expected_end=data.expected_end,
            status=VisitStatus.PENDING_APPROVAL,
            emergency=True,
            emergency_reason=reason,
            escorted=True,
            escort_ids=[actor.person_id],
        )
        await VisitZone.bulk_create([VisitZone(visit_id=visit.id, zone_id=z.id) for z in zones])
        # Whoever must sign it now hears of it, in the filing's transaction (README "Notifications").
        await _tell_emergency_deciders(rt, visit, conn)
    return visit


async def _tell_emergency_deciders(
    rt: Runtime, visit: Visit, conn: BaseDBAsyncClient, level: approvers.Level | None = None, escalated: bool = False
) -> None:
    if not channels_of(rt):
        return
    level = level or await emergency_deciders(rt, visit)
    people = await journeys.level_people(level, visit.host_id, conn)
    await journeys.visit_emergency(rt, visit, people, conn, escalated=escalated)


async def emergency_deciders(rt: Runtime, visit: Visit, chart: approvers.Org | None = None) -> approvers.Level:
    """Who signs an emergency walk-in now (POLICY 3.2.3): the host's department head, resolved
    like an item request's head step (README "Approvals"), as far up as it has escalated."""
    department = await Person.filter(id=visit.host_id).values_list("department_id", flat=True)
    step = {"who": "head", "departmentId": department[0] if department else None, "level": visit.approval_level}
    chart = chart or await approvers.Org.load(rt.settings.approval_fallback_roles)
    return await chart.level(step, visit.host_id)


async def _create_visitor(
    rt: Runtime, name: str, id_number: str, document: IdentityDocument, gender: Gender | None
) -> Person:
    return await Person.create(
        kind=PersonKind.VISITOR,
        display_name=name,
        gender=gender,
        document_type=document,
        id_number_enc=rt.sealer.seal(id_number, ID_NUMBER),
        id_number_hash=rt.sealer.lookup_hash(id_number, ID_NUMBER),
        id_number_masked=mask(id_number),
        roles=[],
    )


async def _refuse_if_blocked(
    rt: Runtime, id_number: str, field: str, host: Actor | None = None, visit: Visit | None = None
) -> None:
    hashes = rt.sealer.watchlist_hashes(id_number, ID_NUMBER)
    entry = await WatchlistEntry.filter(id_number_hash__in=hashes, lifted_at=None).first()
    if entry is None:
        return
    await raise_alert(
        rt,
        "watchlist",
        f"a blocked person ({entry.id_number_masked}) tried to visit",
        payload={
            "visitId": visit.id if visit else None,
            "hostId": host.person_id if host else None,
            "watchlistEntry": entry.id,
        },
    )
    raise UserError(ErrorCode.NOT_ALLOWED, "this person may not visit; security has been told", field)


@dataclass(frozen=True)
class VisitorDetails:
    id_number: str
    gender: Gender | None
    company: str | None
    document_type: IdentityDocument


async def complete_registration(
    rt: Runtime, code: str, details: VisitorDetails, address: str = ""
) -> tuple[Visit, SessionTokens]:
    """The visitor completes their own details with the invite code and is signed in."""
    await ratelimit.check_address(rt, "invite", address, ratelimit.INVITE_ADDRESS_LIMIT)
    visit = await Visit.get_or_none(invite_code_hash=_code_hash(code)) if isinstance(code, str) else None
    if visit is not None:
        visit = await expire_if_due(visit)
    if visit is None or visit.status is not VisitStatus.INVITED:
        await ratelimit.failed(rt, "invite", address)
        raise UserError(ErrorCode.INVALID, "this invite code is not valid", "inviteCode")
    id_number = validation.identity_number(details.id_number, details.document_type)
    company = validation.name(details.company, "company") if details.company and details.company.strip() else ""
    await _refuse_if_blocked(rt, id_number, "idNumber", visit=visit)
    async with in_transaction() as conn:
        locked = await Visit.filter(id=visit.id, status=VisitStatus.INVITED).select_for_update().first()
        if locked is None:
            raise UserError(ErrorCode.INVALID, "this invite code is not valid", "inviteCode")
        visitor = await _create_visitor(rt, visit.visitor_name, id_number, details.document_type, details.gender)
        locked.visitor_id = visitor.id
        locked.company = company
        locked.status = VisitStatus.PENDING_APPROVAL
        locked.invite_code_hash = None  # used: it signs nobody in again
        await locked.save(update_fields=["visitor_id", "company", "status", "invite_code_hash"])
        await journeys.visit_awaiting_approval(rt, locked, conn)  # PENDING_APPROVAL: the host decides
    tokens = await open_session(rt, visitor)
    return locked, tokens


@dataclass(frozen=True)
class Invitation:
    """What the holder of an invite code sees before registering: who the host booked, when and
    where, so the visitor checks it is theirs and is not asked for their name and phone again."""

    visitor_name: str
    phone_masked: str
    host_name: str
    purpose: str
    expected_start: datetime
    expected_end: datetime
    zone_names: list[str]


async def invitation(rt: Runtime, code: str, address: str = "") -> Invitation | None:
    """The invitation an unused invite code names, or None. Counted against the same guessing
    limit as registering with a code: looking one up is as good as trying it."""
    await ratelimit.check_address(rt, "invite", address, ratelimit.INVITE_ADDRESS_LIMIT)
    visit = await Visit.get_or_none(invite_code_hash=_code_hash(code)) if isinstance(code, str) else None
    if visit is not None:
        visit = await expire_if_due(visit)
    if visit is None or visit.status is not VisitStatus.INVITED:
        await ratelimit.failed(rt, "invite", address)
        return None
    host = await Person.get(id=visit.host_id)
    zone_ids = (await visit_zone_ids([visit.id]))[visit.id]
    zones = await Zone.filter(id__in=zone_ids).order_by("name")
    return Invitation(
        visitor_name=visit.visitor_name,
        phone_masked=visit.phone_masked or "",
        host_name=host.display_name,
        purpose=visit.purpose,
        expected_start=visit.expected_start,
        expected_end=visit.expected_end,
        zone_names=[z.name for z in zones],
    )


async def get_visit(visit_id: str, field: str = "id") -> Visit:
    visit = await Visit.get_or_none(id=parse_id(visit_id, "visit", field))
    if visit is None:
        raise not_found("visit", field)
    return await expire_if_due(visit)


def _may_act_as_host(actor: Actor, visit: Visit) -> None:
    if visit.host_id != actor.person_id:
        raise Forbidden("only the visit's host may do this")


async def _set_status(visit: Visit, status: VisitStatus, **fields: object) -> Visit:
    visit.status = status
    for name, value in fields.items():
        setattr(visit, name, value)
    await visit.save(update_fields=["status", *fields])
    return visit


async def _locked(visit_id: int) -> Visit:
    """The visit as stored now, its row locked until the caller's transaction ends.

    Every transition reads the status it decides on here, inside the transaction that writes the
    new one: on PostgreSQL `FOR UPDATE` makes a second operator's transition (on any server
    process) wait, then read what the first one wrote; on SQLite the process's one connection runs
    one transaction at a time. A status read before the transaction only serves early answers."""
    visit = await Visit.filter(id=visit_id).select_for_update().first()
    if visit is None:
        raise not_found("visit", "id")
    return visit


async def _revoke_passes(visit: Visit) -> None:
    if visit.visitor_id is not None:
        await Credential.filter(person_id=visit.visitor_id, status=CredentialStatus.ACTIVE).update(
            status=CredentialStatus.REVOKED, ended_at=clock.now()
        )


async def approve(rt: Runtime, actor: Actor, visit_id: str) -> Visit:
    visit = await get_visit(visit_id)
    if visit.emergency:
        # An emergency walk-in is signed off by the host's department head (or whoever stands in
        # for them), never by the host.
        level = await emergency_deciders(rt, visit)
        if not approvers.may_decide(actor, level, visit.host_id):
            raise Forbidden(f"an emergency visit is approved by {level.label}, not the host")
    else:
        _may_act_as_host(actor, visit)
    async with in_transaction():
        visit = await _locked(visit.id)
        if visit.status is VisitStatus.APPROVED:
            return visit
        if visit.status is not VisitStatus.PENDING_APPROVAL:
            raise UserError(ErrorCode.NOT_ALLOWED, f"a {visit.status.value} visit cannot be approved")
        return await _set_status(visit, VisitStatus.APPROVED, approved_by_id=actor.person_id, approved_at=clock.now())


async def reject(rt: Runtime, actor: Actor, visit_id: str, reason: str) -> Visit:
    visit = await get_visit(visit_id)
    if not (
        visit.emergency
        and visit.status is VisitStatus.PENDING_APPROVAL
        and approvers.may_decide(actor, await emergency_deciders(rt, visit), visit.host_id)
    ):
        _may_act_as_host(actor, visit)  # an emergency visit's approver may turn it down too
    why = validation.name(reason, "reason", max_length=500)
    async with in_transaction():
        visit = await _locked(visit.id)
        if visit.status is VisitStatus.REJECTED:
            return visit
        if visit.status not in BEFORE_CHECK_IN:
            raise UserError(ErrorCode.NOT_ALLOWED, f"a {visit.status.value} visit cannot be rejected")
        await _set_status(visit, VisitStatus.REJECTED, rejected_reason=why, invite_code_hash=None)
        await _revoke_passes(visit)
    rt.access_changed()
    if visit.visitor_id is not None:  # a face pass lasts as long as the visit (issue 15)
        await face_templates.delete_for_person(rt, visit.visitor_id)
    return visit


async def override_emergency(rt: Runtime, actor: Actor, visit_id: str, approve_it: bool, reason: str) -> Visit:
    """An ADMIN signs (or turns down) an emergency walk-in in its approver's place, saying why;
    the audit log keeps the reason and whose place it was."""
    if Role.ADMIN not in actor.roles:
        raise Forbidden("only an ADMIN overrides an approval")
    why = validation.name(reason, "reason", max_length=500)
    visit = await get_visit(visit_id)
    if not visit.emergency:
        raise UserError(ErrorCode.NOT_ALLOWED, "only an emergency visit is overridden; a booking is the host's")
    if visit.host_id == actor.person_id:
        raise Forbidden("nobody approves their own emergency visit, not even by override")
    if visit.status is not VisitStatus.PENDING_APPROVAL:
        raise UserError(ErrorCode.NOT_ALLOWED, f"a {visit.status.value} visit has no approval waiting")
    level = await emergency_deciders(rt, visit)
    note = {"override": True, "inPlaceOf": level.label, "reason": why}
    if approve_it:
        claimed = await Visit.filter(id=visit.id, status=VisitStatus.PENDING_APPROVAL).update(
            status=VisitStatus.APPROVED, approved_by_id=actor.person_id, approved_at=clock.now()
        )
        if not claimed:
            raise UserError(ErrorCode.CONFLICT, "this visit was decided just now; look again")
        audit.note_change("visit", visit.id, {"status": "PENDING_APPROVAL"}, {"status": "APPROVED", **note})
        return await get_visit(str(visit.id))
    async with in_transaction():
        await _set_status(visit, VisitStatus.REJECTED, rejected_reason=why, invite_code_hash=None)
        await _revoke_passes(visit)
    audit.note_change("visit", visit.id, {"status": "PENDING_APPROVAL"}, {"status": "REJECTED", **note})
    rt.access_changed()
    return visit


async def escalate_emergencies(rt: Runtime) -> int:
    """An emergency walk-in waits at the gate: after GATEHOUSE_EMERGENCY_ESCALATE_MINUTES without
    a signature it moves one level up (audited), once per worker race (conditional update)."""
    now = clock.now()
    deadline = timedelta(minutes=rt.settings.emergency_escalate_minutes)
    waiting = await Visit.filter(emergency=True, status=VisitStatus.PENDING_APPROVAL).order_by("id")
    if not waiting:
        return 0
    chart = await approvers.Org.load(rt.settings.approval_fallback_roles)
    moved = 0
    for visit in waiting:
        since = visit.approval_escalated_at or visit.expected_start
        if now - since < deadline:
            continue
        department = await Person.filter(id=visit.host_id).values_list("department_id", flat=True)
        step = {"who": "head", "departmentId": department[0] if department else None, "level": visit.approval_level}
        up = await chart.next_level(step, visit.host_id)
        if up is None:
            continue
        level_no, level = up
        async with in_transaction() as conn:
            claimed = await Visit.filter(
                id=visit.id, status=VisitStatus.PENDING_APPROVAL, approval_level=visit.approval_level
            ).update(approval_level=level_no, approval_escalated_at=now)
            if claimed:  # the level it moved to hears of it, once (the claim above)
                await _tell_emergency_deciders(rt, visit, conn, level, escalated=True)
        if claimed:
            await audit.record(
                None,
                "escalateEmergencyVisit",
                target_type="visit",
                target_id=visit.id,
                detail={"from": visit.approval_level, "to": level_no, "decides": level.label},
            )
            moved += 1
    return moved


async def end(rt: Runtime, actor: Actor, visit_id: str) -> Visit:
    """The host ends the visit: before check-in it is cancelled, after it the visitor is out."""
    visit = await get_visit(visit_id)
    _may_act_as_host(actor, visit)
    async with in_transaction():
        visit = await _locked(visit.id)
        if visit.status in (VisitStatus.CHECKED_OUT, VisitStatus.CANCELLED):
            return visit
        if visit.status in BEFORE_CHECK_IN:
            await _set_status(visit, VisitStatus.CANCELLED, invite_code_hash=None)
        elif visit.status is VisitStatus.CHECKED_IN:
            await _set_status(
                visit, VisitStatus.CHECKED_OUT, checked_out_at=clock.now(), checked_out_by_id=actor.person_id
            )
        else:
            raise UserError(ErrorCode.NOT_ALLOWED, f"a {visit.status.value} visit cannot be ended")
        await _revoke_passes(visit)
    rt.access_changed()
    if visit.visitor_id is not None:  # a face pass lasts as long as the visit (issue 15)
        await face_templates.delete_for_person(rt, visit.visitor_id)
    return visit


def _check_in_refusal(visit: Visit, now: datetime) -> UserError | None:
    """Why this visit cannot be checked in now (contracts/README.md "Visits in detail"), or None."""
    if visit.status is VisitStatus.CHECKED_IN:
        return UserError(ErrorCode.CONFLICT, "this visitor is already checked in")
    if visit.status is VisitStatus.EXPIRED:
        return UserError(ErrorCode.EXPIRED, "this visit has expired")
    if visit.status is not VisitStatus.APPROVED:
        return UserError(
            ErrorCode.NOT_ALLOWED,
            f"a {visit.status.value} visit cannot be checked in; the host must book and approve it",
        )
    if now < visit.expected_start - CHECK_IN_EARLY:
        return UserError(ErrorCode.NOT_ALLOWED, "too early: check-in opens 30 minutes before the visit")
    if now > visit.expected_end:
        return UserError(ErrorCode.EXPIRED, "the visit's time is over")
    return None


async def check_in(rt: Runtime, actor: Actor, visit_id: str, id_last4: str) -> Visit:
    """At the gate, after the guard compared the visitor's ID document (POLICY 3.2.2)."""
    visit = await get_visit(visit_id)
    last4 = validation.last4(id_last4, "idNumberLast4")
    refusal = _check_in_refusal(visit, clock.now())
    if refusal is not None:
        raise refusal
    visitor = await Person.get(id=visit.visitor_id)
    assert visitor.id_number_enc is not None
    id_number = rt.sealer.open_text(visitor.id_number_enc, ID_NUMBER)
    await _refuse_if_blocked(rt, id_number, "idNumberLast4", visit=visit)
    if id_number[-4:].upper() != last4:
        raise UserError(ErrorCode.MISMATCH, "the ID document does not match the registration", "idNumberLast4")
    async with in_transaction() as conn:
        # Decided again on the locked row: the host may have ended the visit meanwhile.
        locked = await _locked(visit.id)
        now = clock.now()
        refusal = _check_in_refusal(locked, now)
        if refusal is not None:
            raise refusal
        await _set_status(
            locked, VisitStatus.CHECKED_IN, checked_in_at=now, checked_in_by_id=actor.person_id, site_entries=0
        )
        # The visit's arrival (once: a second check-in is refused above); its gate passages are not.
        await journeys.visit_arrival(rt, locked, now, conn)
    rt.access_changed()
    rt.bus.send(VisitorArrived(host_id=locked.host_id, visit_id=locked.id, at=now))
    return locked


async def check_out(rt: Runtime, actor: Actor | None, visit_id: str) -> Visit:
    """A guard checks the visitor out (or the visitor's own scan leaving the site does)."""
    visit = await get_visit(visit_id)
    async with in_transaction():
        visit = await _locked(visit.id)
        if visit.status is VisitStatus.CHECKED_OUT:
            return visit
        if visit.status is not VisitStatus.CHECKED_IN:
            raise UserError(ErrorCode.NOT_ALLOWED, f"a {visit.status.value} visit cannot be checked out")
        await _set_status(
            visit,
            VisitStatus.CHECKED_OUT,
            checked_out_at=clock.now(),
            checked_out_by_id=actor.person_id if actor else None,
        )
        await _revoke_passes(visit)
    rt.access_changed()
    if visit.visitor_id is not None:  # a face pass lasts as long as the visit (issue 15)
        await face_templates.delete_for_person(rt, visit.visitor_id)
    return visit


async def expire_if_due(visit: Visit) -> Visit:
    """A visit not checked in by `expectedEnd` expires, and its invite code dies with it.

    The expiry is a conditional update (still in the status read): a transition that got there
    first wins, and then the visit is read again rather than its passes revoked."""
    while visit.status in BEFORE_CHECK_IN and visit.expected_end <= clock.now():
        async with in_transaction():
            expired = await Visit.filter(id=visit.id, status=visit.status).update(
                status=VisitStatus.EXPIRED, invite_code_hash=None
            )
            if expired:
                visit.status = VisitStatus.EXPIRED
                visit.invite_code_hash = None
                await _revoke_passes(visit)
                return visit
        visit = await Visit.get(id=visit.id)
    return visit


async def expire_due_visits() -> int:
    due = await Visit.filter(status__in=BEFORE_CHECK_IN, expected_end__lte=clock.now())
    for visit in due:
        await expire_if_due(visit)
    return len(due)


async def visit_of_visitor(person_id: int) -> Visit | None:
    visit = await Visit.filter(visitor_id=person_id).order_by("-id").first()
    return await expire_if_due(visit) if visit else None


async def visit_zone_ids(visit_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {v: [] for v in visit_ids}
    for link in await VisitZone.filter(visit_id__in=visit_ids).order_by("zone_id").values("visit_id", "zone_id"):
        out[link["visit_id"]].append(link["zone_id"])
    return out


def day_bounds(day: date, tz_name: str) -> tuple[datetime, datetime]:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    # In UTC: SQLite compares the stored UTC text, so a local offset would shift the day.
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def expected_on(day: date, tz_name: str) -> list[Visit]:
    """Visits whose window meets that day, any status but REJECTED and CANCELLED, by start."""
    await expire_due_visits()
    start, end = day_bounds(day, tz_name)
    return (
        await Visit.filter(expected_start__lt=end, expected_end__gt=start)
        .exclude(status__in=[VisitStatus.REJECTED, VisitStatus.CANCELLED])
        .order_by("expected_start", "id")
    )


async def hosted_page(host_id: int, first: int, before_id: int | None) -> list[Visit]:
    query = Visit.filter(host_id=host_id)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


async def block(rt: Runtime, actor: Actor, id_number: str, document: IdentityDocument, reason: str) -> WatchlistEntry:
    clean = validation.identity_number(id_number, document)
    why = validation.name(reason, "reason", max_length=500)
    return await WatchlistEntry.create(
        id_number_hash=rt.sealer.lookup_hash(clean, ID_NUMBER),
        # Sealed too, so a key rotation can recompute the hash (README "Keys").
        id_number_enc=rt.sealer.seal(clean, ID_NUMBER),
        id_number_masked=mask(clean),
        reason=why,
        created_by_id=actor.person_id,
    )


async def unblock(entry_id: str) -> WatchlistEntry:
    entry = await WatchlistEntry.get_or_none(id=parse_id(entry_id, "watchlist entry", "id"))
    if entry is None:
        raise not_found("watchlist entry", "id")
    if entry.lifted_at is None:
        entry.lifted_at = clock.now()
        await entry.save(update_fields=["lifted_at"])
    return entry


async def add_escort(actor: Actor, visit_id: str, escort_id: str) -> Visit:
    visit = await get_visit(visit_id)
    _may_act_as_host(actor, visit)
    person = await Person.get_or_none(
        id=parse_id(escort_id, "person", "escortId"), kind=PersonKind.EMPLOYEE, status="ACTIVE"
    )
    if person is None:
        raise not_found("employee", "escortId")
    if visit.status in ENDED:
        raise UserError(ErrorCode.NOT_ALLOWED, "the visit has ended")
    if person.id not in visit.escort_ids:
        visit.escort_ids = [*visit.escort_ids, person.id]
        await visit.save(update_fields=["escort_ids"])
    return visit
