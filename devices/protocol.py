"""Device frames: parsing and the shape every incoming `type` must have (protocol v1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_FRAME_BYTES = 64 * 1024
# An offline upload may carry up to 1,000 events; it may use the whole transport limit.
MAX_EVENTS_FRAME_BYTES = 1024 * 1024
# Frames up to this size get an error frame; uvicorn closes larger ones with 1009.
TRANSPORT_MAX_BYTES = 1024 * 1024 + 4096

DOOR_STATES = frozenset({"opened", "closed", "forced", "held_open"})

# type → required fields and their JSON types
REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "hello": {"deviceId": str, "secret": str},
    "scan": {"ref": (str, int), "gateId": str, "credential": str},
    "ack": {"id": str},
    "heartbeat": {},
    "door": {"gateId": str, "state": str},
    # Protocol additions (v1 devices never send them): offline operation.
    "snapshot_ack": {"issuedAt": str},
    "events": {"events": list},
    # Item labels scanned at a gate (items issue); answered by an `item_result` frame.
    "item": {"ref": (str, int), "gateId": str, "code": str},
}


class BadMessage(ValueError):
    def __init__(self, message: str, ref: Any = None) -> None:
        super().__init__(message)
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Frame:
    type: str
    data: dict[str, Any]

    @property
    def ref(self) -> Any:
        return self.data.get("ref")


def error_frame(message: str, ref: Any = None, code: str = "bad_message") -> dict[str, Any]:
    return {"type": "error", "ref": ref, "code": code, "message": message}


def _looks_like_events(raw: str | bytes) -> bool:
    head = raw[:64] if isinstance(raw, str) else raw[:64].decode(errors="replace")
    return '"type": "events"' in head or '"type":"events"' in head


def _ref_of(raw: str | bytes) -> Any:
    """The frame's ref, so even a refused frame's error can be matched (transport caps it near 1 MiB)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    ref = data.get("ref") if isinstance(data, dict) else None
    return ref if isinstance(ref, (str, int)) and not isinstance(ref, bool) else None


def parse_frame(raw: str | bytes) -> Frame:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    limit = MAX_EVENTS_FRAME_BYTES if size > MAX_FRAME_BYTES and _looks_like_events(raw) else MAX_FRAME_BYTES
    if size > limit:
        raise BadMessage(f"frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit", _ref_of(raw))
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("frame is not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("frame must be a JSON object")
    ref = data.get("ref")
    if not isinstance(ref, (str, int)) or isinstance(ref, bool):
        ref = None
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in REQUIRED:
        raise BadMessage(f"unknown frame type {kind!r}", ref)
    for name, expected in REQUIRED[kind].items():
        if name not in data:
            raise BadMessage(f"{kind} frame misses {name!r}", ref)
        value = data[name]
        if not isinstance(value, expected) or isinstance(value, bool):
            raise BadMessage(f"{kind} frame field {name!r} has the wrong type", ref)
    if kind == "scan":
        if isinstance(data["ref"], str) and not (0 < len(data["ref"]) <= 128):
            raise BadMessage("scan ref must be 1–128 characters", ref)
        credential = data["credential"]
        if credential != credential.strip() or any(c.isspace() for c in credential):
            raise BadMessage("credential must be the token alone: no whitespace or newline", ref)
        direction = data.get("direction")
        if direction is not None and direction not in ("IN", "OUT"):
            raise BadMessage('direction must be "IN" or "OUT"', ref)
    if kind == "door" and data["state"] not in DOOR_STATES:
        raise BadMessage(f"door state must be one of {sorted(DOOR_STATES)}", ref)
    return Frame(kind, data)
