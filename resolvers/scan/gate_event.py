"""A gate event, the one shape it has from the decision to the guard's screen.

Every passage (online scan, offline upload, manual entry, remote open) and every door alarm
is built as a `GateEventRecord`, stored by the event log (which gives it its `id`), then
turned into the bus message guards receive (`message()`). The decision follows from the
reason; the person is present only when the event may name them (contracts/README.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from realtime.messages import GateEventMessage, GateRef, PersonRef
from resolvers.access.topology import GateNode
from resolvers.core.models import Decision, Direction, EntryMethod
from resolvers.scan.reasons import Reason


@dataclass(frozen=True, slots=True)
class GateEventRecord:
    at: datetime
    gate: GateNode  # as the site was when it happened; its zone is the event's zone
    reason: Reason
    method: EntryMethod | None = None  # None for a door alarm
    direction: Direction | None = None  # None for a remote open or a door alarm
    person: PersonRef | None = None
    device_id: int | None = None
    operator_id: int | None = None  # the guard, for manual entries and remote opens
    credential_cid: str | None = None
    offline: bool = False
    device_seq: int | None = None  # an offline upload's sequence number: stored once per device
    device_ref: str | None = None  # the scan's ref
    latency_ms: float | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    # The token step this event used up (UNIQUE with the cid): only the scan or verified upload that used it.
    credential_step: int | None = None
    id: int | None = None  # set once stored
    # FACE decisions: the match's embedding distance (stored, never sent to the device) and the
    # terminal's liveness verdict (None: it reported none).
    match_distance: float | None = None
    liveness: bool | None = None

    @property
    def decision(self) -> Decision | None:
        return self.reason.decision

    @property
    def granted(self) -> bool:
        return self.reason.grants

    @property
    def gate_id(self) -> int:
        return self.gate.id

    @property
    def zone_id(self) -> int:
        return self.gate.zone_id

    @property
    def person_id(self) -> int | None:
        return self.person.id if self.person is not None else None

    @property
    def moves_someone(self) -> bool:
        """A granted passage of a known person changes who is inside where."""
        return self.granted and self.person is not None and self.direction is not None

    def row(self) -> dict[str, Any]:
        """The fields of resolvers.core.models.GateEvent."""
        return {
            "at": self.at,
            "gate_id": self.gate.id,
            "zone_id": self.gate.zone_id,
            "device_id": self.device_id,
            "person_id": self.person_id,
            "operator_id": self.operator_id,
            "credential_cid": self.credential_cid,
            "credential_step": self.credential_step,
            "decision": self.decision,
            "reason": self.reason.value,
            "method": self.method,
            "direction": self.direction,
            "device_ref": self.device_ref,
            "device_seq": self.device_seq,
            "latency_ms": self.latency_ms,
            "payload": dict(self.payload),
            "offline": self.offline,
            "match_distance": self.match_distance,
            "liveness": self.liveness,
        }

    def stored_as(self, event_id: int) -> GateEventRecord:
        # Spelled out rather than dataclasses.replace, which costs twice as much on the scan path.
        return GateEventRecord(
            self.at,
            self.gate,
            self.reason,
            self.method,
            self.direction,
            self.person,
            self.device_id,
            self.operator_id,
            self.credential_cid,
            self.offline,
            self.device_seq,
            self.device_ref,
            self.latency_ms,
            self.payload,
            self.credential_step,
            event_id,
            self.match_distance,
            self.liveness,
        )

    def message(self) -> GateEventMessage:
        if self.id is None:
            raise ValueError("a gate event is published only once it is stored")
        return GateEventMessage(
            id=self.id,
            at=self.at,
            gate=GateRef(self.gate.id, self.gate.name, self.gate.direction.value),
            zone_id=self.gate.zone_id,
            reason=self.reason.value,
            decision=self.decision.value if self.decision is not None else None,
            method=self.method.value if self.method is not None else None,
            direction=self.direction.value if self.direction is not None else None,
            offline=self.offline,
            person=self.person,
        )
