"""Events a gate decided while its link was down, uploaded on reconnect.

Each carries the device's sequence number; (device, seq) is stored once, however often
the batch arrives. The events are marked `offline` and go through the one gate event writer
(resolvers/scan/writer.py) like any other: stored, then presence, then published to guards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from gatehouse_gate import passtoken

from realtime.messages import PersonRef
from resolvers.access.topology import Topology
from resolvers.core import clock
from resolvers.core.errors import is_id
from resolvers.core.models import Credential, Direction, EntryMethod, GateEvent
from resolvers.runtime import Runtime
from resolvers.scan import writer
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.reasons import Reason

log = logging.getLogger("gatehouse.offline")
MAX_BATCH = 1000


class BadBatch(ValueError):
    pass


@dataclass(frozen=True)
class OfflineEvent:
    seq: int
    gate_id: int
    at: datetime
    credential: str
    granted: bool
    reason: Reason
    direction: Direction
    ref: str | None = None  # the online scan's ref, when the gate gave up waiting for its answer


def parse_batch(raw: object, device_gates: frozenset[int]) -> list[OfflineEvent]:
    if not isinstance(raw, list) or not raw:
        raise BadBatch("events must be a non-empty list")
    if len(raw) > MAX_BATCH:
        raise BadBatch(f"at most {MAX_BATCH} events per frame")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadBatch("each event is an object")
        seq, gate, at, credential = item.get("seq"), item.get("gateId"), item.get("at"), item.get("credential")
        granted, reason, direction = item.get("granted"), item.get("reason"), item.get("direction")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**62:
            raise BadBatch("seq must be a whole number from 1 to 2^62")
        if not isinstance(gate, str) or not is_id(gate) or int(gate) not in device_gates:
            raise BadBatch(f"event {seq}: gate is not one of this device's")
        if not isinstance(granted, bool) or not isinstance(reason, str) or not 0 < len(reason) <= 32:
            raise BadBatch(f"event {seq}: granted (boolean) and reason are required")
        known = Reason.parse(reason)
        if known is None or known.is_alarm:
            raise BadBatch(f"event {seq}: {reason[:32]!r} is not a scan decision's reason")
        if known.grants != granted:
            raise BadBatch(f"event {seq}: reason {known.value} does not {'grant' if granted else 'deny'}")
        if direction not in ("IN", "OUT") or not isinstance(credential, str) or len(credential) > 512:
            raise BadBatch(f"event {seq}: direction IN/OUT and the credential text are required")
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00")) if isinstance(at, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise BadBatch(f"event {seq}: at must be an ISO 8601 time with an offset")
        if when > clock.now() + timedelta(minutes=5):
            raise BadBatch(f"event {seq}: at lies in the future")
        ref = item.get("ref")
        if ref is not None and (not isinstance(ref, (str, int)) or isinstance(ref, bool) or len(str(ref)) > 128):
            raise BadBatch(f"event {seq}: ref must be the scan's ref")
        out.append(
            OfflineEvent(
                seq,
                int(gate),
                when,
                credential,
                granted,
                known,
                Direction(direction),
                str(ref) if ref is not None else None,
            )
        )
    return out


async def ingest(rt: Runtime, device_id: int, events: list[OfflineEvent]) -> tuple[int, int]:
    """Store what is new; returns (stored, already stored)."""
    topo = await rt.topology.get()
    seqs = [e.seq for e in events]
    rows = await GateEvent.filter(device_id=device_id, device_seq__in=seqs).values("device_seq")
    known: set[int] = {r["device_seq"] for r in rows}
    # A scan the server did decide online (its answer came too late for the gate) is not stored twice.
    refs = [e.ref for e in events if e.ref]
    decided = set()
    if refs:
        decided = {
            r["device_ref"]
            for r in await GateEvent.filter(device_id=device_id, device_ref__in=refs, device_seq=None).values(
                "device_ref"
            )
        }
    fresh = [e for e in events if e.seq not in known and (e.ref is None or e.ref not in decided)]
    fresh = list({e.seq: e for e in fresh}.values())  # one per seq even if a batch repeats one
    people = await _people(fresh)
    stored = await writer.record_uploaded(rt, [_event(device_id, topo, e, people) for e in fresh])
    return len(stored), len(events) - len(stored)


async def _people(events: list[OfflineEvent]) -> dict[str, tuple[int, str, bytes, int]]:
    cids = {p.cid for e in events if (p := passtoken.parse(e.credential)) is not None}
    rows = await Credential.filter(cid__in=cids).values(
        "cid", "person_id", "person__display_name", "public_key", "period"
    )
    return {r["cid"]: (r["person_id"], r["person__display_name"], bytes(r["public_key"]), r["period"]) for r in rows}


def _genuine(parsed: passtoken.ParsedToken | None, owner: tuple[int, str, bytes, int] | None, at: datetime) -> bool:
    """The server checks again what the gate says it checked: the signature, and a step that fits
    the time the gate reports. A device (or a stolen device secret) cannot put a person at a gate."""
    if parsed is None or owner is None:
        return False
    return (
        passtoken.verify_signature(parsed, owner[2])
        and passtoken.step_window(parsed.step, at.timestamp(), owner[3]) is None
    )


def _event(
    device_id: int, topo: Topology, e: OfflineEvent, people: dict[str, tuple[int, str, bytes, int]]
) -> GateEventRecord:
    parsed = passtoken.parse(e.credential)
    owner = people.get(parsed.cid) if parsed is not None else None
    # The person is named only when the token really was theirs, at that time.
    verified = e.reason.verified and _genuine(parsed, owner, e.at)
    return GateEventRecord(
        at=e.at,
        gate=topo.gates[e.gate_id],
        reason=e.reason,
        method=EntryMethod.QR,
        direction=e.direction,
        person=PersonRef(owner[0], owner[1]) if owner is not None and verified else None,
        device_id=device_id,
        credential_cid=parsed.cid if parsed else None,
        offline=True,
        device_seq=e.seq,
        device_ref=e.ref,
        # What the gate reported happened (the door did open); an unverified claim names nobody.
        payload={"uploadedAt": clock.now().isoformat(), "verified": verified},
    )
