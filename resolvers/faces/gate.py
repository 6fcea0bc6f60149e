"""A face at a gate → granted or denied, by the same rules as a pass (resolvers/scan/decision.py).

Order: the gate and the device (as for a scan), face recognition available, the terminal's
liveness verdict, the image (detected and encoded in the encoding process) or the terminal's own
embedding, the 1:N match against every enrolled template (anyone may leave by any exit), the
person's status, then the zone's policy (grants, schedule, anti-passback, lockdown, visits) and
two factors where the zone needs them. Every answer but a misnamed gate is a gate event with
method FACE, the match distance and the liveness verdict stored with it; the distance is never
sent to the device.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from realtime.messages import PersonRef
from realtime.scan_state import ScanStateLost
from resolvers.access.topology import GateNode, Topology
from resolvers.core import clock
from resolvers.core.models import DeviceHealthSample, Direction, EntryMethod, Person, PersonStatus
from resolvers.faces import templates, two_factor
from resolvers.faces.encoding import FacesBusy, encoder
from resolvers.runtime import Runtime
from resolvers.scan import writer
from resolvers.scan.decision import after_visitor_passage, passage_direction, policy, resolve_gate, undo_entry_claim
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.outcome import ScanOutcome
from resolvers.scan.presence import start_recovery
from resolvers.scan.reasons import Reason

log = logging.getLogger("gatehouse.faces")


@dataclass(frozen=True)
class FaceShown:
    """What a face frame carried: exactly one of `image` (JPEG bytes) and `embedding`."""

    image: bytes | None
    embedding: tuple[float, ...] | None
    liveness: bool | None

    def fingerprint(self) -> str:
        """Stands for the frame's content when a retry (same ref) is recognised as the same face."""
        body = self.image if self.image is not None else repr(self.embedding).encode()
        return "face:" + hashlib.sha256(body + repr(self.liveness).encode()).hexdigest()


class _FaceEvent:
    def __init__(
        self,
        rt: Runtime,
        topo: Topology,
        gate: GateNode,
        way: Direction,
        device_id: int,
        ref: str,
        liveness: bool | None,
    ) -> None:
        self.rt, self.topo, self.gate, self.way = rt, topo, gate, way
        self.device_id, self.ref, self.liveness = device_id, ref, liveness
        self.started = time.perf_counter()

    async def record(
        self, reason: Reason, person: PersonRef | None = None, distance: float | None = None, **payload: object
    ) -> ScanOutcome:
        event = GateEventRecord(
            at=clock.now(),
            gate=self.gate,
            reason=reason,
            method=EntryMethod.FACE,
            direction=self.way,
            person=person,
            device_id=self.device_id,
            device_ref=self.ref,
            latency_ms=(time.perf_counter() - self.started) * 1000,
            payload=payload,
            match_distance=distance,
            liveness=self.liveness,
        )
        return ScanOutcome.of(await writer.record(self.rt, event, topo=self.topo))


async def decide_face(
    rt: Runtime, device_id: int, gate_id: int | None, shown: FaceShown, direction: str | None, ref: str
) -> ScanOutcome:
    """Raises DirectionRequired (as a scan does) at a BOTH gate that was not told the way."""
    topo, gate, gate_check = await resolve_gate(rt, device_id, gate_id)
    if gate is None or gate_check is not Reason.OK:
        return ScanOutcome.refused(gate_check)
    face = _FaceEvent(rt, topo, gate, passage_direction(gate, direction), device_id, ref, shown.liveness)
    if not (await rt.grant_index.get()).in_service(device_id):
        return await face.record(Reason.DEVICE_NOT_IN_SERVICE)
    if templates.unavailable_reason(rt.settings) is not None:
        return await face.record(Reason.FACE_UNAVAILABLE)
    if shown.liveness is False:
        return await face.record(Reason.LIVENESS_FAILED)
    if shown.image is not None:
        try:
            encoded = await encoder.encode(shown.image, ("JPEG",))
        except FacesBusy:
            # Gates never wait behind faces: refused at once, the terminal may try again.
            log.warning("face from device %s refused: the encoding queue is full", device_id)
            return await face.record(Reason.UNAVAILABLE, facesBusy=True)
        if encoded.problem is not None:
            return await face.record(Reason.FACE_BAD_IMAGE, problem=encoded.problem)
        vector = np.asarray(encoded.embedding, dtype=np.float64)
    else:
        assert shown.embedding is not None
        vector = np.asarray(shown.embedding, dtype=np.float64)
    match = (await templates.gallery(rt)).match(vector, rt.settings.face_match_distance)
    if match.problem == "ambiguous":
        return await face.record(Reason.FACE_AMBIGUOUS, distance=match.distance)
    if match.person_id is None:
        return await face.record(Reason.FACE_UNKNOWN, distance=match.distance)
    found = await Person.filter(id=match.person_id).values(
        "display_name", "kind", "status", "department_id", "position"
    )
    if not found:
        return await face.record(Reason.FACE_UNKNOWN, distance=match.distance)
    row = found[0]
    person = PersonRef(match.person_id, row["display_name"])
    if row["status"] != PersonStatus.ACTIVE.value:
        return await face.record(Reason.REVOKED, person, match.distance)
    try:
        grants_version = await rt.state.grants_version()
        reason, visit = await policy(
            rt,
            topo,
            gate,
            face.way,
            person.id,
            row["kind"],
            row["department_id"],
            row["position"],
            False,
            grants_version,
        )
    except ScanStateLost:
        start_recovery(rt.state, rt.topology)
        return await face.record(Reason.UNAVAILABLE, person, match.distance)
    if two_factor.needed(topo, gate, face.way):
        if not reason.grants:
            two_factor.interrupt(gate.id, person.id)
        elif not two_factor.complete(gate.id, person.id, two_factor.FACE):
            await undo_entry_claim(rt, topo, gate, face.way, person.id, reason)
            reason = Reason.SECOND_FACTOR  # answered with "next": "scan" (ScanOutcome.of)
    try:
        outcome = await face.record(reason, person, match.distance)
    except BaseException:
        await undo_entry_claim(rt, topo, gate, face.way, person.id, reason)
        raise
    if reason.grants and visit is not None:
        await after_visitor_passage(rt, topo, gate, face.way, visit)
    return outcome


# Refused before any recognition was tried: not counted as attempts in the device's health.
_NOT_TRIED = frozenset(
    {Reason.FACE_UNAVAILABLE, Reason.LIVENESS_FAILED, Reason.DEVICE_NOT_IN_SERVICE, Reason.UNAVAILABLE}
)
_NOT_RECOGNISED = frozenset({Reason.FACE_UNKNOWN, Reason.FACE_AMBIGUOUS, Reason.FACE_BAD_IMAGE})


async def count_recognition(device_id: int, outcome: ScanOutcome) -> None:
    """The server's recognitions of a terminal's faces join its health figures (the recognised
    share of face attempts), as the terminal's own heartbeat counts do."""
    if outcome.event_id is None or outcome.reason in _NOT_TRIED:
        return
    recognised = outcome.reason not in _NOT_RECOGNISED
    await DeviceHealthSample.create(
        device_id=device_id,
        at=clock.now(),
        scans=0,
        decode_failures=0,
        recognition_attempts=1,
        recognition_successes=1 if recognised else 0,
    )
