"""What a device is told about one scan, and what is remembered of it for a retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resolvers.core.models import EntryMethod
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.reasons import Reason


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    granted: bool
    reason: Reason
    person_name: str | None = None
    gate_id: int | None = None
    event_id: int | None = None
    # The device's answer is already remembered for its retry (stored with the token's settlement).
    shared: bool = False
    # A `second_factor` answer: which factor completes it ("scan" or "face"; DEVICE_PROTOCOL.md "Faces").
    next_factor: str | None = None

    @classmethod
    def of(cls, event: GateEventRecord) -> ScanOutcome:
        name = event.person.display_name if event.person is not None else None
        waiting_for = None
        if event.reason is Reason.SECOND_FACTOR:  # a pass waits for the face, a face for the pass
            waiting_for = "scan" if event.method is EntryMethod.FACE else "face"
        return cls(event.granted, event.reason, name, event.gate_id, event.id, next_factor=waiting_for)

    @classmethod
    def refused(cls, reason: Reason) -> ScanOutcome:
        """A refusal that is no gate event (the device named a gate it does not serve, or the server failed)."""
        return cls(False, reason)

    def frame(self, ref: Any, door_open_ms: int) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "decision", "ref": ref, "granted": self.granted, "reason": self.reason.value}
        if self.granted:
            out["person"] = {"displayName": self.person_name}
            out["open"] = {"gateId": str(self.gate_id), "durationMs": door_open_ms}
        if self.next_factor is not None:
            out["next"] = self.next_factor
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "granted": self.granted,
            "reason": self.reason.value,
            "person": self.person_name,
            "gate": self.gate_id,
            "event": self.event_id,
        }
        if self.next_factor is not None:
            out["next"] = self.next_factor
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanOutcome:
        return cls(
            data["granted"],
            Reason(data["reason"]),
            data.get("person"),
            data.get("gate"),
            data.get("event"),
            next_factor=data.get("next"),
        )


class AlreadyAnswered(Exception):
    """A device's retry of a scan already answered (same ref, same credential): `reply` is the
    answer it got, to be sent again; nothing was decided or recorded this time."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__("already answered")
        self.reply = reply
