"""Device frames off the wire: size limits, JSON, and the declared shape of each incoming
`type` (devices/frames/incoming.py). A frame that fails gets an `error` frame, never a crash."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from devices.frames.incoming import INCOMING
from devices.frames.outgoing import Error

MAX_FRAME_BYTES = 64 * 1024
# An offline upload may carry up to 1,000 events, and a face frame a 512 KiB JPEG: they may use
# the whole transport limit; every other frame stays within MAX_FRAME_BYTES.
MAX_EVENTS_FRAME_BYTES = 1024 * 1024
# Frames up to this size get an error frame; uvicorn closes larger ones with 1009.
TRANSPORT_MAX_BYTES = 1024 * 1024 + 4096
T = TypeVar("T")


class BadMessage(ValueError):
    def __init__(self, message: str, ref: Any = None) -> None:
        super().__init__(message)
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Frame(Generic[T]):
    """A frame that has its declared shape: `data` is the declaration's TypedDict."""

    type: str
    data: T
    ref: str | int | None  # echoed in any error about this frame


def error_frame(message: str, ref: Any = None, code: Literal["bad_message", "server_error"] = "bad_message") -> Error:
    return {"type": "error", "ref": ref, "code": code, "message": message}


def _looks_like_events(raw: str | bytes) -> bool:
    """An `events` or `face` frame (firmware writes `type` first)."""
    head = raw[:64] if isinstance(raw, str) else raw[:64].decode(errors="replace")
    return any(f'"type": "{kind}"' in head or f'"type":"{kind}"' in head for kind in ("events", "face"))


# An oversized frame is never parsed: its ref is looked for in its first bytes only (firmware
# writes `type` and `ref` first), so refusing it costs the same whatever it carries.
REF_SCAN_CHARS = 512
_REF_FIELD = re.compile(r'"ref"\s*:\s*("(?:[^"\\\x00-\x1f]|\\.){1,128}"|-?\d{1,18})(?=\s*[,}])')


def _ref_of(raw: str | bytes) -> Any:
    """The ref of a frame too big to parse, from a bounded scan of its head (else None)."""
    head = raw[:REF_SCAN_CHARS] if isinstance(raw, str) else raw[:REF_SCAN_CHARS].decode(errors="replace")
    found = _REF_FIELD.search(head)
    if found is None:
        return None
    try:
        ref = json.loads(found.group(1))  # at most ~260 characters: a string literal or a number
    except ValueError:
        return None
    return ref if isinstance(ref, (str, int)) and not isinstance(ref, bool) else None


def frame_size(raw: str | bytes) -> int:
    """Bytes on the wire, or for a short text frame a bound under the limit (not encoded at all)."""
    if isinstance(raw, bytes):
        return len(raw)
    # A character is at most 4 bytes in UTF-8: a short frame is under the limit without encoding.
    return len(raw) if len(raw) * 4 <= MAX_FRAME_BYTES else len(raw.encode())


def parse_frame(raw: str | bytes) -> Frame[Any]:
    size = frame_size(raw)
    limit = MAX_EVENTS_FRAME_BYTES if size > MAX_FRAME_BYTES and _looks_like_events(raw) else MAX_FRAME_BYTES
    if size > limit:
        raise BadMessage(f"frame of {size} bytes is over the {limit}-byte limit", _ref_of(raw))
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
    declared = INCOMING.get(kind) if isinstance(kind, str) else None
    if declared is None:
        raise BadMessage(f"unknown frame type {kind!r}", ref)
    complaint = declared.check(data)
    if complaint is not None:
        raise BadMessage(complaint, ref)
    return Frame(declared.name, data, ref)
