"""One typed message per bus channel: what a publisher promises and a subscriber may rely on.

Each channel's message is a frozen dataclass with a `CHANNEL` and a `VERSION`. On the wire it
is a JSON object of camelCase keys plus `"version"`; both bus backends carry exactly that
(MemoryBus too), so a test on one backend holds for the other.

Workers one release apart share a Redis bus during a rolling upgrade, so the rules are:
- a new version only *adds* fields, each with a default (an older message still decodes);
- a decoder ignores keys it does not know (a newer message still decodes, minus the news);
- a field is never renamed, removed or retyped on a channel: that is a new channel.
A message that breaks its type (not an object, no version, a field missing or of the wrong
type) is `MalformedMessage`; `Bus.receive` logs and drops it, so one bad publisher never
ends a guard's stream.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

M = TypeVar("M", bound="BusMessage")


class MalformedMessage(ValueError):
    """A bus message that does not match its channel's type."""


@dataclass(frozen=True, slots=True)
class BusMessage:
    CHANNEL: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def encode(self) -> dict[str, Any]:
        return {"version": self.VERSION, **_codec(type(self)).encode(self)}

    @classmethod
    def decode(cls: type[M], raw: object) -> M:
        if not isinstance(raw, dict):
            raise MalformedMessage(f"{cls.CHANNEL}: a message is a JSON object, not {type(raw).__name__}")
        version = raw.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise MalformedMessage(f"{cls.CHANNEL}: no version")
        try:
            decoded: M = _codec(cls).decode(raw)
        except MalformedMessage as exc:
            raise MalformedMessage(f"{cls.CHANNEL} v{version}: {exc}") from None
        return decoded


# --- the messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateRef:
    """A gate as a guard's screen shows it (the gate's `direction`: IN, OUT or BOTH)."""

    id: int
    name: str
    direction: str


@dataclass(frozen=True, slots=True)
class PersonRef:
    """Only on events that may name the person (the token was verifiably theirs)."""

    id: int
    display_name: str


@dataclass(frozen=True, slots=True)
class GateEventMessage(BusMessage):
    """A stored gate event (resolvers/scan/gate_event.py), with what a guard's screen shows of it."""

    CHANNEL: ClassVar[str] = "gate_events"
    id: int
    at: datetime
    gate: GateRef
    zone_id: int
    reason: str
    decision: str | None  # GRANTED / DENIED; None for a door alarm
    method: str | None
    direction: str | None
    offline: bool
    person: PersonRef | None


@dataclass(frozen=True, slots=True)
class AccessChanged(BusMessage):
    """Grants changed: drop the grant index, resend offline snapshots."""

    CHANNEL: ClassVar[str] = "access_changed"


@dataclass(frozen=True, slots=True)
class FacesChanged(BusMessage):
    """A face template was enrolled or deleted: every worker reloads its matching matrix."""

    CHANNEL: ClassVar[str] = "faces_changed"


@dataclass(frozen=True, slots=True)
class TopologyChanged(BusMessage):
    """Zones, gates or device assignments changed: read the site again."""

    CHANNEL: ClassVar[str] = "topology"


@dataclass(frozen=True, slots=True)
class DeviceAlertMessage(BusMessage):
    CHANNEL: ClassVar[str] = "device_alerts"
    id: int
    at: datetime
    kind: str
    message: str
    device_id: int | None
    gate_id: int | None


@dataclass(frozen=True, slots=True)
class DeviceCommandMessage(BusMessage):
    """A command frame for whichever process holds the device's socket."""

    CHANNEL: ClassVar[str] = "device_commands"
    device_id: int
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeviceSessionMessage(BusMessage):
    """A device's current connection; any other connection of it closes with `close_code`."""

    CHANNEL: ClassVar[str] = "device_sessions"
    device_id: int
    connection: str
    close_code: int = 4409


@dataclass(frozen=True, slots=True)
class CredentialsRevoked(BusMessage):
    CHANNEL: ClassVar[str] = "credential_revocations"
    credential_ids: tuple[str, ...]
    person_id: int


@dataclass(frozen=True, slots=True)
class VisitorArrived(BusMessage):
    CHANNEL: ClassVar[str] = "visitor_arrivals"
    host_id: int
    visit_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class VisitReminder(BusMessage):
    CHANNEL: ClassVar[str] = "visit_reminders"
    host_id: int
    visit_id: int


