"""Device frames declared once (devices/frames/): the published JSON Schemas match the code,
the server's own check agrees with them, and every frame a real session sends fits them.

- mobile_contracts/device/*.json is what `python -m devices.frames.publish` writes now;
- for good frames and every mutation of them (a field dropped, mistyped, out of range, an
  unknown field added), the server's parser accepts exactly what the published schema accepts;
- the sample frames of DEVICE_PROTOCOL.md fit the incoming schemas;
- real sessions against a real server — a plain v1 device and an offline-capable one — see only
  frames that validate against the published outgoing schemas, and every outgoing type is seen.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from jsonschema import Draft202012Validator, FormatChecker

from devices.endpoint import HANDLERS
from devices.frames import publish
from devices.frames.incoming import INCOMING
from devices.frames.outgoing import OUTGOING
from devices.protocol import BadMessage, parse_frame
from mobile_contracts import HERE as CONTRACTS_DIR
from tests.harness import Demo, Gate, GraphQLClient, Phone, ServerProcess

PROJECT = Path(__file__).resolve().parent.parent
PROTOCOL_DOC = PROJECT.parent / "shared" / "contracts" / "DEVICE_PROTOCOL.md"
SCHEMA_DIR = CONTRACTS_DIR / "device"

# The schemas' `date-time` format, checked as RFC 3339 says (jsonschema checks no format by default).
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or _RFC3339.fullmatch(value) is not None)


def published(name: str) -> Draft202012Validator:
    """The validator of one frame type's published schema file (not of the code's declaration)."""
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FORMATS)


VALIDATORS = {p.stem: published(p.stem) for p in sorted(SCHEMA_DIR.glob("*.json"))}


def assert_fits(frame: Any, direction: dict[str, Any]) -> None:
    kind = frame.get("type") if isinstance(frame, dict) else None
    assert kind in direction, f"frame of an undeclared type: {frame}"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATORS[kind].iter_errors(frame)]
    assert errors == [], (frame, errors)


# --------------------------------------------------------------------------- published files


def test_published_schemas_match_the_declarations() -> None:
    problems = publish.differences()
    assert problems == [], "run `python -m devices.frames.publish`: " + "; ".join(problems)


def test_one_valid_json_schema_per_frame_type() -> None:
    assert set(VALIDATORS) == set(INCOMING) | set(OUTGOING)
    assert not set(INCOMING) & set(OUTGOING)
    for name in VALIDATORS:
        Draft202012Validator.check_schema(json.loads((SCHEMA_DIR / f"{name}.json").read_text()))


def test_every_incoming_frame_type_has_one_handler() -> None:
    assert set(HANDLERS) == set(INCOMING)


# --------------------------------------------------------------------------- parser ⇔ schema

GOOD: dict[str, dict[str, Any]] = {
    "hello": {"type": "hello", "deviceId": "1", "secret": "s3cr3t", "firmware": "1.4.2", "capabilities": ["offline"]},
    "scan": {"type": "scan", "ref": "d1-000042", "gateId": "3", "credential": "GH1:abc.def", "direction": "IN"},
    "heartbeat": {
        "type": "heartbeat",
        "at": "2026-11-27T08:00:00Z",
        "stats": {"scans": 1200, "decodeFailures": 3, "recognitionAttempts": 0, "recognitionSuccesses": 0},
    },
    "door": {"type": "door", "gateId": "3", "state": "held_open", "at": "2026-11-27T08:00:00.250+08:00"},
    "ack": {"type": "ack", "id": "c-17"},
    "snapshot_ack": {"type": "snapshot_ack", "issuedAt": "2026-11-27T08:00:00+00:00"},
    "events": {
        "type": "events",
        "ref": "up-2",
        "events": [
            {
                "seq": 2,
                "gateId": "3",
                "at": "2026-11-27T08:00:00Z",
                "credential": "GH1:abc",
                "granted": True,
                "reason": "ok",
                "direction": "OUT",
                "ref": 41,
            }
        ],
    },
    "item": {"type": "item", "ref": 7, "gateId": "3", "code": "GHI1:AAAAAAAAB:AAAAAAAA"},
    "face": {"type": "face", "ref": "f-1", "gateId": "3", "embedding": [0.01] * 128, "liveness": True},
}
# Values every field is tried with: each JSON type, edges of the ranges the declarations use.
PALETTE: list[Any] = [None, True, False, 0, -1, 7, 2**62, 2**62 - 1, 1.5, "", "x", "a b", "é" * 129, [], {}, ["x"]]


def mutations(frame: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(what was changed, the changed frame) for every field at every depth, but `type`."""

    def walk(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if path or key != "type":
                    yield (*path, key)
                    yield from walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield (*path, i)
                yield from walk(value, (*path, i))

    def at(root: Any, path: tuple[Any, ...]) -> Any:
        for step in path:
            root = root[step]
        return root

    for path in walk(frame, ()):
        parent_path, last = path[:-1], path[-1]
        if isinstance(last, str):
            dropped = copy.deepcopy(frame)
            del at(dropped, parent_path)[last]
            yield f"without {path}", dropped
        for value in PALETTE:
            changed = copy.deepcopy(frame)
            at(changed, parent_path)[last] = value
            yield f"{path} = {value!r}", changed
    for path in [(), *(p for p in walk(frame, ()) if isinstance(at(frame, p), dict))]:
        extra = copy.deepcopy(frame)
        at(extra, path)["fromTheFuture"] = {"v": 2}
        yield f"unknown field in {path or 'the frame'}", extra
    yield "events over the limit", {**frame, "events": frame.get("events", [None])[:1] * 1001}


def parses(frame: dict[str, Any]) -> bool:
    try:
        parse_frame(json.dumps(frame))
    except BadMessage:
        return False
    return True


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_the_parser_accepts_exactly_what_the_published_schema_accepts(kind: str) -> None:
    assert set(GOOD) == set(INCOMING)
    good = GOOD[kind]
    assert parses(good), good
    assert_fits(good, INCOMING)
    checked = 0
    for what, frame in mutations(good):
        schema_says = VALIDATORS[kind].is_valid(frame)
        assert parses(frame) is schema_says, (what, frame, "schema accepts" if schema_says else "schema refuses")
        checked += 1
    assert checked > len(PALETTE)


def test_a_refused_frame_names_the_field_and_keeps_its_ref() -> None:
    with pytest.raises(BadMessage) as refused:
        parse_frame(
            json.dumps({"type": "events", "ref": "up-9", "events": [{**GOOD["events"]["events"][0], "seq": 0}]})
        )
    assert refused.value.ref == "up-9"
    assert str(refused.value) == "events frame: events[0].seq must be a whole number from 1 to 2^62"
    with pytest.raises(BadMessage) as refused:
        parse_frame(json.dumps({"type": "scan", "ref": 5, "gateId": "3"}))
    assert refused.value.ref == 5
    assert str(refused.value) == (
        "scan frame: credential must be a string holding the token alone, with no whitespace or newline (missing)"
    )
    # `face` (a v1 extension): an embedding is exactly 128 finite numbers.
    with pytest.raises(BadMessage) as refused:
        parse_frame(json.dumps({"type": "face", "ref": "f-1", "gateId": "3", "embedding": [0.5] * 127}))
    assert refused.value.ref == "f-1"
    assert str(refused.value) == "face frame: embedding must be exactly 128 finite numbers"


# --------------------------------------------------------------------------- the contract's samples


def json_objects(text: str) -> Iterator[str]:
    """Each outermost `{…}` of a text."""
    depth = start = 0
    for i, char in enumerate(text):
        if char == "{":
            start = i if depth == 0 else start
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                yield text[start : i + 1]


# A JPEG's first bytes, as standard base64: what a face sample's image stands for (the server
# decodes it only when the frame is decided).
FACE_JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 12).decode()


