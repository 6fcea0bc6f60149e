"""The scan decision: a pass token at a gate → granted or denied, with the rule that decided.

Order (contracts/PASS_TOKEN.md): gate checks (with the device's own: in service), then
malformed, unknown_credential, revoked, expired / not_yet_valid, bad_signature, replayed,
then the zone's policy. A revoked pass shown on the way OUT by someone inside is verified
all the same and let out (`exit_after_revocation`, flagged to guards): people may always leave.
The path touches memory (zones, gates, used tokens, presence) and two indexed
queries (the credential with its person, and one grant look-up), and waits for
the event's commit; everything else (pushing to guards) happens after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from gatehouse_gate import passtoken

from realtime.messages import PersonRef
from realtime.scan_state import ScanStateLost, TokenClaim
from resolvers.access.topology import GateNode, Topology
from resolvers.alerts.raising import raise_alert, raise_alert_throttled
from resolvers.core import clock
from resolvers.core.models import (
    AntiPassback,
    CredentialKind,
    CredentialStatus,
    Decision,
    Direction,
    EntryMethod,
    GateDirection,
    GateEvent,
    PersonKind,
    PersonStatus,
    Visit,
    VisitStatus,
)
from resolvers.faces import two_factor
from resolvers.passes.credential_lookup import credential_row
from resolvers.runtime import Runtime
from resolvers.scan import writer
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.outcome import AlreadyAnswered, ScanOutcome
from resolvers.scan.presence import start_recovery
from resolvers.scan.reasons import Reason
from resolvers.visits import badges, visits

log = logging.getLogger("gatehouse.scan")
SETTLE_WAIT_SECONDS = 2.0
ESCORT_WINDOW_SECONDS = 30
# Alerts raised after a decision is answered (never awaited on the scan path), kept until done.
_flagging: set[asyncio.Task[None]] = set()


class DirectionRequired(ValueError):
    """A scan at a BOTH gate that does not say which way (the device gets an error frame)."""


def passage_direction(gate: GateNode, requested: str | None) -> Direction:
    if gate.direction is GateDirection.BOTH:
        if requested not in ("IN", "OUT"):
            raise DirectionRequired('this gate takes both directions: say "direction": "IN" or "OUT"')
        return Direction(requested)
    return Direction(gate.direction.value)


async def resolve_gate(rt: Runtime, device_id: int, gate_id: int | None) -> tuple[Topology, GateNode | None, Reason]:
    """The gate, or the device-misconfiguration reason (`gate_unknown`, `not_your_gate`)."""
    topo = await rt.topology.get()
    gate = topo.gates.get(gate_id) if gate_id is not None else None
    if gate is None or gate.id not in topo.device_gates.get(device_id, ()):
        # Another process may have just added it; read the site once more before refusing.
        topo = await rt.topology.reload_if_older(1.0)
        gate = topo.gates.get(gate_id) if gate_id is not None else None
    if gate is None:
        return topo, None, Reason.GATE_UNKNOWN
    if gate.id not in topo.device_gates.get(device_id, ()):
        return topo, gate, Reason.NOT_YOUR_GATE
    return topo, gate, Reason.OK


async def decide_scan(
    rt: Runtime,
    device_id: int,
    gate_id: int | None,
    token: str,
    direction: str | None,
    ref: str | None = None,
    reply_ref: Any = None,
) -> ScanOutcome:
    """With `reply_ref` (the frame's ref as sent) the device's earlier answer to this very scan
    (same ref, same credential) is looked up before anything is recorded or claimed, and raised as
    `AlreadyAnswered`; the new answer is remembered for a retry with the token's settlement (one
    Redis round trip each, shared with the token claim and the settlement: a scan makes two)."""
    topo, gate, gate_check = await resolve_gate(rt, device_id, gate_id)
    if gate is None or gate_check is not Reason.OK:
        if reply_ref is not None and ref is not None:
            await _recall(rt, device_id, ref, token)
        await raise_alert_throttled(
            rt,
            gate_check.value,
            f"device {device_id} scanned at gate {gate_id}, which is "
            + ("unknown" if gate is None else "not assigned to it"),
            device_id=device_id,
            gate_id=gate_id if gate is not None else None,
        )
        return ScanOutcome.refused(gate_check)
    scan = _Scan(rt, topo, gate, passage_direction(gate, direction), device_id, ref)
    scan.recall_pending = reply_ref is not None and ref is not None
    scan.credential = token
    # The device's own check, from this process's copy (no query, no round trip): a device
    # never commissioned or under repair opens nothing. A status changed on another process
    # is caught below, once the token claim has read the shared version.
    if not (await rt.grant_index.get()).in_service(device_id):
        return await scan.record(Reason.DEVICE_NOT_IN_SERVICE)
    now_unix = clock.unix()

    parsed = passtoken.parse(token)
    badge = badges.parse(token) if parsed is None else None
    if parsed is None and badge is None:
        return await scan.record(Reason.MALFORMED)
    cid = parsed.cid if parsed is not None else badge.cid  # type: ignore[union-attr]
    cred = await credential_row(cid)
    if cred is None or (badge is not None) != (cred["kind"] == CredentialKind.BADGE.value):
        return await scan.record(Reason.UNKNOWN_CREDENTIAL, cid=cid)
    person = PersonRef(cred["person_id"], cred["person__display_name"])
    public_key = bytes(cred["public_key"])

    def genuine() -> bool:
        if parsed is not None:
            return passtoken.verify_signature(parsed, public_key)
        return badges.verify(rt, badge)  # type: ignore[arg-type]

    leaving_after_revocation = False
    if (
        cred["status"] != CredentialStatus.ACTIVE.value
        or cred["person__status"] != PersonStatus.ACTIVE.value
        or (cred["valid_until"] is not None and cred["valid_until"] <= clock.now())
    ):
        verified = genuine()
        # Leaving stays possible with the pass that was cut off (offboarded, the visit over, a
        # badge past its end) — not with one replaced by a newer phone — once it verifies.
        if not (verified and scan.way is Direction.OUT and cred["status"] != CredentialStatus.SUPERSEDED.value):
            # Name the person only if the token is really theirs.
            return await scan.record(Reason.REVOKED, person if verified else None, cid)
        leaving_after_revocation = True

    if parsed is not None:
        window = passtoken.step_window(parsed.step, now_unix, cred["period"])
        if window is not None:
            return await scan.record(Reason(window), cid=cid)
    if not leaving_after_revocation and not genuine():
        return await scan.record(Reason.BAD_SIGNATURE, cid=cid)

    token_use = None
    grants_version: int | None = None
    try:
        if parsed is not None:
            ttl = cred["period"] * (2 * passtoken.SKEW_STEPS + 2) + 5
            recall = scan.recall_pending
            scan.recall_pending = False
            claim = await rt.state.claim_token(
                parsed.cid, parsed.step, gate.id, ttl, device_id, ref, credential=token if recall else None
            )
            if claim.remembered is not None:
                raise AlreadyAnswered(claim.remembered)  # the device's retry: nothing was claimed
            grants_version = claim.grants_version
            if not claim.fresh:
                if not _same_scan(claim, gate.id, device_id, ref):
                    # A token opens a door once: any other showing of it, at this gate too, is a copy
                    # (of a pass revoked since: `revoked`, as the contract says).
                    again = Reason.REVOKED if leaving_after_revocation else Reason.REPLAYED
                    return await scan.record(again, person, cid)
                earlier = await _await_settled(rt, parsed.cid, parsed.step, scan, ttl, claim.decision)
                if earlier is not None:
                    return earlier  # the device's retry of the very scan: the same answer, no new event
            token_use = writer.TokenUse(parsed.cid, parsed.step, ttl, token, reply_ref)
        else:
            await scan.recall()  # before the policy's own steps (a badge's entry is claimed there)
            grants_version = await rt.state.grants_version()  # a badge claims no token: read it here

        # The device's status as of the shared version (read with the claim): a device put under
        # repair on any process before this scan began opens nothing here either.
        if grants_version is not None and not (await rt.grant_index.get(grants_version)).in_service(device_id):
            reason, visit = Reason.DEVICE_NOT_IN_SERVICE, None
        elif leaving_after_revocation:
            reason, visit = await exit_after_revocation(rt, topo, gate, person.id), None
        else:
            reason, visit = await policy(
                rt,
                topo,
                gate,
                scan.way,
                person.id,
                cred["person__kind"],
                cred["person__department_id"],
                cred["person__position"],
                badge is not None,
                grants_version,
            )
    except ScanStateLost:
        # Redis came back empty: fail closed until the used tokens and presence are rebuilt.
        start_recovery(rt.state, rt.topology)
        return await scan.record(Reason.UNAVAILABLE, person, cid)
    if two_factor.needed(topo, gate, scan.way):
        # A face-and-pass zone: the pass alone is held until the same person's face (issue 15).
        if not reason.grants:
            two_factor.interrupt(gate.id, person.id)
        elif not two_factor.complete(gate.id, person.id, two_factor.SCAN):
            await undo_entry_claim(rt, topo, gate, scan.way, person.id, reason)
            reason = Reason.SECOND_FACTOR  # answered with "next": "face" (ScanOutcome.of)
    try:
        outcome = await scan.record(reason, person, cid, token_use)
    except BaseException:
        await undo_entry_claim(rt, topo, gate, scan.way, person.id, reason)
        raise
    if reason is Reason.EXIT_AFTER_REVOCATION:
        flag_exit_after_revocation(rt, gate, person, device_id)
    elif reason.grants and visit is not None:
        await after_visitor_passage(rt, topo, gate, scan.way, visit)
    return outcome


async def exit_after_revocation(rt: Runtime, topo: Topology, gate: GateNode, person_id: int) -> Reason:
    """An OUT passage by someone whose access ended while they were inside (offboarded, their visit
    over): let out (contracts/README.md, "people may always leave") unless the gate is locked down;
    someone the site does not hold inside has nothing to leave, and the dead pass stays `revoked`."""
    if topo.lockdown_mode(gate) == "LOCKDOWN":
        return Reason.LOCKDOWN
    if not await rt.state.inside(person_id) & topo.subtree(gate.zone_id):
        return Reason.REVOKED
    return Reason.EXIT_AFTER_REVOCATION


def flag_exit_after_revocation(rt: Runtime, gate: GateNode, person: PersonRef, device_id: int | None) -> None:
    """Guards hear of it beyond the event itself: the pass or badge is to be taken back, and the
    person's record closed. Raised after the answer, so the door does not wait for it."""

    async def flag() -> None:
        try:
            await raise_alert(
                rt,
                Reason.EXIT_AFTER_REVOCATION.value,
                f"{person.display_name} left through {gate.name} after their access ended",
                device_id=device_id,
                gate_id=gate.id,
                payload={"personId": person.id},
            )
        except Exception:
            log.exception("could not raise the exit_after_revocation alert")

    task = asyncio.create_task(flag())
    _flagging.add(task)
    task.add_done_callback(_flagging.discard)