@dataclass(frozen=True, slots=True)
class LoanReminder(BusMessage):
    CHANNEL: ClassVar[str] = "loan_reminders"
    person_id: int | None
    asset_id: int
    due_back: datetime | None


@dataclass(frozen=True, slots=True)
class RequestChanged(BusMessage):
    """An item request moved on its approval chain; `step` is the step now waiting, if any."""

    CHANNEL: ClassVar[str] = "approvals"
    request_id: int
    status: str
    step: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ItemCheckChanged(BusMessage):
    """An item check at a gate changed (`status`: OPEN, HELD, CLEARED or REFUSED)."""

    CHANNEL: ClassVar[str] = "item_checks"
    check_id: int
    gate_id: int | None  # as the row: a check names its gate, the column may be empty
    status: str


CHANNELS: dict[str, type[BusMessage]] = {
    m.CHANNEL: m
    for m in (
        GateEventMessage,
        AccessChanged,
        FacesChanged,
        TopologyChanged,
        DeviceAlertMessage,
        DeviceCommandMessage,
        DeviceSessionMessage,
        CredentialsRevoked,
        VisitorArrived,
        VisitReminder,
        LoanReminder,
        RequestChanged,
        ItemCheckChanged,
    )
}


# --- the codec: built once per class from its type hints ---------------------------------

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    key: str
    encode: Encode
    decode: Decode
    required: bool


@dataclass(frozen=True, slots=True)
class _Codec:
    cls: type
    fields: tuple[_Field, ...]

    def encode(self, obj: object) -> dict[str, Any]:
        return {f.key: f.encode(getattr(obj, f.name)) for f in self.fields}

    def decode(self, raw: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for f in self.fields:
            if f.key not in raw:
                if f.required:
                    raise MalformedMessage(f"{f.key} is missing")
                continue  # added by a later version: its default stands in
            try:
                values[f.name] = f.decode(raw[f.key])
            except MalformedMessage as exc:
                raise MalformedMessage(f"{f.key}: {exc}") from None
        return self.cls(**values)


_CODECS: dict[type, _Codec] = {}


def _codec(cls: type) -> _Codec:
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _build_codec(cls)
    return codec


def _build_codec(cls: type) -> _Codec:
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        encode, decode = _convert(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append(_Field(f.name, _camel(f.name), encode, decode, required))
    return _Codec(cls, tuple(fields))


def _same(value: Any) -> Any:
    return value


def _checked(kind: type, label: str) -> Decode:
    def decode(value: Any) -> Any:
        # bool is an int in Python, never in a message.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise MalformedMessage(f"expected {label}, got {type(value).__name__}")
        return value

    return decode


def _decode_float(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MalformedMessage(f"expected a number, got {type(value).__name__}")
    return float(value)


def _decode_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedMessage(f"expected an ISO 8601 time, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedMessage(f"{value[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise MalformedMessage("a time needs its offset")
    return parsed


def _decode_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise MalformedMessage(f"expected an object, got {type(value).__name__}")
    return value


def _convert(hint: Any) -> tuple[Encode, Decode]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"only `X | None` unions are supported in bus messages, not {hint}")
        enc, dec = _convert(inner[0])
        return (lambda v: None if v is None else enc(v)), (lambda v: None if v is None else dec(v))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item_enc, item_dec = _convert(args[0])

        def decode_items(value: Any) -> tuple[Any, ...]:
            if not isinstance(value, list | tuple):
                raise MalformedMessage(f"expected a list, got {type(value).__name__}")
            return tuple(item_dec(v) for v in value)

        return (lambda v: [item_enc(x) for x in v]), decode_items
    if origin is dict and args[:1] == (str,):
        return dict, _decode_object
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        codec = _codec(hint)

        def decode_record(value: Any) -> Any:
            return codec.decode(_decode_object(value))

        return codec.encode, decode_record
    if hint is datetime:
        return (lambda v: v.isoformat()), _decode_datetime
    if hint is float:
        return _same, _decode_float
    if hint is str:
        # A str-valued enum member goes out as its plain value (str() of one would not be).
        return str.__str__, _checked(str, "a string")
    if hint in (int, bool):
        return _same, _checked(hint, hint.__name__)
    raise TypeError(f"bus messages carry JSON: {hint} is not supported")