def protocol_samples(text: str) -> Iterator[tuple[str, str]]:
    """(type, JSON text) of every frame in the document's ```json blocks and inline `{"type": …}`
    spans; `"a" | "b"` gives one frame per alternative, and `<…>` placeholders become null."""
    blocks = [*re.findall(r"```json\n(.*?)```", text, re.S), *re.findall(r'`(\{"type".*?\})`', text)]
    for sample in (frame for block in blocks for frame in json_objects(block)):
        # The face samples elide their 128 numbers ("[0.0123, …128 numbers…]") and name their JPEG
        # ("<standard base64 of one JPEG>"): whole ones in their place.
        sample = re.sub(r"\[([-\d.]+), …[^\]]*\]", lambda m: "[" + ", ".join([m.group(1)] * 128) + "]", sample)
        sample = sample.replace('"<standard base64 of one JPEG>"', f'"{FACE_JPEG}"')
        frame = re.sub(r"<[^>]*>", "null", sample)
        kind = re.search(r'"type":\s*"(\w+)"', frame)
        assert kind, frame
        choice = re.search(r'"[^"]*"(\s*\|\s*"[^"]*")+', frame)
        options = re.findall(r'"[^"]*"', choice.group(0)) if choice else []
        for variant in [frame.replace(choice.group(0), o) for o in options] if choice else [frame]:
            yield kind.group(1), variant