class _Scan:
    """One scan being decided: what every outcome of it records."""

    def __init__(
        self, rt: Runtime, topo: Topology, gate: GateNode, way: Direction, device_id: int, ref: str | None
    ) -> None:
        self.rt, self.topo, self.gate, self.way = rt, topo, gate, way
        self.device_id, self.ref = device_id, ref
        self.started = time.perf_counter()
        self.credential = ""
        # The device's earlier answer to this scan is still to be looked for (see decide_scan).
        self.recall_pending = False

    async def recall(self) -> None:
        """Raises AlreadyAnswered when this scan (ref and credential) was answered before."""
        if self.recall_pending and self.ref is not None:
            self.recall_pending = False
            await _recall(self.rt, self.device_id, self.ref, self.credential)

    async def record(
        self,
        reason: Reason,
        person: PersonRef | None = None,
        cid: str | None = None,
        token: writer.TokenUse | None = None,
    ) -> ScanOutcome:
        await self.recall()  # a refusal before the claim: the retry's earlier answer comes first
        event = GateEventRecord(
            at=clock.now(),
            gate=self.gate,
            reason=reason,
            method=EntryMethod.QR,
            direction=self.way,
            person=person,
            device_id=self.device_id,
            credential_cid=cid,
            device_ref=self.ref,
            # The decision's own time (the commit that follows is shared by the batch).
            latency_ms=(time.perf_counter() - self.started) * 1000,
            # The step of the token it used: the used tokens can be rebuilt from the log.
            payload={"step": token.step} if token is not None else {},
            # ...and uses it up for good: the UNIQUE (cid, step) also refuses an upload of it later.
            credential_step=token.step if token is not None else None,
        )
        stored = await writer.record(self.rt, event, topo=self.topo, token=token)
        outcome = ScanOutcome.of(stored)
        if token is not None and token.remembers:
            return ScanOutcome(
                outcome.granted,
                outcome.reason,
                outcome.person_name,
                outcome.gate_id,
                outcome.event_id,
                True,
                outcome.next_factor,
            )
        return outcome


