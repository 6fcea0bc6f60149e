"""Bus messages as contracts (realtime/messages.py): each channel's message encodes to JSON and
decodes back; a malformed one is refused; one from a newer release decodes without its news.
Reasons keep their wire strings and know whether they grant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from realtime.messages import (
    CHANNELS,
    AccessChanged,
    BusMessage,
    CredentialsRevoked,
    DeviceAlertMessage,
    DeviceCommandMessage,
    DeviceSessionMessage,
    FacesChanged,
    GateEventMessage,
    GateRef,
    ItemCheckChanged,
    LoanReminder,
    MalformedMessage,
    PersonRef,
    RequestChanged,
    TopologyChanged,
    VisitorArrived,
    VisitReminder,
)
from resolvers.access.topology import GateNode
from resolvers.core.models import Decision, Direction, EntryMethod, GateDirection
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.reasons import Reason

AT = datetime(2026, 3, 2, 8, 59, 30, 123456, tzinfo=UTC)
GATE_EVENT = GateEventMessage(
    id=42,
    at=AT,
    gate=GateRef(3, "Lobby turnstile in", "IN"),
    zone_id=1,
    reason="ok",
    decision="GRANTED",
    method="QR",
    direction="IN",
    offline=False,
    person=PersonRef(5, "Alice Li"),
)
ONE_OF_EACH: list[BusMessage] = [
    GATE_EVENT,
    AccessChanged(),
    FacesChanged(),
    TopologyChanged(),
    DeviceAlertMessage(7, AT, "forced", "door forced at Lobby", device_id=1, gate_id=None),
    DeviceCommandMessage(1, {"type": "command", "id": "c-3", "command": "open", "durationMs": 6000}),
    DeviceSessionMessage(1, "p1:abc", close_code=4401),
    CredentialsRevoked(("AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB"), person_id=5),
    VisitorArrived(host_id=5, visit_id=9, at=AT),
    VisitReminder(host_id=5, visit_id=9),
    LoanReminder(person_id=None, asset_id=4, due_back=None),
    RequestChanged(request_id=2, status="PENDING", step={"who": "role", "role": "ADMIN", "status": "PENDING"}),
    ItemCheckChanged(check_id=8, gate_id=3, status="HELD"),
]


def over_the_wire(message: BusMessage) -> Any:
    return json.loads(json.dumps(message.encode()))


def test_every_channel_has_one_message_type_and_it_is_in_these_tests() -> None:
    assert sorted(CHANNELS) == sorted(type(m).CHANNEL for m in ONE_OF_EACH)
    assert all(CHANNELS[m.CHANNEL] is type(m) for m in ONE_OF_EACH)


@pytest.mark.parametrize("message", ONE_OF_EACH, ids=lambda m: type(m).CHANNEL)
def test_each_message_survives_the_wire(message: BusMessage) -> None:
    raw = over_the_wire(message)
    assert raw["version"] == type(message).VERSION == 1
    assert type(message).decode(raw) == message


def test_the_gate_event_wire_shape_is_camel_case_and_has_no_dead_fields() -> None:
    assert over_the_wire(GATE_EVENT) == {
        "version": 1,
        "id": 42,
        "at": "2026-03-02T08:59:30.123456+00:00",
        "gate": {"id": 3, "name": "Lobby turnstile in", "direction": "IN"},
        "zoneId": 1,
        "reason": "ok",
        "decision": "GRANTED",
        "method": "QR",
        "direction": "IN",
        "offline": False,
        "person": {"id": 5, "displayName": "Alice Li"},
    }
    assert DeviceSessionMessage(1, "p1:abc").encode()["closeCode"] == 4409


def test_a_field_from_a_newer_version_is_ignored() -> None:
    newer = {
        **over_the_wire(GATE_EVENT),
        "version": 2,
        "deviceName": "Lobby reader",
        "gate": {"id": 3, "name": "Lobby turnstile in", "direction": "IN", "floor": 1},
    }
    assert GateEventMessage.decode(newer) == GATE_EVENT


def test_a_field_added_later_with_a_default_is_not_needed_from_an_older_publisher() -> None:
    # The device hub publishes a session without closeCode: the default (replaced: 4409) stands.
    assert DeviceSessionMessage.decode({"version": 1, "deviceId": 1, "connection": "p0:x"}) == DeviceSessionMessage(
        1, "p0:x", 4409
    )


def test_a_time_keeps_its_offset() -> None:
    east = AT.astimezone(timezone(timedelta(hours=8)))
    decoded = VisitorArrived.decode(over_the_wire(VisitorArrived(1, 2, east)))
    assert decoded.at == AT and decoded.at.utcoffset() == timedelta(hours=8)


def broken(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = over_the_wire(GATE_EVENT)
    for key, value in changes.items():
        if value is ...:
            del raw[key]
        else:
            raw[key] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ([1, 2], "a JSON object"),
        ("gate_events", "a JSON object"),
        (None, "a JSON object"),
        (broken(version=...), "no version"),
        (broken(version="1"), "no version"),
        (broken(version=True), "no version"),
        (broken(version=0), "no version"),
        (broken(id=...), "id is missing"),
        (broken(person=...), "person is missing"),
        (broken(id="42"), "id: expected int"),
        (broken(id=True), "id: expected int"),
        (broken(id=4.2), "id: expected int"),
        (broken(offline="no"), "offline: expected bool"),
        (broken(reason=None), "reason: expected a string"),
        (broken(at="yesterday"), "at: 'yesterday' is not an ISO 8601 time"),
        (broken(at="2026-03-02T08:59:30"), "at: a time needs its offset"),
        (broken(at=1700000000), "at: expected an ISO 8601 time"),
        (broken(gate="Lobby"), "gate: expected an object"),
        (broken(gate={"id": 3, "name": "Lobby"}), "gate: direction is missing"),
        (broken(person={"id": "5", "displayName": "Alice Li"}), "person: id: expected int"),
    ],
)
def test_a_malformed_message_is_refused_with_the_reason(raw: Any, why: str) -> None:
    with pytest.raises(MalformedMessage, match=r"^gate_events") as refused:
        GateEventMessage.decode(raw)
    assert why in str(refused.value)


def test_malformed_lists_and_objects_are_refused() -> None:
    with pytest.raises(MalformedMessage, match="credentialIds: expected a list"):
        CredentialsRevoked.decode({"version": 1, "credentialIds": "AAAA", "personId": 5})
    with pytest.raises(MalformedMessage, match="credentialIds: expected a string, got int"):
        CredentialsRevoked.decode({"version": 1, "credentialIds": ["AAAA", 7], "personId": 5})
    with pytest.raises(MalformedMessage, match="frame: expected an object"):
        DeviceCommandMessage.decode({"version": 1, "deviceId": 1, "frame": ["open"]})


def test_an_item_check_without_a_gate_still_says_so() -> None:
    # The column may be empty: null travels as null, an absent key is still refused.
    check = ItemCheckChanged(check_id=8, gate_id=None, status="OPEN")
    assert over_the_wire(check)["gateId"] is None
    assert ItemCheckChanged.decode(over_the_wire(check)) == check
    with pytest.raises(MalformedMessage, match="gateId is missing"):
        ItemCheckChanged.decode({"version": 1, "checkId": 8, "status": "OPEN"})


# --- the gate event: one record, stored, then its message -----------------------------------

LOBBY_IN = GateNode(3, "Lobby turnstile in", 1, GateDirection.IN)


def test_the_record_becomes_the_message_once_stored() -> None:
    record = GateEventRecord(
        at=AT,
        gate=LOBBY_IN,
        reason=Reason.OK,
        method=EntryMethod.QR,
        direction=Direction.IN,
        person=PersonRef(5, "Alice Li"),
    )
    with pytest.raises(ValueError, match="only once it is stored"):
        record.message()
    assert record.stored_as(42).message() == GATE_EVENT
    assert record.row()["decision"] is Decision.GRANTED and record.row()["reason"] == "ok"


def test_a_door_alarm_message_has_no_decision_method_direction_or_person() -> None:
    alarm = GateEventRecord(at=AT, gate=LOBBY_IN, reason=Reason.HELD_OPEN, device_id=1).stored_as(43)
    message = alarm.message()
    assert (message.decision, message.method, message.direction, message.person) == (None, None, None, None)
    assert message.reason == "held_open" and alarm.row()["decision"] is None
    assert GateEventMessage.decode(over_the_wire(message)) == message


# --- reasons -----------------------------------------------------------------------------------


def test_reasons_keep_their_wire_strings() -> None:
    assert {r.value for r in Reason} == {
        "ok",
        "anti_passback_soft",
        "exit_after_revocation",
        "remote_open",
        "confirmed_left",
        "malformed",
        "unknown_credential",
        "revoked",
        "expired",
        "not_yet_valid",
        "bad_signature",
        "replayed",
        "no_access",
        "outside_schedule",
        "anti_passback",
        "lockdown",
        "escort_required",
        "badge_used",
        "gate_unknown",
        "not_your_gate",
        "device_not_in_service",
        "snapshot_expired",
        "offline_mismatch",
        "unavailable",
        "forced",
        "held_open",
        "face_unavailable",
        "face_bad_image",
        "face_unknown",
        "face_ambiguous",
        "liveness_failed",
        "second_factor",
    }
    assert Reason.OK == "ok" and json.dumps({"reason": Reason.ANTI_PASSBACK_SOFT}) == '{"reason": "anti_passback_soft"}'


def test_a_reason_knows_whether_it_grants() -> None:
    grants = {r for r in Reason if r.grants}
    assert grants == {
        Reason.OK,
        Reason.ANTI_PASSBACK_SOFT,
        Reason.EXIT_AFTER_REVOCATION,
        Reason.REMOTE_OPEN,
        Reason.CONFIRMED_LEFT,
    }
    assert Reason.ANTI_PASSBACK.decision is Decision.DENIED
    assert Reason.ANTI_PASSBACK_SOFT.decision is Decision.GRANTED
    assert Reason.FORCED.decision is None and Reason.FORCED.is_alarm and not Reason.FORCED.grants


def test_only_reasons_reached_after_the_signature_may_name_a_person() -> None:
    unverified = {r for r in Reason if not r.verified}
    assert unverified == {
        Reason.MALFORMED,
        Reason.UNKNOWN_CREDENTIAL,
        Reason.EXPIRED,
        Reason.NOT_YET_VALID,
        Reason.BAD_SIGNATURE,
        Reason.OFFLINE_MISMATCH,
        Reason.DEVICE_NOT_IN_SERVICE,  # refused before the token is read
        # faces nobody was recognised in
        Reason.FACE_UNAVAILABLE,
        Reason.FACE_BAD_IMAGE,
        Reason.FACE_UNKNOWN,
        Reason.FACE_AMBIGUOUS,
        Reason.LIVENESS_FAILED,
    }


def test_a_reason_from_a_device_is_parsed_or_refused() -> None:
    assert Reason.parse("replayed") is Reason.REPLAYED
    assert Reason.parse("REPLAYED") is None
    assert Reason.parse("opened") is None
    assert Reason.parse(3) is None