@pytest.mark.skipif(not PROTOCOL_DOC.exists(), reason="../shared/contracts is not beside the project")
def test_device_protocol_samples_fit_the_incoming_schemas() -> None:
    samples = list(protocol_samples(PROTOCOL_DOC.read_text(encoding="utf-8")))
    incoming = [(kind, json.loads(text)) for kind, text in samples if kind in INCOMING]
    assert {kind for kind, _ in incoming} == {"hello", "scan", "ack", "heartbeat", "door", "face"}
    assert len(incoming) == 10  # the door sample names four states; two face samples (image, embedding)
    for _, frame in incoming:
        assert_fits(frame, INCOMING)
        assert parses(frame), frame
    # The rest are answers the server sends.
    assert {kind for kind, _ in samples} - set(INCOMING) <= set(OUTGOING)


# --------------------------------------------------------------------------- real sessions

REMOTE_OPEN = 'mutation($g: ID!) { remoteOpen(gateId: $g, reason: "frame test") { errors { code } } }'
LOCK_FIELDS = "lockdown { id } errors { code message }"
LOCKDOWN = f'mutation($g: ID!) {{ lockdown(gateId: $g, reason: "drill") {{ {LOCK_FIELDS} }} }}'
EVACUATE = f'mutation($g: ID!) {{ evacuate(gateId: $g, reason: "drill") {{ {LOCK_FIELDS} }} }}'
RELEASE = f"mutation($id: ID!) {{ releaseLockdown(id: $id) {{ {LOCK_FIELDS} }} }}"
DECLARE = """mutation($g: ID!, $items: [DeclaredItemInput!]!) {
  declareItems(gateId: $g, direction: "OUT", items: $items) { check { id } errors { code message } } }"""
ZONES = "{ zones { id name } }"
PEOPLE = "{ people(first: 50) { edges { node { id username } } } }"
GRANT = "mutation($i: GrantAccessInput!) { grantAccess(input: $i) { grant { id } errors { code message } } }"
OFFBOARD = "mutation($id: ID!) { offboardEmployee(id: $id) { employee { id } errors { code } } }"

PLAIN_SESSION = {"welcome", "decision", "error", "command", "item_result"}
OFFLINE_SESSION = {"welcome", "snapshot", "decision", "events_ack", "revoke"}


def test_the_sessions_below_see_every_outgoing_frame_type() -> None:
    assert PLAIN_SESSION | OFFLINE_SESSION == set(OUTGOING)