async def policy(
    rt: Runtime,
    topo: Topology,
    gate: GateNode,
    way: Direction,
    person_id: int,
    person_kind: str,
    department_id: int | None,
    position: str | None,
    badge: bool = False,
    grants_version: int | None = None,
) -> tuple[Reason, Visit | None]:
    """The rules after the credential checks, for a scan and a guard's manual entry alike."""
    lockdown = topo.lockdown_mode(gate)
    if lockdown == "LOCKDOWN" or (lockdown == "EVACUATION" and way is Direction.IN):
        return Reason.LOCKDOWN, None  # nobody passes a locked gate; during an evacuation nobody enters
    if person_kind == PersonKind.VISITOR.value:
        visit = await visits.visit_of_visitor(person_id)
        return await visitor_policy(rt, topo, gate, way, person_id, visit, badge), visit
    return await access_policy(rt, topo, gate, way, person_id, department_id, position, grants_version), None


async def visitor_policy(
    rt: Runtime, topo: Topology, gate: GateNode, way: Direction, person_id: int, visit: Visit | None, badge: bool
) -> Reason:
    """A visitor's pass works in the visit's zones, from check-in until `expectedEnd`."""
    if visit is None or visit.status in (VisitStatus.INVITED, VisitStatus.PENDING_APPROVAL, VisitStatus.APPROVED):
        return Reason.NO_ACCESS
    if visit.status is not VisitStatus.CHECKED_IN:
        # The visit ended while the visitor was inside: they may still leave (flagged).
        return await exit_after_revocation(rt, topo, gate, person_id) if way is Direction.OUT else Reason.REVOKED
    if way is Direction.OUT:
        return Reason.OK  # people may always leave, an overstaying visitor too
    if clock.now() > visit.expected_end:
        return Reason.OUTSIDE_SCHEDULE
    zone_ids = (await visits.visit_zone_ids([visit.id]))[visit.id]
    if not any(gate.zone_id in topo.zones_opening(z) for z in zone_ids):
        return Reason.NO_ACCESS
    site_gate = topo.zones[gate.zone_id].parent_id is None
    if badge and site_gate and visit.site_entries >= 1:
        return Reason.BADGE_USED  # a printed badge lets its holder into the site once per check-in
    if visit.escorted and not await _escort_present(gate.id, visit):
        return Reason.ESCORT_REQUIRED
    reason = await _anti_passback(rt, topo, gate, person_id)
    if reason is not Reason.ANTI_PASSBACK and badge and site_gate:
        # The entry is claimed with a conditional update, so a photo of the badge scanned at the
        # next turnstile at the same moment loses the race.
        if not await Visit.filter(id=visit.id, site_entries=0).update(site_entries=1):
            await undo_entry_claim(rt, topo, gate, way, person_id, reason)
            return Reason.BADGE_USED
    return reason


