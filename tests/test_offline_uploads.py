"""Offline uploads cannot forge or repeat passages (issue 11, item 12).

A gate that decided alone uploads its events (`events` → `events_ack`); the server checks each
again: the token's signature with the credential's key, its step against the time the gate
claims, that time against the snapshots the device was given, and that its (credential, step)
was not used already — by another upload, another gate, another server process, or an online
scan. What fails is stored as a refused attempt naming nobody (a genuine token's replay names its
owner, as online), never moves presence, and raises an `offline_unverified` alert; the ack still
counts it as stored, so the device drops it. Everything here goes through real device WebSocket
connections and GraphQL clients against real servers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken

from tests.harness import Demo, Gate, GraphQLClient, OfflineGate, Phone, ServerProcess, Site

EVENTS = """
query { gateEvents(first: 100) { edges { node {
  id at reason decision offline direction gate { id } person { displayName }
} } } }
"""
ALERTS = """
query { alerts(first: 50, kind: "offline_unverified") { edges { node { kind message deviceId } } } }
"""
MUSTER = "query { muster { person { displayName } zones { id } } }"
REGISTER_DEVICE = """
mutation($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { device { id } deviceSecret errors { code message field } }
}
"""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def server_now(server: ServerProcess) -> datetime:
    return server.clock.now() if server.clock is not None else datetime.now(UTC)


def event(
    seq: int, gate_id: str, credential: str, at: datetime | str, granted: bool = True, **extra: Any
) -> dict[str, Any]:
    return {
        "seq": seq,
        "gateId": gate_id,
        "at": at if isinstance(at, str) else at.isoformat(),
        "credential": credential,
        "granted": granted,
        "reason": "ok" if granted else "malformed",
        "direction": "IN",
        **extra,
    }


async def upload(gate: Gate, ref: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    await gate.send({"type": "events", "ref": ref, "events": events})
    try:
        ack = await gate.recv_type("events_ack")
    except TimeoutError:
        raise AssertionError(f"no events_ack; the device got {gate.pending}") from None
    assert ack["ref"] == ref and ack["upTo"] == max(e["seq"] for e in events), ack
    return ack


async def stored_events(admin: GraphQLClient) -> list[dict[str, Any]]:
    data = await admin.ok(EVENTS)
    return sorted((edge["node"] for edge in data["gateEvents"]["edges"]), key=lambda e: int(e["id"]))


def summary(e: dict[str, Any]) -> tuple[Any, ...]:
    person = e["person"]["displayName"] if e["person"] else None
    return (e["reason"], e["decision"], person, e["gate"]["id"], e["offline"])


async def alerts(admin: GraphQLClient) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await admin.ok(ALERTS))["alerts"]["edges"]]


async def inside(admin: GraphQLClient) -> set[str]:
    return {line["person"]["displayName"] for line in (await admin.ok(MUSTER))["muster"]}


async def register(admin: GraphQLClient, name: str, gate_ids: list[str]) -> tuple[str, str]:
    data = (await admin.ok(REGISTER_DEVICE, {"input": {"name": name, "kind": "QR_SCANNER", "gateIds": gate_ids}}))[
        "registerDevice"
    ]
    assert data["errors"] == [], data
    return data["device"]["id"], data["deviceSecret"]


@contextlib.asynccontextmanager
async def offline_device(server: ServerProcess, device_id: str, secret: str) -> AsyncIterator[OfflineGate]:
    """An offline-capable device, connected, holding the snapshot the server just issued it."""
    gate = OfflineGate(server, device_id, secret)
    await gate.connect()
    try:
        snapshot = (await gate.recv_type("snapshot"))["snapshot"]
        await gate.send({"type": "snapshot_ack", "issuedAt": snapshot["issuedAt"]})
        yield gate
    finally:
        with contextlib.suppress(Exception):
            await gate.close()


@contextlib.asynccontextmanager
async def online_device(server: ServerProcess, device_id: str, secret: str) -> AsyncIterator[Gate]:
    gate = Gate(server, device_id, secret)
    await gate.connect()
    try:
        yield gate
    finally:
        with contextlib.suppress(Exception):
            await gate.close()


async def alice_phone(server: ServerProcess, demo: Demo) -> Phone:
    phone = Phone()
    await phone.bind(GraphQLClient(server, demo=demo, as_="alice"))
    return phone


def token_at(phone: Phone, when: datetime) -> str:
    return phone.token(at=when.timestamp())


# ---------------------------------------------------------------------------
# One token, one passage
# ---------------------------------------------------------------------------


async def test_a_genuine_token_uploaded_three_times_at_two_gates_is_one_passage(
    sqlite_site: Site, server: ServerProcess, demo: Demo
) -> None:
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    admin = GraphQLClient(server, demo=demo, as_="admin")
    phone = await alice_phone(server, demo)
    b_id, b_secret = await register(admin, "Lobby scanner B", [lobby_in])
    # A second server process on the same database (started once the site is set up: without Redis
    # it hears of no change the first makes): its used tokens (in memory) know nothing of the
    # first's, so only the database's UNIQUE (credential, step) keeps the token to one passage.
    other = sqlite_site.start_server()
    async with (
        offline_device(server, demo.device_id, demo.device_secret) as a,
        offline_device(other, b_id, b_secret) as b,
    ):
        when = server_now(server) - timedelta(minutes=2)
        token = token_at(phone, when)
        # Device A says it let the token through twice (at two of its gates), device B once more.
        batch = [event(1, lobby_in, token, when), event(2, eng, token, when + timedelta(seconds=5))]
        assert (await upload(a, "a-1", batch))["stored"] == 2
        ack_b = await upload(b, "b-1", [event(1, lobby_in, token, when + timedelta(seconds=8))])
        assert (ack_b["stored"], ack_b["duplicates"]) == (1, 0), ack_b
        # The same batch again is stored once per (device, seq): nothing new.
        again = await upload(a, "a-1", batch)
        assert (again["stored"], again["duplicates"]) == (0, 2), again

    events = await stored_events(admin)
    assert [summary(e) for e in events] == [
        ("ok", "GRANTED", "Alice Li", lobby_in, True),
        ("replayed", "DENIED", "Alice Li", eng, True),
        ("replayed", "DENIED", "Alice Li", lobby_in, True),
    ]
    # Both devices opened a door for a used token: the guards hear of each.
    raised = await alerts(admin)
    assert sorted(a["deviceId"] for a in raised) == sorted([demo.device_id, b_id]), raised
    assert all("replayed" in a["message"] for a in raised), raised


# ---------------------------------------------------------------------------
# Forgeries
# ---------------------------------------------------------------------------


async def test_a_forged_granted_upload_is_a_refused_attempt_with_an_alert(server: ServerProcess, demo: Demo) -> None:
    lobby_in = demo.gates["Lobby turnstile in"]
    admin = GraphQLClient(server, demo=demo, as_="admin")
    phone = await alice_phone(server, demo)
    async with offline_device(server, demo.device_id, demo.device_secret) as gate:
        when = server_now(server) - timedelta(minutes=2)
        step = passtoken.current_step(when.timestamp(), passtoken.DEFAULT_PERIOD)
        assert phone.cid is not None
        # Alice's cid is printed in every QR she shows; her key never leaves her phone.
        forged = passtoken.sign(phone.cid, step, Ed25519PrivateKey.generate())
        unknown = passtoken.sign(passtoken.new_cid(), step, Ed25519PrivateKey.generate())
        assert await inside(admin) == set()
        ack = await upload(
            gate,
            "up-1",
            [
                event(1, lobby_in, forged, when),
                event(2, lobby_in, unknown, when),
                event(3, lobby_in, "NOT-A-PASS", when),
            ],
        )
        # Stored (as refused attempts): the device may drop them.
        assert (ack["stored"], ack["duplicates"]) == (3, 0), ack

    events = await stored_events(admin)
    assert [summary(e) for e in events] == [
        ("bad_signature", "DENIED", None, lobby_in, True),
        ("unknown_credential", "DENIED", None, lobby_in, True),
        ("malformed", "DENIED", None, lobby_in, True),
    ]
    assert await inside(admin) == set(), "a refused upload moves nobody"
    [alert] = await alerts(admin)
    assert alert["deviceId"] == demo.device_id and "3 passes" in alert["message"], alert
    # The real Alice is not held out by the forgery: her own token of that step still opens.
    async with online_device(server, demo.device_id, demo.device_secret) as gate:
        reply = await gate.scan(lobby_in, phone.token())
        assert (reply["granted"], reply["reason"]) == (True, "ok"), reply


async def test_a_token_whose_step_does_not_fit_the_claimed_time_is_refused(server: ServerProcess, demo: Demo) -> None:
    lobby_in = demo.gates["Lobby turnstile in"]
    admin = GraphQLClient(server, demo=demo, as_="admin")
    phone = await alice_phone(server, demo)
    async with offline_device(server, demo.device_id, demo.device_secret) as gate:
        now = server_now(server)
        earlier = now - timedelta(minutes=10)
        # A genuine token of now, claimed to have been shown ten minutes ago (a recorded QR replayed
        # with a made-up time), then a genuine token of ten minutes ago at its own time.
        ack = await upload(
            gate,
            "up-1",
            [event(1, lobby_in, token_at(phone, now), earlier), event(2, lobby_in, token_at(phone, earlier), earlier)],
        )
        assert (ack["stored"], ack["duplicates"]) == (2, 0), ack
    assert [summary(e) for e in await stored_events(admin)] == [
        ("offline_mismatch", "DENIED", None, lobby_in, True),
        ("ok", "GRANTED", "Alice Li", lobby_in, True),
    ]
    [alert] = await alerts(admin)
    assert "offline_mismatch" in alert["message"], alert


# ---------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------


async def test_upload_times_outside_the_devices_snapshots_are_refused(server: ServerProcess, demo: Demo) -> None:
    lobby_in = demo.gates["Lobby turnstile in"]
    admin = GraphQLClient(server, demo=demo, as_="admin")
    phone = await alice_phone(server, demo)
    assert phone.cid is not None
    # A device of its own: its first snapshot is issued as it connects, so an hour ago it held none.
    device_id, secret = await register(admin, "Lobby scanner", [lobby_in])
    started = server_now(server)
    async with offline_device(server, device_id, secret) as gate:
        now = server_now(server)
        hour_ago, tomorrow = now - timedelta(hours=1), now + timedelta(days=1)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        batch = [
            event(1, lobby_in, phone.token(), "0001-01-01T00:00:00Z"),
            event(2, lobby_in, phone.token(), "0001-01-01T00:00:00+05:00"),  # before year 1 in UTC
            # Signed by Alice's own key for the step of the claimed time: only the time gives it away.
            event(3, lobby_in, passtoken.sign(phone.cid, 0, phone.key), epoch),
            event(4, lobby_in, "NOT-A-PASS", "1970-01-01T00:00:00Z", granted=False),
            event(5, lobby_in, token_at(phone, tomorrow), tomorrow),
            event(6, lobby_in, token_at(phone, hour_ago), hour_ago),
            event(7, lobby_in, token_at(phone, now - timedelta(minutes=1)), now - timedelta(minutes=1)),
        ]
        ack = await upload(gate, "up-1", batch)
        # Every event is answered as stored, the refused ones too: the device drops them all.
        assert (ack["stored"], ack["duplicates"]) == (7, 0), ack
        again = await upload(gate, "up-1", batch)
        assert (again["stored"], again["duplicates"]) == (0, 7), again

    events = await stored_events(admin)
    assert [summary(e) for e in events] == [("offline_mismatch", "DENIED", None, lobby_in, True)] * 6 + [
        ("ok", "GRANTED", "Alice Li", lobby_in, True)
    ]
    # A time the server cannot place is not stored as the event's time: it is dated by its upload.
    for e in events[:6]:
        assert datetime.fromisoformat(e["at"]) >= started - timedelta(seconds=1), e
    [alert] = await alerts(admin)
    assert alert["deviceId"] == device_id and "5 passes" in alert["message"], alert
    assert await inside(admin) == {"Alice Li"}


# ---------------------------------------------------------------------------
# Uploads and online scans share one (credential, step)
# ---------------------------------------------------------------------------


async def test_an_online_scan_after_an_upload_of_the_same_token_is_replayed(server: ServerProcess, demo: Demo) -> None:
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    admin = GraphQLClient(server, demo=demo, as_="admin")
    phone = await alice_phone(server, demo)
    device_id, secret = await register(admin, "Lobby scanner", [lobby_in])
    token = phone.token()
    async with offline_device(server, device_id, secret) as offline:
        ack = await upload(offline, "up-1", [event(1, lobby_in, token, server_now(server))])
        assert ack["stored"] == 1, ack
    async with online_device(server, demo.device_id, demo.device_secret) as online:
        reply = await online.scan(eng, token, direction="IN")
        assert (reply["granted"], reply["reason"]) == (False, "replayed"), reply
    assert [summary(e) for e in await stored_events(admin)] == [
        ("ok", "GRANTED", "Alice Li", lobby_in, True),
        ("replayed", "DENIED", "Alice Li", eng, False),
    ]


async def test_an_upload_after_an_online_scan_of_the_same_token_is_refused_replayed(
    sqlite_site: Site, server: ServerProcess, demo: Demo
) -> None:
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    admin = GraphQLClient(server, demo=demo, as_="admin")
    phone = await alice_phone(server, demo)
    b_id, b_secret = await register(admin, "Lobby scanner", [lobby_in])
    c_id, c_secret = await register(admin, "Engineering scanner", [eng])
    other = sqlite_site.start_server()  # after the set-up, which it would not hear of
    token = phone.token()
    async with online_device(server, demo.device_id, demo.device_secret) as online:
        reply = await online.scan(lobby_in, token)
        assert (reply["granted"], reply["reason"]) == (True, "ok"), reply
    when = server_now(server)
    # The same server process (its used tokens say so), and another one (only the database does).
    async with offline_device(server, b_id, b_secret) as b, offline_device(other, c_id, c_secret) as c:
        assert (await upload(b, "b-1", [event(1, lobby_in, token, when)]))["stored"] == 1
        assert (await upload(c, "c-1", [event(1, eng, token, when)]))["stored"] == 1
    assert [summary(e) for e in await stored_events(admin)] == [
        ("ok", "GRANTED", "Alice Li", lobby_in, False),
        ("replayed", "DENIED", "Alice Li", lobby_in, True),
        ("replayed", "DENIED", "Alice Li", eng, True),
    ]
    assert sorted(a["deviceId"] for a in await alerts(admin)) == sorted([b_id, c_id])


# ---------------------------------------------------------------------------
# PostgreSQL + Redis, two server processes (CI=true)
# ---------------------------------------------------------------------------


async def test_uploads_and_online_scans_share_each_token_across_processes(scale_site: Site) -> None:
    """Two workers on one PostgreSQL and one Redis: the upload claims the token where online scans
    do (Redis), so each order counts once whichever worker the device and the gate reach."""
    demo = scale_site.demo
    assert demo is not None
    first, second = scale_site.servers
    lobby_in, eng = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    admin = scale_site.client("admin", 0)
    phone = await alice_phone(first, demo)
    b_id, b_secret = await register(admin, "Lobby scanner", [lobby_in])
    uploaded, scanned = phone.token(), phone.token(step_offset=1)
    async with offline_device(first, b_id, b_secret) as offline:
        # Uploaded on the first worker, shown online at the second: replayed.
        assert (await upload(offline, "up-1", [event(1, lobby_in, uploaded, server_now(first))]))["stored"] == 1
        async with online_device(second, demo.device_id, demo.device_secret) as online:
            reply = await online.scan(eng, uploaded, direction="IN")
            assert (reply["granted"], reply["reason"]) == (False, "replayed"), reply
            # Shown online at the second worker first, then uploaded at the first: refused replayed.
            reply = await online.scan(eng, scanned, direction="IN")
            assert (reply["granted"], reply["reason"]) == (True, "ok"), reply
        ack = await upload(offline, "up-2", [event(2, lobby_in, scanned, server_now(first))])
        assert (ack["stored"], ack["duplicates"]) == (1, 0), ack
    assert [summary(e) for e in await stored_events(admin)] == [
        ("ok", "GRANTED", "Alice Li", lobby_in, True),
        ("replayed", "DENIED", "Alice Li", eng, False),
        ("ok", "GRANTED", "Alice Li", eng, False),
        ("replayed", "DENIED", "Alice Li", lobby_in, True),
    ]
    assert [a["deviceId"] for a in await alerts(admin)] == [b_id]