class CheckedGate(Gate):
    """A gate device that validates every frame the server sends against the published schemas."""

    def __init__(self, server: ServerProcess, device_id: str, secret: str, capabilities: list[str]) -> None:
        super().__init__(server, device_id, secret)
        self.capabilities = capabilities
        self.seen: Counter[str] = Counter()

    async def connect(self) -> CheckedGate:
        self.ws = await websockets.connect(self.server.ws + "/devices/ws", max_size=None)
        hello = {"type": "hello", "deviceId": self.device_id, "secret": self.secret, "firmware": "frames-test"}
        assert_fits(hello, INCOMING)
        await self.send({**hello, "capabilities": self.capabilities})
        self.welcome = await self.recv(10)
        assert self.welcome["type"] == "welcome", self.welcome
        return self

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        frame = await super().recv(timeout)
        assert_fits(frame, OUTGOING)
        self.seen[frame["type"]] += 1
        return frame

    async def ask(self, frame: dict[str, Any] | str, kind: str) -> dict[str, Any]:
        """Send a frame, then the next frame of `kind` (others are kept in `pending`)."""
        await self.send(frame)
        return await self.recv_type(kind)

    async def command(self, name: str) -> dict[str, Any]:
        """The next command `name` (every command is acknowledged, so none is resent)."""
        while True:
            frame = await self.recv_type("command")
            await self.send({"type": "ack", "id": frame["id"]})
            if frame["command"] == name:
                return frame


async def signed_in(api: GraphQLClient, demo: Demo, username: str) -> GraphQLClient:
    return await api.login(username, demo.passwords[username])


async def phone_of(api: GraphQLClient, demo: Demo, username: str) -> Phone:
    phone = Phone()
    await phone.bind(await signed_in(api, demo, username))
    return phone