async def _escort_present(gate_id: int, visit: Visit) -> bool:
    escorts = {visit.host_id, *visit.escort_ids}
    since = clock.now() - timedelta(seconds=ESCORT_WINDOW_SECONDS)
    return await GateEvent.filter(
        gate_id=gate_id, person_id__in=escorts, decision=Decision.GRANTED, at__gte=since
    ).exists()


async def after_visitor_passage(rt: Runtime, topo: Topology, gate: GateNode, way: Direction, visit: Visit) -> None:
    if topo.zones[gate.zone_id].parent_id is not None:
        return
    if way is Direction.OUT:
        await visits.check_out(rt, None, str(visit.id))  # leaving the site ends the visit and its pass


async def _recall(rt: Runtime, device_id: int, ref: str, credential: str) -> None:
    remembered = await rt.state.recall_ref(device_id, ref, credential)
    if remembered is not None:
        raise AlreadyAnswered(remembered)


def _same_scan(claim: TokenClaim, gate_id: int, device_id: int, ref: str | None) -> bool:
    """Whether the token was used by this very scan (the device resending its ref)."""
    return ref is not None and claim.gate_id == gate_id and claim.device_id == device_id and claim.ref == ref


async def _await_settled(
    rt: Runtime, cid: str, step: int, scan: _Scan, ttl: int, decision: dict[str, Any] | None
) -> ScanOutcome | None:
    """The answer the first try of this scan got (it may still be being decided, perhaps on the
    connection the device just lost); None if it never settles, and this try decides."""
    waited = 0.0
    while decision is None and waited < SETTLE_WAIT_SECONDS:
        await asyncio.sleep(0.01)
        waited += 0.01
        claim = await rt.state.claim_token(cid, step, scan.gate.id, ttl, scan.device_id, scan.ref)
        if claim.fresh:
            return None
        decision = claim.decision
    return ScanOutcome.from_json(decision) if decision is not None else None


