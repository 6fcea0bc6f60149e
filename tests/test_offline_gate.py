"""Gates that decide alone while their link is down (protocol additions for offline operation).

A device whose hello says `"capabilities": ["offline"]` gets `welcome.snapshotKey` and signed
snapshots; it decides from them while the server is unreachable and uploads those decisions
(`events` → `events_ack`) when the link is back. These tests use real server processes on one
database (a server is stopped and another started on the same data), the reference gate agent
(`gatehouse_gate.agent.GateAgent`, also as the `gatehouse-gate run` subprocess) and, for frames the
agent never sends wrong, raw device connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken
from gatehouse_gate.agent import Door, GateAgent, GpioDoor
from gatehouse_gate.offline import BadSnapshot, OfflineDecider, verify_snapshot

from tests.harness import (
    PROJECT,
    Demo,
    Gate,
    GraphQLClient,
    OfflineGate,
    Phone,
    ServerProcess,
    Site,
    SteppedClockLoop,
    eventually,
    on_stepped_clock,
)

PERIOD = passtoken.DEFAULT_PERIOD

EVENT_PAGE = """
query($first: Int!, $after: String) {
  gateEvents(first: $first, after: $after) {
    edges { node { id reason decision offline direction gate { id } person { displayName } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
REGISTER_DEVICE = """
mutation($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { device { id } deviceSecret errors { code message field } }
}
"""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


class RecordingDoor(Door):
    """The door output of a test agent: remembers what it was told to open."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, int]] = []

    async def open(self, gate_id: str, duration_ms: int) -> None:
        self.opened.append((gate_id, duration_ms))


@contextlib.asynccontextmanager
async def offline_gate(server: ServerProcess, device_id: str, secret: str) -> AsyncIterator[OfflineGate]:
    gate = await OfflineGate(server, device_id, secret).connect()
    try:
        yield gate
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(gate.close(), 5)


@contextlib.asynccontextmanager
async def running(agent: GateAgent) -> AsyncIterator[GateAgent]:
    link = asyncio.create_task(agent.run_link())
    try:
        yield agent
    finally:
        agent.stopping = True
        link.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(link, 10)


async def all_events(client: GraphQLClient) -> list[dict[str, Any]]:
    """Every stored gate event, oldest first."""
    events: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await client.ok(EVENT_PAGE, {"first": 100, "after": after}))["gateEvents"]
        events += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return sorted(events, key=lambda e: int(e["id"]))
        after = page["pageInfo"]["endCursor"]


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    person = event["person"]["displayName"] if event["person"] else None
    return (event["reason"], event["decision"], person, event["gate"]["id"], event["direction"], event["offline"])


async def login(api: GraphQLClient, demo: Demo, username: str) -> GraphQLClient:
    """The demo user (signed in once, on the session's template)."""
    return GraphQLClient(api.server, demo=demo, as_=username)


async def bound_phone(api: GraphQLClient, demo: Demo, username: str) -> Phone:
    phone = Phone()
    await phone.bind(await login(api, demo, username))
    return phone


def iso(when: datetime) -> str:
    return when.isoformat()


def offline_event(seq: int, gate_id: str, credential: str, granted: bool, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "gateId": gate_id,
        "at": iso(datetime.now(UTC) - timedelta(minutes=3)),
        "credential": credential,
        "granted": granted,
        "reason": reason,
        "direction": "IN",
        **extra,
    }


def snapshot_cids(agent: GateAgent) -> set[str]:
    if agent.decider is None:
        return set()
    return {c["cid"] for c in agent.decider.snapshot.get("credentials", [])}


def snapshot_revoked(agent: GateAgent) -> set[str]:
    return set(agent.decider.snapshot.get("revoked", [])) if agent.decider is not None else set()


# ---------------------------------------------------------------------------
# The link goes down mid-stream; the gate keeps deciding; the events come back once
# ---------------------------------------------------------------------------


async def test_link_lost_mid_stream_gate_decides_offline_then_uploads_each_event_once(
    sqlite_site: Site, server: ServerProcess, api: GraphQLClient, demo: Demo, tmp_path: Path
) -> None:
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    admin = await login(api, demo, "admin")
    alice = await login(api, demo, "alice")
    old_phone, new_phone = Phone(), Phone()
    await old_phone.bind(alice)
    dave_phone = await bound_phone(api, demo, "dave")  # his only grant is the maintenance area

    door = RecordingDoor()
    agent = GateAgent(server.ws, demo.device_id, demo.device_secret, tmp_path / "gate", door)
    async with running(agent):
        await eventually(lambda: old_phone.cid in snapshot_cids(agent), 10, "the first snapshot")
        first_issued = agent.decider.snapshot["issuedAt"]  # type: ignore[union-attr]
        # Binding a second phone supersedes the first; a fresh snapshot follows the access change.
        await new_phone.bind(alice)
        await eventually(
            lambda: old_phone.cid in snapshot_revoked(agent) and new_phone.cid in snapshot_cids(agent),
            10,
            "a fresh snapshot that knows the first phone is superseded",
        )
        assert agent.decider is not None
        assert agent.decider.snapshot["issuedAt"] > first_issued
        assert old_phone.cid not in snapshot_cids(agent)

        # Scan in a loop; stop the server under it.
        loop_results: list[tuple[bool, bool, str, bool]] = []  # (online before, granted, reason, offline)
        stop = asyncio.Event()

        async def scan_loop() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                was_online = agent.online.is_set()
                granted, reason, offline = await agent.scan(lobby_in, f"NOT-A-PASS-{n:05d}")
                loop_results.append((was_online, granted, reason, offline))
                await asyncio.sleep(0.03)

        scanner = asyncio.create_task(scan_loop())
        try:
            await eventually(lambda: sum(not r[3] for r in loop_results) >= 5, 10, "online decisions")
            await asyncio.to_thread(server.stop)
            down_from = len(loop_results)
            await eventually(lambda: sum(r[3] for r in loop_results[down_from:]) >= 5, 15, "offline decisions")
        finally:
            stop.set()
            await asyncio.wait_for(scanner, 10)
        assert not agent.online.is_set()
        assert {(granted, reason) for _, granted, reason, _ in loop_results} == {(False, "malformed")}
        online_answers = sum(not r[3] for r in loop_results)
        loop_offline = sum(r[3] for r in loop_results)
        # With the server gone, every decision came from the snapshot.
        assert all(r[3] for r in loop_results[down_from + 1 :]), loop_results

        # Offline decisions from the signed snapshot.
        token = new_phone.token()
        decided = [
            await agent.scan(eng, old_phone.token(), "IN"),  # superseded before the snapshot was taken
            await agent.scan(eng, token, "IN"),
            await agent.scan(eng, token, "IN"),  # the same token again at this gate
            await agent.scan(eng, dave_phone.token(), "IN"),  # no grant for engineering
        ]
        assert decided == [
            (False, "revoked", True),
            (True, "ok", True),
            (False, "replayed", True),
            (False, "no_access", True),
        ]
        assert door.opened == [(eng, 3000)]
        assert [e["seq"] for e in agent.buffer.events] == list(range(1, loop_offline + 5))

        # Back online: a new server on the same database.
        server2 = await asyncio.to_thread(sqlite_site.start_server)
        agent.url = server2.ws + "/devices/ws"
        await eventually(lambda: agent.online.is_set() and not agent.buffer.events, 30, "the upload")
        await asyncio.sleep(1.5)  # a batch sent again before its ack arrived must not add rows

    staff = GraphQLClient(server2, admin.token)
    events = await all_events(staff)
    offline = [summary(e) for e in events if e["offline"]]
    # A scan whose answer was lost as the server went down was decided on both sides; the upload
    # carries its ref and the server keeps the online record only (test_scan_answered_too_late...).
    fell_back = sum(was_online and offline for was_online, _, _, offline in loop_results)
    loop_uploaded = sum(1 for e in offline if e[0] == "malformed")
    assert loop_offline - fell_back <= loop_uploaded <= loop_offline
    assert offline == [("malformed", "DENIED", None, lobby_in, "IN", True)] * loop_uploaded + [
        ("revoked", "DENIED", "Alice Li", eng, "IN", True),
        ("ok", "GRANTED", "Alice Li", eng, "IN", True),
        ("replayed", "DENIED", "Alice Li", eng, "IN", True),
        ("no_access", "DENIED", "Dave Zhou", eng, "IN", True),
    ]
    online = [summary(e) for e in events if not e["offline"]]
    assert set(online) == {("malformed", "DENIED", None, lobby_in, "IN", False)}
    # Every scan of the loop is stored exactly once, online or offline.
    assert len(online) + loop_uploaded == online_answers + loop_offline


# ---------------------------------------------------------------------------
# Uploads: once per (device, seq); bad frames refused whole
# ---------------------------------------------------------------------------


async def test_same_batch_uploaded_twice_is_stored_once(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    admin = await login(api, demo, "admin")
    phone = await bound_phone(api, demo, "alice")
    # Signed for the time the events say they happened: the server checks the step against it.
    token = phone.token(at=time.time() - 180)
    batch = [
        offline_event(1, lobby_in, "NOT-A-PASS", False, "malformed"),
        offline_event(2, eng, token, True, "ok"),
        offline_event(3, eng, token, False, "replayed"),
    ]
    async with offline_gate(server, demo.device_id, demo.device_secret) as gate:
        await gate.recv_type("snapshot")
        await gate.send({"type": "events", "ref": "up-3", "events": batch})
        first = await gate.recv_type("events_ack")
        assert first == {"type": "events_ack", "ref": "up-3", "upTo": 3, "stored": 3, "duplicates": 0}
        stored = await all_events(admin)
        assert [summary(e) for e in stored] == [
            ("malformed", "DENIED", None, lobby_in, "IN", True),
            ("ok", "GRANTED", "Alice Li", eng, "IN", True),
            ("replayed", "DENIED", "Alice Li", eng, "IN", True),
        ]

        await gate.send({"type": "events", "ref": "up-3", "events": batch})
        second = await gate.recv_type("events_ack")
        assert second == {"type": "events_ack", "ref": "up-3", "upTo": 3, "stored": 0, "duplicates": len(batch)}
        assert await all_events(admin) == stored

        # A batch that overlaps the stored one stores only what is new.
        overlap = [batch[2], offline_event(4, lobby_in, "NOT-A-PASS-2", False, "malformed")]
        await gate.send({"type": "events", "ref": "up-4", "events": overlap})
        third = await gate.recv_type("events_ack")
        assert third == {"type": "events_ack", "ref": "up-4", "upTo": 4, "stored": 1, "duplicates": 1}
        after = await all_events(admin)
        assert after[:3] == stored
        assert [summary(e) for e in after[3:]] == [("malformed", "DENIED", None, lobby_in, "IN", True)]


async def test_bad_upload_frames_get_error_frames_and_store_nothing(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    admin = await login(api, demo, "admin")
    registered = (
        await admin.ok(
            REGISTER_DEVICE, {"input": {"name": "Engineering scanner", "kind": "QR_SCANNER", "gateIds": [eng]}}
        )
    )["registerDevice"]
    assert registered["errors"] == [], registered
    good = offline_event(1, eng, "NOT-A-PASS", False, "malformed")
    no_seq = {k: v for k, v in good.items() if k != "seq"}
    cases: list[tuple[str, list[Any], str]] = [
        ("foreign-gate", [{**good, "gateId": lobby_in}], "gate is not one of this device's"),
        ("unknown-gate", [{**good, "gateId": "999999"}], "gate is not one of this device's"),
        ("no-seq", [no_seq], "seq must be a whole number from 1 to 2^62"),
        ("zero-seq", [{**good, "seq": 0}], "seq must be a whole number from 1 to 2^62"),
        ("naive-at", [{**good, "at": "2026-11-27T08:00:00"}], "at must be an ISO 8601 time with an offset"),
        ("no-at", [{k: v for k, v in good.items() if k != "at"}], "at must be an ISO 8601 time with an offset"),
        # One bad event refuses the whole frame: the good one before it is not stored either.
        ("mixed", [good, {**good, "seq": 2, "at": "yesterday"}], "at must be an ISO 8601 time with an offset"),
        ("empty", [], "events must be a non-empty list"),
    ]
    async with offline_gate(server, registered["device"]["id"], registered["deviceSecret"]) as gate:
        await gate.recv_type("snapshot")
        for ref, events, message in cases:
            await gate.send({"type": "events", "ref": ref, "events": events})
            error = await gate.recv_type("error")
            assert (error["ref"], error["code"]) == (ref, "bad_message"), error
            assert message in error["message"], (ref, error)
        await gate.send({"type": "events", "ref": "no-list", "events": "seq 1"})
        error = await gate.recv_type("error")
        assert (error["ref"], error["code"]) == ("no-list", "bad_message"), error
        assert [f for f in gate.pending if f.get("type") == "events_ack"] == []
        assert await all_events(admin) == []

        # The connection is still up and a good batch is stored.
        await gate.send({"type": "events", "ref": "good", "events": [good]})
        ack = await gate.recv_type("events_ack")
        assert ack == {"type": "events_ack", "ref": "good", "upTo": 1, "stored": 1, "duplicates": 0}
    assert [summary(e) for e in await all_events(admin)] == [("malformed", "DENIED", None, eng, "IN", True)]


# ---------------------------------------------------------------------------
# Snapshots: fail closed when expired; signed by the server
# ---------------------------------------------------------------------------


def unit_snapshot(phone: Phone, gate_id: str, valid_until: datetime | None) -> dict[str, Any]:
    issued = datetime.now(UTC) - timedelta(hours=25)
    return {
        "version": 1,
        "deviceId": "1",
        "issuedAt": iso(issued),
        "validUntil": iso(valid_until) if valid_until is not None else None,
        "timeZone": "UTC",
        "gates": [{"id": gate_id, "zoneId": "1", "direction": "BOTH"}],
        "credentials": [
            {
                "cid": phone.cid,
                "publicKey": phone.public_key,
                "period": PERIOD,
                "personId": "5",
                "name": "Alice Li",
                "validUntil": None,
                "access": [{"gateIds": [gate_id], "validFrom": None, "validUntil": None, "schedule": []}],
            }
        ],
        "revoked": [],
        "lockedGates": [],
    }


def test_expired_snapshot_fails_closed() -> None:
    phone = Phone()
    phone.cid = passtoken.new_cid()
    stranger = Phone()
    stranger.cid = passtoken.new_cid()
    now = datetime.now(UTC)
    tokens = [phone.token(), phone.token(step_offset=1), stranger.token(), "NOT-A-PASS", ""]

    # Control: the same snapshot while valid lets the holder in.
    fresh = OfflineDecider(unit_snapshot(phone, "7", now + timedelta(hours=1)))
    assert fresh.decide("7", phone.token(), "IN", now) == (True, "ok", "Alice Li")

    for valid_until in (now - timedelta(seconds=1), now, None):
        decider = OfflineDecider(unit_snapshot(phone, "7", valid_until))
        decisions = {
            decider.decide(gate, token, direction, now)
            for gate in ("7", "8")
            for token in tokens
            for direction in ("IN", "OUT")
        }
        assert decisions == {(False, "snapshot_expired", None)}, valid_until
        assert decider.used == {}  # nothing was used up by a refused decision


async def test_agent_without_snapshot_fails_closed_and_buffers_the_refusal(tmp_path: Path) -> None:
    door = RecordingDoor()
    agent = GateAgent("ws://127.0.0.1:9", "1", "secret", tmp_path / "gate", door)
    phone = Phone()
    phone.cid = passtoken.new_cid()
    assert await agent.scan("3", phone.token(), "IN") == (False, "snapshot_expired", True)
    assert door.opened == []
    [event] = agent.buffer.events
    assert (event["seq"], event["gateId"], event["granted"], event["reason"]) == (1, "3", False, "snapshot_expired")
    # The buffer is on disk: a restarted agent still has it.
    again = GateAgent("ws://127.0.0.1:9", "1", "secret", tmp_path / "gate", door)
    assert again.buffer.events == [event]
    assert again.buffer.next_seq == 2


async def test_snapshot_signature_verifies_with_welcome_key_and_tampering_is_detected(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    phone = await bound_phone(api, demo, "alice")
    async with offline_gate(server, demo.device_id, demo.device_secret) as gate:
        frame = await gate.recv_type("snapshot")
        key = gate.welcome["snapshotKey"]
    assert len(base64.b64decode(key)) == 32

    snapshot = verify_snapshot(frame, key)
    assert snapshot == frame["snapshot"]
    assert snapshot["deviceId"] == demo.device_id
    assert sorted(g["id"] for g in snapshot["gates"]) == sorted(demo.gates.values())
    [alice] = [c for c in snapshot["credentials"] if c["cid"] == phone.cid]
    assert (alice["name"], alice["publicKey"], alice["period"]) == ("Alice Li", phone.public_key, PERIOD)
    issued, until = datetime.fromisoformat(snapshot["issuedAt"]), datetime.fromisoformat(snapshot["validUntil"])
    assert until - issued == timedelta(hours=24)

    def tampered(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        forged = copy.deepcopy(frame)
        change(forged["snapshot"])
        return forged

    other_key = Ed25519PrivateKey.generate()
    body = json.dumps(frame["snapshot"], sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    forgeries = {
        "validity extended": tampered(lambda s: s.update(validUntil=iso(until + timedelta(days=365)))),
        "credential added": tampered(lambda s: s["credentials"].append({**alice, "cid": passtoken.new_cid()})),
        "grant widened": tampered(lambda s: s["credentials"][0]["access"].append({"gateIds": ["1"]})),
        "gate locked": tampered(lambda s: s.update(lockedGates=[demo.gates["Lobby turnstile in"]])),
        "revocation added": tampered(lambda s: s.update(revoked=[*s["revoked"], passtoken.new_cid()])),
        "signed by another key": {**frame, "signature": base64.b64encode(other_key.sign(body)).decode()},
        "signature garbage": {**frame, "signature": "AAAA"},
        "signature missing": {k: v for k, v in frame.items() if k != "signature"},
    }
    for what, forged in forgeries.items():
        with pytest.raises(BadSnapshot):
            verify_snapshot(forged, key)
            pytest.fail(f"a snapshot with {what} verified")
    other_public = other_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with pytest.raises(BadSnapshot):
        verify_snapshot(frame, base64.b64encode(other_public).decode())


# ---------------------------------------------------------------------------
# `gatehouse-gate run` as a real process
# ---------------------------------------------------------------------------


async def test_gate_agent_cli_reads_qr_lines_from_stdin_and_prints_json_results(
    server: ServerProcess, api: GraphQLClient, demo: Demo, tmp_path: Path
) -> None:
    lobby_in = demo.gates["Lobby turnstile in"]
    admin = await login(api, demo, "admin")
    phone = await bound_phone(api, demo, "alice")
    secret_file = tmp_path / "gate-secret"
    secret_file.write_text(demo.device_secret + "\n")
    secret_file.chmod(0o600)
    command = [
        sys.executable,
        "-m",
        "gatehouse_gate.cli",
        "run",
        "--server",
        server.ws,
        "--device-id",
        demo.device_id,
        "--secret-file",
        str(secret_file),
        "--gate",
        lobby_in,
        "--state-dir",
        str(tmp_path / "gate"),
    ]
    stdin = f"{phone.token()}\nGARBAGE-NOT-A-PASS\n"
    result = await asyncio.to_thread(
        subprocess.run, command, input=stdin, capture_output=True, text=True, cwd=PROJECT, timeout=60
    )
    assert "visible" not in result.stderr, result.stderr  # no warning about a secret on the command line
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    answers = [json.loads(line) for line in lines if line.startswith("{")]
    assert answers == [
        {"granted": True, "reason": "ok", "offline": False},
        {"granted": False, "reason": "malformed", "offline": False},
    ], result.stdout
    assert f"door {lobby_in}: open for 3000 ms" in lines
    assert [summary(e) for e in await all_events(admin)] == [
        ("ok", "GRANTED", "Alice Li", lobby_in, "IN", False),
        ("malformed", "DENIED", None, lobby_in, "IN", False),
    ]
    # It kept the signed snapshot it was sent, for the next time the link is down.
    saved = json.loads((tmp_path / "gate" / "snapshot.json").read_text())
    assert phone.cid in {c["cid"] for c in verify_snapshot(saved["frame"], saved["serverKey"])["credentials"]}


# ---------------------------------------------------------------------------
# Lockdowns and evacuations reach gates that decide offline
# ---------------------------------------------------------------------------

LOCKDOWN = """
mutation($z: ID!, $r: String!) { lockdown(zoneId: $z, reason: $r) { lockdown { id } errors { code message } } }
"""
EVACUATE = """
mutation($z: ID!, $r: String!) { evacuate(zoneId: $z, reason: $r) { lockdown { id } errors { code message } } }
"""
RELEASE = "mutation($id: ID!) { releaseLockdown(id: $id) { lockdown { id releasedAt } errors { code message } } }"


async def lobby_zone(client: GraphQLClient) -> str:
    [zone] = [z["id"] for z in (await client.ok("{ zones { id name } }"))["zones"] if z["name"] == "Lobby"]
    return str(zone)


async def fresh_snapshot(gate: Gate, key: str) -> dict[str, Any]:
    """The next snapshot frame, verified (commands that arrive meanwhile are acknowledged)."""
    frame = await gate.recv_type("snapshot")
    for command in [f for f in gate.pending if f.get("type") == "command"]:
        await gate.send({"type": "ack", "id": command["id"]})
    gate.pending = [f for f in gate.pending if f.get("type") != "command"]
    return verify_snapshot(frame, key)


async def test_lockdown_and_release_reach_offline_snapshots(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    guard = await login(api, demo, "guard")
    lobby = await lobby_zone(guard)
    phone = await bound_phone(api, demo, "alice")
    async with offline_gate(server, demo.device_id, demo.device_secret) as gate:
        key = gate.welcome["snapshotKey"]
        assert (await fresh_snapshot(gate, key))["lockedGates"] == []
        started = (await guard.ok(LOCKDOWN, {"z": lobby, "r": "intruder reported"}))["lockdown"]
        assert started["errors"] == [], started
        locked = await fresh_snapshot(gate, key)
        assert sorted(locked["lockedGates"]) == sorted(demo.gates.values())
        now = datetime.now(UTC)
        decider = OfflineDecider(locked)
        assert decider.decide(lobby_in, phone.token(), "IN", now) == (False, "lockdown", None)
        assert decider.decide(eng, phone.token(step_offset=1), "OUT", now) == (False, "lockdown", None)

        released = (await guard.ok(RELEASE, {"id": started["lockdown"]["id"]}))["releaseLockdown"]
        assert released["errors"] == [], released
        open_again = await fresh_snapshot(gate, key)
        assert open_again["lockedGates"] == []
        decider.replace(open_again)
        assert decider.decide(lobby_in, phone.token(), "IN", now) == (True, "ok", "Alice Li")


async def test_evacuation_reaches_offline_snapshots(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    lobby_in, lobby_out = demo.gates["Lobby turnstile in"], demo.gates["Lobby turnstile out"]
    guard = await login(api, demo, "guard")
    lobby = await lobby_zone(guard)
    phone = await bound_phone(api, demo, "alice")
    async with offline_gate(server, demo.device_id, demo.device_secret) as gate:
        key = gate.welcome["snapshotKey"]
        await fresh_snapshot(gate, key)
        started = (await guard.ok(EVACUATE, {"z": lobby, "r": "fire alarm"}))["evacuate"]
        assert started["errors"] == [], started
        evacuating = await fresh_snapshot(gate, key)
    now = datetime.now(UTC)
    decider = OfflineDecider(evacuating)
    assert decider.decide(lobby_out, phone.token(), "OUT", now) == (True, "ok", "Alice Li")
    assert decider.decide(lobby_in, phone.token(step_offset=1), "IN", now) == (False, "lockdown", None)


# ---------------------------------------------------------------------------
# The reference agent and the upload path under awkward timing
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def frozen(server: ServerProcess) -> Any:
    """The server process stopped (SIGSTOP) for the block: the link stays up, nothing is answered."""
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


async def test_scan_answered_too_late_is_stored_once(
    server: ServerProcess, api: GraphQLClient, demo: Demo, tmp_path: Path
) -> None:
    lobby_in = demo.gates["Lobby turnstile in"]
    admin = await login(api, demo, "admin")
    phone = await bound_phone(api, demo, "alice")
    agent = GateAgent(server.ws, demo.device_id, demo.device_secret, tmp_path / "gate", RecordingDoor())
    async with running(agent):
        await eventually(lambda: phone.cid in snapshot_cids(agent), 10, "the snapshot")
        with frozen(server):
            decided = await agent.scan(lobby_in, phone.token())  # no answer within 2 s
        assert decided == (True, "ok", True)

        async def decided_online() -> bool:  # the server, running again, decides the scan it had received
            return len(await all_events(admin)) >= 1

        await eventually(decided_online, 15, "the server's own decision of the frozen scan")
        assert agent.ws is not None
        await agent.ws.close()  # the next connection uploads what the agent buffered
        # The server acknowledges an upload once it has stored (or recognised) every event of it.
        await eventually(lambda: agent.online.is_set() and not agent.buffer.events, 15, "the upload")
    events = await all_events(admin)
    assert len(events) == 1, [summary(e) for e in events]


async def test_offline_decision_while_link_is_up_is_uploaded_without_waiting_for_a_reconnect(
    server: ServerProcess, api: GraphQLClient, demo: Demo, tmp_path: Path
) -> None:
    agent = GateAgent(server.ws, demo.device_id, demo.device_secret, tmp_path / "gate", RecordingDoor())
    async with running(agent):
        await eventually(lambda: agent.decider is not None, 10, "the snapshot")
        with frozen(server):
            decided = await agent.scan(demo.gates["Lobby turnstile in"], "NOT-A-PASS")
        assert decided == (False, "malformed", True)
        assert agent.online.is_set()
        await eventually(lambda: not agent.buffer.events, 10, "the upload of the event decided offline")


async def test_evacuation_hold_keeps_the_gpio_door_open_until_release(tmp_path: Path) -> None:
    # The line's levels as the door sets them (this machine has no GPIO chip; gatehouse_gate.gpio
    # requests the real line, tests/test_tls_and_upgrades.py checks its refusals).
    levels: list[bool] = [False]

    def door_open() -> bool:
        return levels[-1]

    async def evacuation(clock: SteppedClockLoop) -> None:
        # The agent runs on a loop whose clock the test moves: an hour passes in no time.
        agent = GateAgent("ws://127.0.0.1:9", "1", "secret", tmp_path / "gate", GpioDoor(levels.append))
        hold = {"type": "command", "id": "c-1", "command": "open", "gateId": "3", "durationMs": 0, "hold": True}
        await agent._on_frame({**hold, "reason": "fire alarm"})
        await eventually(door_open, 10, "the door to open")
        await clock.advance(3600)  # far past any open duration (3 s by default)
        assert door_open(), "the door closed during the evacuation"
        await agent._on_frame({"type": "command", "id": "c-2", "command": "release", "gateId": "3"})
        await eventually(lambda: not door_open(), 10, "the door to close")

    await on_stepped_clock(evacuation)


async def test_passage_uploaded_late_does_not_override_a_newer_online_passage(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    lobby_in, lobby_out = demo.gates["Lobby turnstile in"], demo.gates["Lobby turnstile out"]
    admin = await login(api, demo, "admin")
    phone = await bound_phone(api, demo, "alice")
    entry_device = (
        await admin.ok(
            REGISTER_DEVICE, {"input": {"name": "Lobby entry scanner", "kind": "QR_SCANNER", "gateIds": [lobby_in]}}
        )
    )["registerDevice"]
    earlier = time.time() - 600
    offline_entry = {
        **offline_event(1, lobby_in, phone.token(at=earlier), True, "ok"),
        "at": iso(datetime.fromtimestamp(earlier, UTC)),
    }
    async with (
        offline_gate(server, entry_device["device"]["id"], entry_device["deviceSecret"]) as entry,
        contextlib.AsyncExitStack() as stack,
    ):
        online = await Gate(server, demo.device_id, demo.device_secret).connect()
        stack.push_async_callback(online.close)
        # 08:00 Alice came in through the entry turnstile while its link was down; 08:10 she left online.
        exit_reply = await online.scan(lobby_out, phone.token())
        assert (exit_reply["granted"], exit_reply["reason"]) == (True, "ok"), exit_reply
        # 08:11 the entry turnstile is back and uploads the 08:00 entry.
        await entry.send({"type": "events", "ref": "up-1", "events": [offline_entry]})
        ack = await entry.recv_type("events_ack")
        assert (ack["stored"], ack["duplicates"]) == (1, 0), ack
        # 08:20 she comes back: her last passage was the exit, so she is outside and may enter.
        again = await online.scan(lobby_in, phone.token(step_offset=1))
        assert (again["granted"], again["reason"]) == (True, "ok"), again
