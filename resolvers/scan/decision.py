"""The scan decision: a pass token at a gate → granted or denied, with the rule that decided.

Order (contracts/PASS_TOKEN.md): gate checks, then malformed, unknown_credential,
revoked, expired / not_yet_valid, bad_signature, replayed, then the zone's policy.
The path touches memory (zones, gates, used tokens, presence) and two indexed
queries (the credential with its person, and one grant look-up), and waits for
the event's commit; everything else (pushing to guards) happens after.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gatehouse_gate import passtoken

from resolvers.access.topology import GateNode, Topology
from resolvers.alerts.raising import raise_alert_throttled
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
from resolvers.passes.credential_lookup import credential_row
from resolvers.runtime import Runtime
from resolvers.scan import presence
from resolvers.visits import badges, visits

# Reasons decided before the signature is checked: the claimed credential proves nothing.
UNVERIFIED = frozenset({"malformed", "unknown_credential", "expired", "not_yet_valid", "bad_signature"})
SETTLE_WAIT_SECONDS = 2.0
ESCORT_WINDOW_SECONDS = 30


class DirectionRequired(ValueError):
    """A scan at a BOTH gate that does not say which way (the device gets an error frame)."""


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    granted: bool
    reason: str
    person_name: str | None = None
    gate_id: int | None = None
    event_id: int | None = None

    def frame(self, ref: Any, door_open_ms: int) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "decision", "ref": ref, "granted": self.granted, "reason": self.reason}
        if self.granted:
            out["person"] = {"displayName": self.person_name}
            out["open"] = {"gateId": str(self.gate_id), "durationMs": door_open_ms}
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "granted": self.granted,
            "reason": self.reason,
            "person": self.person_name,
            "gate": self.gate_id,
            "event": self.event_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanOutcome:
        return cls(data["granted"], data["reason"], data.get("person"), data.get("gate"), data.get("event"))


def passage_direction(gate: GateNode, requested: str | None) -> Direction:
    if gate.direction is GateDirection.BOTH:
        if requested not in ("IN", "OUT"):
            raise DirectionRequired('this gate takes both directions: say "direction": "IN" or "OUT"')
        return Direction(requested)
    return Direction(gate.direction.value)


async def resolve_gate(rt: Runtime, device_id: int, gate_id: int | None) -> tuple[Topology, GateNode | None, str]:
    """The gate, or the device-misconfiguration reason (`gate_unknown`, `not_your_gate`)."""
    topo = await rt.topology.get()
    gate = topo.gates.get(gate_id) if gate_id is not None else None
    if gate is None or gate.id not in topo.device_gates.get(device_id, ()):
        # Another process may have just added it; read the site once more before refusing.
        topo = await rt.topology.reload_if_older(1.0)
        gate = topo.gates.get(gate_id) if gate_id is not None else None
    if gate is None:
        return topo, None, "gate_unknown"
    if gate.id not in topo.device_gates.get(device_id, ()):
        return topo, gate, "not_your_gate"
    return topo, gate, "ok"


async def decide_scan(
    rt: Runtime, device_id: int, gate_id: int | None, token: str, direction: str | None, ref: str | None = None
) -> ScanOutcome:
    topo, gate, gate_check = await resolve_gate(rt, device_id, gate_id)
    if gate is None or gate_check != "ok":
        await raise_alert_throttled(
            rt,
            gate_check,
            f"device {device_id} scanned at gate {gate_id}, which is "
            + ("unknown" if gate is None else "not assigned to it"),
            device_id=device_id,
            gate_id=gate_id if gate is not None else None,
        )
        return ScanOutcome(False, gate_check)
    way = passage_direction(gate, direction)
    now_unix = clock.unix()
    base = {
        "gate_id": gate.id,
        "zone_id": gate.zone_id,
        "device_id": device_id,
        "method": EntryMethod.QR,
        "direction": way,
        "device_ref": ref,
        "latency_started": time.perf_counter(),
    }

    parsed = passtoken.parse(token)
    badge = badges.parse(token) if parsed is None else None
    if parsed is None and badge is None:
        return await _record(rt, gate, base, "malformed", None, None, None)
    cid = parsed.cid if parsed is not None else badge.cid  # type: ignore[union-attr]
    cred = await credential_row(cid)
    if cred is None or (badge is not None) != (cred["kind"] == CredentialKind.BADGE.value):
        return await _record(rt, gate, base, "unknown_credential", None, None, cid)
    person_id: int = cred["person_id"]
    name: str = cred["person__display_name"]
    public_key = bytes(cred["public_key"])

    def genuine() -> bool:
        if parsed is not None:
            return passtoken.verify_signature(parsed, public_key)
        return badges.verify(rt, badge)  # type: ignore[arg-type]

    if (
        cred["status"] != CredentialStatus.ACTIVE.value
        or cred["person__status"] != PersonStatus.ACTIVE.value
        or (cred["valid_until"] is not None and cred["valid_until"] <= clock.now())
    ):
        # Name the person only if the token is really theirs.
        owner = person_id if genuine() else None
        return await _record(rt, gate, base, "revoked", owner, name if owner else None, cid)

    if parsed is not None:
        window = passtoken.step_window(parsed.step, now_unix, cred["period"])
        if window is not None:
            return await _record(rt, gate, base, window, None, None, cid)
    if not genuine():
        return await _record(rt, gate, base, "bad_signature", None, None, cid)

    ttl = 0
    if parsed is not None:
        ttl = cred["period"] * (2 * passtoken.SKEW_STEPS + 2) + 5
        claim = await rt.state.claim_token(parsed.cid, parsed.step, gate.id, ttl)
        if not claim.fresh:
            if claim.gate_id != gate.id:
                return await _record(rt, gate, base, "replayed", person_id, name, cid)
            earlier = await _await_settled(rt, parsed.cid, parsed.step, gate.id, ttl, claim.decision)
            if earlier is not None:
                return earlier  # the same person scanning twice at one turnstile: same answer, no new entry

    reason, visit = await policy(
        rt,
        topo,
        gate,
        way,
        person_id,
        cred["person__kind"],
        cred["person__department_id"],
        cred["person__position"],
        badge is not None,
    )
    granted = reason in ("ok", "anti_passback_soft")
    outcome = await _record(rt, gate, base, reason, person_id, name, cid, granted=granted)
    enter, leave = presence.change(topo, gate.zone_id, way) if granted else (None, None)
    settle = (parsed.cid, parsed.step, gate.id, outcome.to_json(), ttl) if parsed is not None else None
    await rt.state.finish(settle, person_id if granted else None, enter, leave)
    if granted and visit is not None:
        await after_visitor_passage(rt, topo, gate, way, visit)
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
) -> tuple[str, Visit | None]:
    """The rules after the credential checks, for a scan and a guard's manual entry alike."""
    lockdown = topo.lockdown_mode(gate)
    if lockdown == "LOCKDOWN" or (lockdown == "EVACUATION" and way is Direction.IN):
        return "lockdown", None  # nobody passes a locked gate; during an evacuation nobody enters
    if person_kind == PersonKind.VISITOR.value:
        visit = await visits.visit_of_visitor(person_id)
        return await visitor_policy(rt, topo, gate, way, person_id, visit, badge), visit
    return await access_policy(rt, topo, gate, way, person_id, department_id, position), None