async def access_policy(
    rt: Runtime,
    topo: Topology,
    gate: GateNode,
    way: Direction,
    person_id: int,
    department_id: int | None,
    position: str | None,
    grants_version: int | None = None,
) -> Reason:
    if way is Direction.OUT:
        return Reason.OK  # people may always leave; the passage is still verified and recorded
    if grants_version is None:
        grants_version = await rt.state.grants_version()
    # The index as of the shared grants version read before this point (with the token claim):
    # a grant revoked on any process before this scan began no longer counts here.
    index = await rt.grant_index.get(grants_version)
    verdict = index.verdict(
        person_id, department_id, position, topo.zones_opening(gate.zone_id), clock.now(), rt.settings.tz
    )
    if verdict is not Reason.OK:
        return verdict
    return await _anti_passback(rt, topo, gate, person_id)


async def _anti_passback(rt: Runtime, topo: Topology, gate: GateNode, person_id: int) -> Reason:
    """The last rule of an entry. At a HARD zone it claims the entry in the shared state in one
    atomic step (two gates, two workers, one person: one passes); whoever then does not record
    the granted passage gives the claim back (`undo_entry_claim`)."""
    zone = topo.zones[gate.zone_id]
    if zone.anti_passback is AntiPassback.HARD:
        return Reason.OK if await rt.state.claim_entry(person_id, gate.zone_id) else Reason.ANTI_PASSBACK
    if zone.anti_passback is AntiPassback.SOFT and gate.zone_id in await rt.state.inside(person_id):
        return Reason.ANTI_PASSBACK_SOFT
    return Reason.OK


def _claims_entry(topo: Topology, gate: GateNode, way: Direction, reason: Reason) -> bool:
    return reason.grants and way is Direction.IN and topo.zones[gate.zone_id].anti_passback is AntiPassback.HARD


async def undo_entry_claim(
    rt: Runtime, topo: Topology, gate: GateNode, way: Direction, person_id: int, reason: Reason
) -> None:
    """A granted HARD entry whose passage was not stored after all: the person is not inside."""
    if _claims_entry(topo, gate, way, reason):
        await rt.state.leave(person_id, [gate.zone_id])