async def test_a_v1_device_session_sends_only_published_frames(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    lobby_in, lobby_out = demo.gates["Lobby turnstile in"], demo.gates["Lobby turnstile out"]
    eng_door, mgmt_door = demo.gates["Engineering door"], demo.gates["Management door"]
    alice = await phone_of(api, demo, "alice")
    guard = await signed_in(api, demo, "guard")
    gate = await CheckedGate(server, demo.device_id, demo.device_secret, []).connect()
    try:
        assert {g["id"] for g in gate.welcome["gates"]} == set(demo.gates.values())
        granted = await gate.scan(lobby_in, alice.token())
        assert (granted["granted"], granted["reason"], granted["open"]["gateId"]) == (True, "ok", lobby_in)
        assert granted["person"] == {"displayName": "Alice Li"}
        denied = await gate.scan(mgmt_door, alice.token(step_offset=1))
        assert denied["granted"] is False and "person" not in denied and "open" not in denied, denied
        assert (await gate.scan(lobby_in, "GH1:NOT-A-TOKEN"))["reason"] == "malformed"

        # Error frames: not JSON, an unknown type, a missing field, a mistyped one, a BOTH gate
        # without a direction, a second hello, a door the device does not serve.
        refusals: list[tuple[dict[str, Any] | str, Any]] = [
            ("{not json", None),
            ({"type": "face", "ref": "f-1", "gateId": lobby_in, "image": "AAAA"}, "f-1"),
            ({"type": "scan", "ref": "r-1", "gateId": lobby_in}, "r-1"),
            ({"type": "scan", "ref": "r-2", "gateId": lobby_in, "credential": 42}, "r-2"),
            ({"type": "scan", "ref": "r-3", "gateId": eng_door, "credential": "GH1:NOT-A-TOKEN"}, "r-3"),
            ({"type": "hello", "ref": "h-2", "deviceId": demo.device_id, "secret": demo.device_secret}, "h-2"),
            ({"type": "door", "ref": 9, "gateId": "999999", "state": "opened"}, 9),
        ]
        for frame, ref in refusals:
            error = await gate.ask(frame, "error")
            assert (error["code"], error["ref"]) == ("bad_message", ref), (frame, error)

        # Commands: a remote open, a lockdown and its release, an evacuation (open and hold).
        assert (await guard.ok(REMOTE_OPEN, {"g": lobby_in}))["remoteOpen"]["errors"] == []
        opened = await gate.command("open")
        assert (opened["gateId"], opened["reason"]) == (lobby_in, "frame test")
        locked = (await guard.ok(LOCKDOWN, {"g": lobby_out}))["lockdown"]
        assert locked["errors"] == [], locked
        assert (await gate.command("lockdown"))["gateId"] == lobby_out
        assert (await guard.ok(RELEASE, {"id": locked["lockdown"]["id"]}))["releaseLockdown"]["errors"] == []
        assert (await gate.command("release"))["gateId"] == lobby_out
        evacuation = (await guard.ok(EVACUATE, {"g": lobby_out}))["evacuate"]
        assert evacuation["errors"] == [], evacuation
        held = await gate.command("open")
        assert (held["gateId"], held["hold"]) == (lobby_out, True)
        await guard.ok(RELEASE, {"id": evacuation["lockdown"]["id"]})
        await gate.command("release")

        # Item labels: with no declaration, then against bob's declaration (a forged label).
        label = "GHI1:AAAAAAAAB:AAAAAAAA"
        alone = await gate.ask({"type": "item", "ref": "i-1", "gateId": lobby_out, "code": label}, "item_result")
        # Held on its own for the guard (tests/test_item_journeys.py): the answer names that record.
        assert {k: v for k, v in alone.items() if k != "checkId"} == {
            "type": "item_result",
            "ref": "i-1",
            "known": False,
            "name": None,
            "problem": "no_declaration",
        }
        bob = await signed_in(api, demo, "bob")
        check = (await bob.ok(DECLARE, {"g": lobby_out, "items": [{"description": "laptop", "labelCode": label}]}))[
            "declareItems"
        ]
        assert check["errors"] == [], check
        scanned = await gate.ask({"type": "item", "ref": 2, "gateId": lobby_out, "code": label}, "item_result")
        assert (scanned["ref"], scanned["problem"], scanned["checkId"]) == (2, "forged_label", check["check"]["id"])
    finally:
        await gate.close()
    assert set(gate.seen) == PLAIN_SESSION, gate.seen


def window_around_now() -> dict[str, Any]:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return {"weekdays": [start.isoweekday()], "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}


async def test_an_offline_capable_session_sends_only_published_frames(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    lobby_in = demo.gates["Lobby turnstile in"]
    admin = await signed_in(api, demo, "admin")
    zones = {z["name"]: z["id"] for z in (await admin.ok(ZONES))["zones"]}
    people = {e["node"]["username"]: e["node"]["id"] for e in (await admin.ok(PEOPLE))["people"]["edges"]}
    phones = {name: await phone_of(api, demo, name) for name in ("alice", "bob", "dave")}
    # A grant with a schedule window, so the snapshot carries one.
    grant = {"zoneId": zones["Engineering office"], "personId": people["bob"], "schedule": [window_around_now()]}
    assert (await admin.ok(GRANT, {"i": grant}))["grantAccess"]["errors"] == []

    gate = await CheckedGate(server, demo.device_id, demo.device_secret, ["offline"]).connect()
    try:
        assert gate.welcome["snapshotKey"]
        snapshot = (await gate.recv_type("snapshot"))["snapshot"]
        cids = {c["cid"] for c in snapshot["credentials"]}
        assert {phones["alice"].cid, phones["bob"].cid} <= cids
        windows = [w for c in snapshot["credentials"] for a in c["access"] for w in a["schedule"]]
        assert grant["schedule"][0] in windows, snapshot
        await gate.send({"type": "snapshot_ack", "issuedAt": snapshot["issuedAt"]})

        granted = await gate.scan(lobby_in, phones["alice"].token())
        assert granted["granted"] is True, granted
        event = {
            "seq": 1,
            "gateId": lobby_in,
            "at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
            "credential": "NOT-A-PASS",
            "granted": False,
            "reason": "malformed",
            "direction": "IN",
        }
        ack = await gate.ask({"type": "events", "ref": "up-1", "events": [event]}, "events_ack")
        assert ack == {"type": "events_ack", "ref": "up-1", "upTo": 1, "stored": 1, "duplicates": 0}
        ack = await gate.ask({"type": "events", "events": [event]}, "events_ack")
        assert (ack["ref"], ack["stored"], ack["duplicates"]) == (None, 0, 1)

        # Offboarding revokes dave's credential at once, then a fresh snapshot follows.
        assert (await admin.ok(OFFBOARD, {"id": people["dave"]}))["offboardEmployee"]["errors"] == []
        revoke = await gate.recv_type("revoke")
        assert revoke["credentialIds"] == [phones["dave"].cid]
        fresh = (await gate.recv_type("snapshot"))["snapshot"]
        assert phones["dave"].cid in fresh["revoked"]
    finally:
        await gate.close()
    assert set(gate.seen) == OFFLINE_SESSION, gate.seen