async def visitor_policy(
    rt: Runtime, topo: Topology, gate: GateNode, way: Direction, person_id: int, visit: Visit | None, badge: bool
) -> str:
    """A visitor's pass works in the visit's zones, from check-in until `expectedEnd`."""
    if visit is None or visit.status in (VisitStatus.INVITED, VisitStatus.PENDING_APPROVAL, VisitStatus.APPROVED):
        return "no_access"
    if visit.status is not VisitStatus.CHECKED_IN:
        return "revoked"
    if way is Direction.OUT:
        return "ok"  # people may always leave, an overstaying visitor too
    if clock.now() > visit.expected_end:
        return "outside_schedule"
    zone_ids = (await visits.visit_zone_ids([visit.id]))[visit.id]
    if not any(gate.zone_id in topo.zones_opening(z) for z in zone_ids):
        return "no_access"
    site_gate = topo.zones[gate.zone_id].parent_id is None
    if badge and site_gate and visit.site_entries >= 1:
        return "badge_used"  # a printed badge lets its holder into the site once per check-in
    if visit.escorted and not await _escort_present(gate.id, visit):
        return "escort_required"
    reason = await _anti_passback(rt, topo, gate, person_id)
    if reason != "anti_passback" and badge and site_gate:
        # The entry is claimed with a conditional update, so a photo of the badge scanned at the
        # next turnstile at the same moment loses the race.
        if not await Visit.filter(id=visit.id, site_entries=0).update(site_entries=1):
            return "badge_used"
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


async def _await_settled(
    rt: Runtime, cid: str, step: int, gate_id: int, ttl: int, decision: dict[str, Any] | None
) -> ScanOutcome | None:
    waited = 0.0
    while decision is None and waited < SETTLE_WAIT_SECONDS:
        await asyncio.sleep(0.01)
        waited += 0.01
        claim = await rt.state.claim_token(cid, step, gate_id, ttl)
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
) -> str:
    if way is Direction.OUT:
        return "ok"  # people may always leave; the passage is still verified and recorded
    index = await rt.grant_index.get()
    verdict = index.verdict(
        person_id, department_id, position, topo.zones_opening(gate.zone_id), clock.now(), rt.settings.tz
    )
    if verdict != "ok":
        return verdict
    return await _anti_passback(rt, topo, gate, person_id)


async def _anti_passback(rt: Runtime, topo: Topology, gate: GateNode, person_id: int) -> str:
    zone = topo.zones[gate.zone_id]
    if zone.anti_passback is not AntiPassback.OFF and gate.zone_id in await rt.state.inside(person_id):
        return "anti_passback" if zone.anti_passback is AntiPassback.HARD else "anti_passback_soft"
    return "ok"


async def _record(
    rt: Runtime,
    gate: GateNode,
    base: dict[str, Any],
    reason: str,
    person_id: int | None,
    person_name: str | None,
    cid: str | None,
    granted: bool = False,
) -> ScanOutcome:
    row = {k: v for k, v in base.items() if k != "latency_started"}
    # The decision's own time (the commit that follows is shared by the batch).
    row["latency_ms"] = (time.perf_counter() - base["latency_started"]) * 1000
    row = dict(
        row,
        at=clock.now(),
        person_id=person_id,
        credential_cid=cid,
        reason=reason,
        decision=Decision.GRANTED if granted else Decision.DENIED,
    )
    event = await rt.events.record(row, gate.name, person_name)
    return ScanOutcome(granted, reason, person_name, gate.id, event.id)
