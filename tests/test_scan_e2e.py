"""End to end: phones, gate devices and guards against a real server (DEVICE_PROTOCOL.md,
PASS_TOKEN.md, README "Meaning" and "Policy details").

Every test gets a fresh demo site served by a real `gatehouse serve` process. Gates
talk the device WebSocket protocol (`Gate`), phones sign GH1 tokens (`Phone`), and
the guard watches `gateEvents` over graphql-transport-ws with a real `gql` client.
Stored events are read back through GraphQL (`gateEvents`, `me { accessLog }`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken
from websockets.exceptions import ConnectionClosed

from api.demo import make_prc_id
from tests.harness import Demo, Gate, GraphQLClient, GuardFeed, Phone, ServerProcess, commission_device

# ---------------------------------------------------------------------------
# Demo site facts
# ---------------------------------------------------------------------------

LOBBY_IN = "Lobby turnstile in"
LOBBY_OUT = "Lobby turnstile out"
ENGINEERING = "Engineering door"
FINANCE = "Finance door"
MANAGEMENT = "Management door"
MAINTENANCE = "Maintenance door"

# Index of each demo person in api/demo.py's staff list (their ID number depends on it).
DEMO_STAFF_INDEX = {"admin": 0, "security": 1, "hr": 2, "guard": 3, "alice": 4, "carol": 5, "bob": 6, "dave": 7}
PERIOD = passtoken.DEFAULT_PERIOD


def demo_id_number(username: str) -> str:
    i = DEMO_STAFF_INDEX[username]
    return make_prc_id("110101", f"19{80 + i}0101", f"{100 + i:03d}")


# ---------------------------------------------------------------------------
# GraphQL documents (the contract's, exactly as the apps send them)
# ---------------------------------------------------------------------------

REMOTE_OPEN = """
mutation RemoteOpen($gateId: ID!, $reason: String!) {
  remoteOpen(gateId: $gateId, reason: $reason) { event { id method } errors { code message } }
}
"""

RECORD_MANUAL_ENTRY = """
mutation RecordManualEntry($input: ManualEntryInput!) {
  recordManualEntry(input: $input) {
    event { id method decision direction person { id displayName } }
    errors { code message field }
  }
}
"""

OFFBOARD_EMPLOYEE = """
mutation OffboardEmployee($id: ID!) {
  offboardEmployee(id: $id) { employee { id status } errors { code message field } }
}
"""

REGISTER_DEVICE = """
mutation RegisterDevice($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { device { id name kind } deviceSecret errors { code message field } }
}
"""

MY_ACCESS_LOG = """
query MyAccessLog($first: Int!, $after: String) {
  me {
    accessLog(first: $first, after: $after) {
      edges { cursor node { id at decision reason direction gate { id name } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

GATE_EVENT_LOG = """
query GateEventLog($first: Int!, $after: String, $zoneId: ID, $gateId: ID, $personId: ID) {
  gateEvents(first: $first, after: $after, zoneId: $zoneId, gateId: $gateId, personId: $personId) {
    edges { cursor node { id at decision reason method direction offline gate { id name } person { id displayName } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

DEVICE_ALERT_LOG = """
query DeviceAlertLog($first: Int!) {
  deviceAlerts(first: $first) { id at kind message deviceId gateId }
}
"""

PEOPLE = "query { people(first: 50) { edges { node { id username displayName } } } }"

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


async def login(api: GraphQLClient, demo: Demo, username: str) -> GraphQLClient:
    """The demo user (signed in once, on the session's template)."""
    return GraphQLClient(api.server, demo=demo, as_=username)


async def person_ids(admin: GraphQLClient) -> dict[str, str]:
    """username → person id, as an operator sees them."""
    data = await admin.ok(PEOPLE)
    return {e["node"]["username"]: e["node"]["id"] for e in data["people"]["edges"]}


async def event_log(
    staff: GraphQLClient, *, gate_id: str | None = None, person_id: str | None = None
) -> list[dict[str, Any]]:
    """The stored gate events (newest first), as gate staff read them."""
    data = await staff.ok(GATE_EVENT_LOG, {"first": 100, "gateId": gate_id, "personId": person_id})
    assert data["gateEvents"]["pageInfo"]["hasNextPage"] is False, "more events than one page: test is too chatty"
    return [e["node"] for e in data["gateEvents"]["edges"]]


async def access_log(person: GraphQLClient) -> list[dict[str, Any]]:
    """The signed-in person's own passages (newest first)."""
    data = await person.ok(MY_ACCESS_LOG, {"first": 100})
    return [e["node"] for e in data["me"]["accessLog"]["edges"]]


async def device_alerts(staff: GraphQLClient) -> list[dict[str, Any]]:
    data = await staff.ok(DEVICE_ALERT_LOG, {"first": 10})
    alerts: list[dict[str, Any]] = data["deviceAlerts"]
    return alerts


async def register_device(
    admin: GraphQLClient, name: str, gate_ids: list[str], commission: bool = True
) -> tuple[str, str]:
    """A second gate device serving only `gate_ids`, commissioned as an installer would (unless
    told not to): (device id, secret)."""
    data = await admin.ok(REGISTER_DEVICE, {"input": {"name": name, "kind": "QR_SCANNER", "gateIds": gate_ids}})
    payload = data["registerDevice"]
    assert payload["errors"] == [], payload
    if commission:
        await commission_device(admin, payload["device"]["id"], payload["deviceSecret"], gate_ids[0])
    return payload["device"]["id"], payload["deviceSecret"]


async def bound_phone(api: GraphQLClient, demo: Demo, username: str) -> tuple[GraphQLClient, Phone]:
    """The person signed in, with a freshly bound phone."""
    client = await login(api, demo, username)
    phone = Phone()
    await phone.bind(client)
    return client, phone


@contextlib.asynccontextmanager
async def connected(server: ServerProcess, device_id: str, secret: str) -> AsyncIterator[Gate]:
    gate = await Gate(server, device_id, secret).connect()
    try:
        yield gate
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(gate.close(), 5)


async def settle_into_step(server: ServerProcess | None = None, min_left: float = 8.0) -> float:
    """Now, at the start of a step: the server's clock moves just past the next step boundary.

    Tokens of steps −1, 0 and +1 are all accepted only while the current step lasts; a test
    that uses the step before must not straddle a boundary, however slow the machine is.
    Without a server (on the test's clock), it waits for the next step if fewer than `min_left`
    seconds of this one remain.
    """
    if server is not None:
        assert server.clock is not None
        return server.clock.start_of_step(PERIOD)
    now = time.time()
    left = PERIOD - (now % PERIOD)
    if left < min_left:
        await asyncio.sleep(left + 0.05)  # the real clock: only for servers not on a test clock
        now = time.time()
    return now


def decision_of(reply: dict[str, Any]) -> tuple[bool, str]:
    assert reply["type"] == "decision", reply
    return reply["granted"], reply["reason"]


def assert_denied(reply: dict[str, Any], reason: str) -> None:
    """A denied decision: the reason, and nothing opened, nobody named."""
    assert reply["type"] == "decision", reply
    assert reply["granted"] is False, reply
    assert reply["reason"] == reason, reply
    assert "open" not in reply, reply
    assert "person" not in reply, reply


def assert_granted(reply: dict[str, Any], gate_id: str, display_name: str, reason: str = "ok") -> None:
    assert reply["type"] == "decision", reply
    assert reply["granted"] is True, reply
    assert reply["reason"] == reason, reply
    assert reply["person"] == {"displayName": display_name}, reply
    assert reply["open"] == {"gateId": gate_id, "durationMs": 3000}, reply


async def expect_close(ws: Any, timeout: float) -> int | None:
    """Read until the server closes the socket; its close code."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    code: int | None = ws.close_code
    return code


async def recv_error(gate: Gate, timeout: float = 10) -> dict[str, Any]:
    frame = await gate.recv_type("error", timeout)
    assert frame["code"] == "bad_message", frame
    assert isinstance(frame["message"], str) and frame["message"], frame
    return frame


# Frames the device gets only in answer to something it sent (the server may push others,
# such as commands or snapshots, at any time).
REPLY_TYPES = frozenset({"decision", "error"})


async def recv_reply(gate: Gate, timeout: float = 10) -> dict[str, Any]:
    """The next decision or error frame; other frames are kept in `gate.pending`."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await gate.recv(timeout)
            if frame.get("type") in REPLY_TYPES:
                return frame
            gate.pending.append(frame)


def stray_replies(gate: Gate) -> list[dict[str, Any]]:
    """Decision or error frames set aside while waiting for something else."""
    return [f for f in gate.pending if f.get("type") in REPLY_TYPES]


async def assert_no_reply(gate: Gate, within: float) -> None:
    """No decision or error frame arrives within `within` seconds."""
    with contextlib.suppress(TimeoutError):
        frame = await recv_reply(gate, within)
        raise AssertionError(f"unexpected frame {frame}")
    assert stray_replies(gate) == [], gate.pending


def scan_frame_of_size(size: int, ref: str, gate_id: str) -> str:
    """A scan frame of exactly `size` bytes (the credential is padding)."""
    frame = {"type": "scan", "ref": ref, "gateId": gate_id, "credential": ""}
    pad = size - len(json.dumps(frame))
    frame["credential"] = "A" * pad
    text = json.dumps(frame)
    assert len(text.encode()) == size
    return text


async def run_with_timeout(coro: Awaitable[Any], timeout: float = 20) -> Any:
    return await asyncio.wait_for(coro, timeout)


# ---------------------------------------------------------------------------
# 1–3: granted, replayed, the same token again
# ---------------------------------------------------------------------------


async def test_granted_scan_opens_gate_and_reaches_guard_subscription(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    alice_id = (await alice.ok("query { me { id } }"))["me"]["id"]
    guard = await login(api, demo, "guard")
    lobby_in = demo.gates[LOBBY_IN]
    async with (
        connected(server, demo.device_id, demo.device_secret) as gate,
        GuardFeed(server, guard.token or "") as feed,
    ):
        await feed.ready(gate, demo.gates[MAINTENANCE])

        reply = await gate.scan(lobby_in, phone.token())
        assert_granted(reply, lobby_in, "Alice Li")

        pushed = await feed.next(lambda e: e["gate"]["id"] == lobby_in)
    assert pushed["decision"] == "GRANTED"
    assert pushed["reason"] == "ok"
    assert pushed["method"] == "QR"
    assert pushed["direction"] == "IN"
    assert pushed["gate"] == {"id": lobby_in, "name": LOBBY_IN}
    assert pushed["person"] == {"id": alice_id, "displayName": "Alice Li"}
    assert datetime.fromisoformat(pushed["at"]).tzinfo is not None

    # Stored once, and it is the event the guard saw.
    stored = await access_log(alice)
    assert [(e["id"], e["decision"], e["reason"], e["direction"]) for e in stored] == [
        (pushed["id"], "GRANTED", "ok", "IN")
    ]
    assert stored[0]["gate"] == {"id": lobby_in, "name": LOBBY_IN}


async def test_same_token_at_second_gate_is_replayed(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    token = phone.token()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        first = await gate.scan(demo.gates[LOBBY_IN], token)
        assert_granted(first, demo.gates[LOBBY_IN], "Alice Li")
        again = await gate.scan(demo.gates[ENGINEERING], token, direction="IN")
        assert_denied(again, "replayed")

    replayed = await event_log(admin, gate_id=demo.gates[ENGINEERING])
    assert len(replayed) == 1, replayed
    assert replayed[0]["decision"] == "DENIED"
    assert replayed[0]["reason"] == "replayed"
    assert replayed[0]["method"] == "QR"
    assert replayed[0]["direction"] == "IN"
    # The signature verified, so the refused event is the person's.
    assert replayed[0]["person"]["displayName"] == "Alice Li"
    assert [e["reason"] for e in await access_log(alice)] == ["replayed", "ok"]


async def test_token_refused_by_policy_is_still_used_up(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    bob, phone = await bound_phone(api, demo, "bob")
    token = phone.token()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_denied(await gate.scan(demo.gates[ENGINEERING], token, direction="IN"), "no_access")
        # Its signature verified, so (credential, step) is used, even though the door stayed shut.
        assert_denied(await gate.scan(demo.gates[LOBBY_OUT], token), "replayed")
    assert [(e["reason"], e["gate"]["name"]) for e in reversed(await access_log(bob))] == [
        ("no_access", ENGINEERING),
        ("replayed", LOBBY_OUT),
    ]


async def test_same_token_at_same_gate_under_another_ref_is_replayed(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    # PASS_TOKEN.md (changed): any repeat of a used (cid, step) other than the device's retry of
    # the same scan is `replayed`, at the same gate too: a shared screenshot admits nobody.
    alice, phone = await bound_phone(api, demo, "alice")
    lobby_in = demo.gates[LOBBY_IN]
    token = phone.token()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        first = await gate.scan(lobby_in, token)
        assert_granted(first, lobby_in, "Alice Li")
        second = await gate.scan(lobby_in, token)
        assert second["ref"] != first["ref"]
        assert_denied(second, "replayed")
    log = await access_log(alice)
    assert [(e["decision"], e["reason"]) for e in log] == [("DENIED", "replayed"), ("GRANTED", "ok")]


async def test_already_answered_ref_gets_same_decision_and_records_nothing(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    lobby_in = demo.gates[LOBBY_IN]
    t0 = time.time()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        first = await gate.scan(lobby_in, phone.token(at=t0), ref="resend-1")
        assert_granted(first, lobby_in, "Alice Li")
        before = await event_log(admin)

        # The device resends ref "resend-1" with the same token (say, after a lost reply).
        resent = await gate.scan(lobby_in, phone.token(at=t0), ref="resend-1")
        assert resent == first
        assert await event_log(admin) == before

        # DEVICE_PROTOCOL.md (changed): the ref reused with another credential is a new scan,
        # decided afresh and recorded.
        reused = await gate.scan(demo.gates[ENGINEERING], phone.token(at=t0, step_offset=1), "IN", ref="resend-1")
        assert_granted(reused, demo.gates[ENGINEERING], "Alice Li")
    assert [e["reason"] for e in await access_log(alice)] == ["ok", "ok"]


# ---------------------------------------------------------------------------
# 4–6: tokens that fail verification or belong to a dead credential
# ---------------------------------------------------------------------------


async def test_unverified_tokens_are_denied_without_naming_anyone(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    lobby_in = demo.gates[LOBBY_IN]
    assert phone.cid is not None
    step = passtoken.current_step(time.time(), PERIOD)
    cases = [
        ("expired", phone.token(step_offset=-3)),
        ("not_yet_valid", phone.token(step_offset=3)),
        ("malformed", phone.token()[:-1]),
        ("malformed", "GH1:" + phone.cid + ":1:AAAA"),
        ("bad_signature", passtoken.sign(phone.cid, step, Ed25519PrivateKey.generate())),
        ("unknown_credential", passtoken.sign(passtoken.new_cid(), step, Ed25519PrivateKey.generate())),
    ]
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        for reason, token in cases:
            assert_denied(await gate.scan(lobby_in, token), reason)

    stored = await event_log(admin, gate_id=lobby_in)
    assert [(e["decision"], e["reason"]) for e in reversed(stored)] == [("DENIED", r) for r, _ in cases]
    assert all(e["person"] is None for e in stored), stored
    assert all(e["method"] == "QR" and e["direction"] == "IN" for e in stored), stored
    # Anyone can type Alice's credential id: none of it lands in her log.
    assert await access_log(alice) == []


async def test_superseded_phone_token_is_revoked(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    alice, old_phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    new_phone = Phone()
    await new_phone.bind(alice, "new phone")
    status = (await alice.ok("query { me { pass { credentialId status } } }"))["me"]["pass"]
    assert status == {"credentialId": new_phone.cid, "status": "ACTIVE"}

    lobby_in = demo.gates[LOBBY_IN]
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_denied(await gate.scan(lobby_in, old_phone.token()), "revoked")
        assert_granted(await gate.scan(lobby_in, new_phone.token()), lobby_in, "Alice Li")

    stored = await event_log(admin, gate_id=lobby_in)
    assert [(e["reason"], e["person"]["displayName"]) for e in reversed(stored)] == [
        ("revoked", "Alice Li"),  # the old phone's signature verifies: it is Alice's refused scan
        ("ok", "Alice Li"),
    ]


async def test_revoked_event_names_person_only_when_signature_verifies(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, old_phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    await Phone().bind(alice, "new phone")
    assert old_phone.cid is not None
    step = passtoken.current_step(time.time(), PERIOD)
    forged = passtoken.sign(old_phone.cid, step, Ed25519PrivateKey.generate())
    lobby_in = demo.gates[LOBBY_IN]
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_denied(await gate.scan(lobby_in, forged), "revoked")
    stored = await event_log(admin, gate_id=lobby_in)
    assert [(e["reason"], e["person"]) for e in stored] == [("revoked", None)]
    assert await access_log(alice) == []


async def test_offboarded_employee_is_revoked_at_the_very_next_scan(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    _alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    alice_id = (await person_ids(admin))["alice"]
    lobby_in = demo.gates[LOBBY_IN]
    t0 = await settle_into_step(server)  # uses the step before: must not straddle a boundary
    token = phone.token(at=t0)
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(lobby_in, token), lobby_in, "Alice Li")

        data = await admin.ok(OFFBOARD_EMPLOYEE, {"id": alice_id})
        assert data["offboardEmployee"] == {"employee": {"id": alice_id, "status": "OFFBOARDED"}, "errors": []}

        # The same token at the same gate no longer repeats the earlier grant.
        assert_denied(await gate.scan(lobby_in, token), "revoked")
        # Nor does a fresh token on the way in; on the way out she is let go (she is inside),
        # flagged; once out, the pass is dead everywhere.
        assert_granted(
            await gate.scan(demo.gates[LOBBY_OUT], phone.token(at=t0, step_offset=1)),
            demo.gates[LOBBY_OUT],
            "Alice Li",
            "exit_after_revocation",
        )
        assert_denied(await gate.scan(demo.gates[LOBBY_OUT], phone.token(at=t0, step_offset=-1)), "revoked")

    stored = await event_log(admin, person_id=alice_id)
    assert [(e["decision"], e["reason"], e["gate"]["name"]) for e in reversed(stored)] == [
        ("GRANTED", "ok", LOBBY_IN),
        ("DENIED", "revoked", LOBBY_IN),
        ("GRANTED", "exit_after_revocation", LOBBY_OUT),
        ("DENIED", "revoked", LOBBY_OUT),
    ]


# ---------------------------------------------------------------------------
# 7–9: zone policy (grants, anti-passback, leaving)
# ---------------------------------------------------------------------------


async def test_grants_open_own_zone_and_ancestors_but_not_siblings(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    _bob, bob_phone = await bound_phone(api, demo, "bob")
    _dave, dave_phone = await bound_phone(api, demo, "dave")
    admin = await login(api, demo, "admin")
    eng, lobby_in = demo.gates[ENGINEERING], demo.gates[LOBBY_IN]
    t0 = await settle_into_step(server)  # uses the step before: must not straddle a boundary
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        # Finance's grant does not reach the Engineering office (a sibling).
        assert_denied(await gate.scan(eng, bob_phone.token(at=t0), direction="IN"), "no_access")
        # Dave's Maintenance grant opens the way in: the Lobby, its ancestor…
        assert_granted(await gate.scan(lobby_in, dave_phone.token(at=t0)), lobby_in, "Dave Zhou")
        # …and his own zone, but never a sibling.
        maint = demo.gates[MAINTENANCE]
        assert_granted(await gate.scan(maint, dave_phone.token(at=t0, step_offset=1)), maint, "Dave Zhou")
        assert_denied(await gate.scan(eng, dave_phone.token(at=t0, step_offset=-1), direction="IN"), "no_access")

    at_eng = await event_log(admin, gate_id=eng)
    assert [(e["decision"], e["reason"], e["person"]["displayName"]) for e in reversed(at_eng)] == [
        ("DENIED", "no_access", "Bob Wang"),
        ("DENIED", "no_access", "Dave Zhou"),
    ]


async def test_hard_anti_passback_refuses_second_entry_until_exit(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    lobby_in, lobby_out = demo.gates[LOBBY_IN], demo.gates[LOBBY_OUT]
    t0 = await settle_into_step(server)  # uses the step before: must not straddle a boundary
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(lobby_in, phone.token(at=t0)), lobby_in, "Alice Li")
        assert_denied(await gate.scan(lobby_in, phone.token(at=t0, step_offset=1)), "anti_passback")
        assert_granted(await gate.scan(lobby_out, phone.token(at=t0, step_offset=-1)), lobby_out, "Alice Li")
        # Steps −1, 0 and +1 of this phone are used up; a new phone continues the same person's presence.
        new_phone = Phone()
        await new_phone.bind(alice, "new phone")
        assert_granted(await gate.scan(lobby_in, new_phone.token(at=t0)), lobby_in, "Alice Li")

    log = await access_log(alice)
    assert [(e["decision"], e["reason"], e["direction"], e["gate"]["name"]) for e in reversed(log)] == [
        ("GRANTED", "ok", "IN", LOBBY_IN),
        ("DENIED", "anti_passback", "IN", LOBBY_IN),
        ("GRANTED", "ok", "OUT", LOBBY_OUT),
        ("GRANTED", "ok", "IN", LOBBY_IN),
    ]


async def test_soft_anti_passback_grants_second_entry_flagged(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    carol, phone = await bound_phone(api, demo, "carol")
    mgmt = demo.gates[MANAGEMENT]
    t0 = time.time()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(mgmt, phone.token(at=t0)), mgmt, "Carol Chen")
        assert_granted(
            await gate.scan(mgmt, phone.token(at=t0, step_offset=1)), mgmt, "Carol Chen", reason="anti_passback_soft"
        )
    log = await access_log(carol)
    assert [(e["decision"], e["reason"]) for e in reversed(log)] == [
        ("GRANTED", "ok"),
        ("GRANTED", "anti_passback_soft"),
    ]


async def test_leaving_needs_no_grant(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    bob, phone = await bound_phone(api, demo, "bob")
    lobby_out = demo.gates[LOBBY_OUT]
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(lobby_out, phone.token()), lobby_out, "Bob Wang")
    log = await access_log(bob)
    assert [(e["decision"], e["reason"], e["direction"], e["gate"]["id"]) for e in log] == [
        ("GRANTED", "ok", "OUT", lobby_out)
    ]


# ---------------------------------------------------------------------------
# 10–12: device-side mistakes and bad input
# ---------------------------------------------------------------------------


async def test_both_gate_scan_without_direction_gets_error_frame_and_no_event(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    eng = demo.gates[ENGINEERING]
    token = phone.token()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        await gate.send({"type": "scan", "ref": "both-1", "gateId": eng, "credential": token})
        error = await recv_error(gate)
        assert error["ref"] == "both-1"
        assert stray_replies(gate) == [], gate.pending  # no decision came with it
        assert await event_log(admin) == []

        # Nothing was used or remembered: the device may retry the same ref, now with a direction.
        assert_granted(await gate.scan(eng, token, direction="IN", ref="both-1"), eng, "Alice Li")
    assert [(e["reason"], e["direction"]) for e in await access_log(alice)] == [("ok", "IN")]


async def test_unknown_gate_and_foreign_gate_are_denied_with_device_alert_and_no_event(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    finance_only_id, finance_only_secret = await register_device(admin, "Finance scanner", [demo.gates[FINANCE]])
    t0 = time.time()
    async with (
        connected(server, demo.device_id, demo.device_secret) as lobby_scanner,
        connected(server, finance_only_id, finance_only_secret) as finance_scanner,
    ):
        assert [g["id"] for g in finance_scanner.welcome["gates"]] == [demo.gates[FINANCE]]
        assert_denied(await lobby_scanner.scan("999999", phone.token(at=t0)), "gate_unknown")
        assert_denied(
            await finance_scanner.scan(demo.gates[ENGINEERING], phone.token(at=t0, step_offset=1), direction="IN"),
            "not_your_gate",
        )
        # Gate checks come before the token: neither token was used.
        eng = demo.gates[ENGINEERING]
        assert_granted(await lobby_scanner.scan(eng, phone.token(at=t0), direction="IN"), eng, "Alice Li")

    # (and the finance scanner's commissioning test scan, before it was in service)
    assert [e["reason"] for e in await event_log(admin)] == ["ok", "device_not_in_service"]
    assert [e["reason"] for e in await access_log(alice)] == ["ok"]
    alerts = await device_alerts(admin)
    by_kind = {a["kind"]: a for a in alerts}
    assert [a["kind"] for a in alerts].count("gate_unknown") == 1, alerts
    assert [a["kind"] for a in alerts].count("not_your_gate") == 1, alerts
    assert by_kind["gate_unknown"]["deviceId"] == demo.device_id
    assert by_kind["gate_unknown"]["gateId"] is None
    assert by_kind["not_your_gate"]["deviceId"] == finance_only_id
    assert by_kind["not_your_gate"]["gateId"] == demo.gates[ENGINEERING]


async def test_bad_frames_get_error_frames_and_connection_stays_up(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, alice_phone = await bound_phone(api, demo, "alice")
    _bob, bob_phone = await bound_phone(api, demo, "bob")
    admin = await login(api, demo, "admin")
    lobby_in, finance = demo.gates[LOBBY_IN], demo.gates[FINANCE]
    finance_id, finance_secret = await register_device(admin, "Finance scanner", [finance])
    t0 = time.time()

    bad_frames: list[tuple[str | bytes, str | None]] = [
        ("this is not JSON {", None),
        (b"\xff\xfe not utf-8", None),  # a binary frame that is not even UTF-8
        (json.dumps(["a", "list"]), None),
        (json.dumps({"type": "teleport", "ref": "bad-type"}), "bad-type"),
        (json.dumps({"ref": "no-type", "gateId": lobby_in}), "no-type"),
        (json.dumps({"type": "scan", "ref": "no-cred", "gateId": lobby_in}), "no-cred"),
        (json.dumps({"type": "scan", "ref": "int-gate", "gateId": 1, "credential": "x"}), "int-gate"),
        (json.dumps({"type": "door", "ref": "bad-door", "gateId": lobby_in, "state": "exploded"}), "bad-door"),
    ]

    async def misbehave(gate: Gate) -> None:
        for raw, ref in bad_frames:
            await gate.send(raw)
            error = await recv_error(gate)
            assert error["ref"] == ref, (raw[:80], error)
        # Over 64 KiB, and about 1 MiB: refused the same way.
        for size in (64 * 1024 + 1, 1_000_000):
            await gate.send(scan_frame_of_size(size, f"big-{size}", lobby_in))
            await recv_error(gate, timeout=20)

    async def keep_scanning(gate: Gate) -> None:
        for offset in (0, 1):
            reply = await gate.scan(
                finance, bob_phone.token(at=t0, step_offset=offset), direction=("IN", "OUT")[offset]
            )
            assert_granted(reply, finance, "Bob Wang")

    async with (
        connected(server, demo.device_id, demo.device_secret) as lobby_scanner,
        connected(server, finance_id, finance_secret) as finance_scanner,
    ):
        # Another device keeps working while this one sends garbage.
        await run_with_timeout(asyncio.gather(misbehave(lobby_scanner), keep_scanning(finance_scanner)), 60)
        assert stray_replies(lobby_scanner) == [], lobby_scanner.pending

        # The misbehaving device's connection is still up and serves a real scan.
        assert_granted(await lobby_scanner.scan(lobby_in, alice_phone.token(at=t0)), lobby_in, "Alice Li")

    # None of the bad frames became an event.
    assert [e["reason"] for e in await access_log(alice)] == ["ok"]
    # Bob's two passages, Alice's, and the finance scanner's commissioning test scan.
    assert len(await event_log(admin)) == 4


async def test_oversized_scan_frame_error_echoes_its_ref(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        await gate.send(scan_frame_of_size(70_000, "big-ref", demo.gates[LOBBY_IN]))
        error = await recv_error(gate)
        assert error["ref"] == "big-ref", error


async def test_credential_with_trailing_newline_gets_error_frame(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    lobby_in = demo.gates[LOBBY_IN]
    token = phone.token()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        await gate.send({"type": "scan", "ref": "nl-1", "gateId": lobby_in, "credential": token + "\n"})
        reply = await recv_reply(gate)
        assert reply["type"] == "error", reply
        assert reply["code"] == "bad_message"
        assert reply["ref"] == "nl-1"
        assert await event_log(admin) == []
        # The connection stays up and the clean token still works.
        assert_granted(await gate.scan(lobby_in, token), lobby_in, "Alice Li")
    assert [e["reason"] for e in await access_log(alice)] == ["ok"]


async def test_credential_with_surrounding_whitespace_never_opens(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    """Whatever the server answers, a token with whitespace around it is not a token."""
    alice, phone = await bound_phone(api, demo, "alice")
    lobby_in = demo.gates[LOBBY_IN]
    token = phone.token()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        for n, dirty in enumerate((token + "\n", token + "\r\n", " " + token, token + " ", "\t" + token)):
            await gate.send({"type": "scan", "ref": f"ws-{n}", "gateId": lobby_in, "credential": dirty})
            reply = await recv_reply(gate)
            assert reply["ref"] == f"ws-{n}", reply
            assert reply.get("granted") is not True and "open" not in reply, (repr(dirty[-3:]), reply)
        assert_granted(await gate.scan(lobby_in, token), lobby_in, "Alice Li")
    assert [e["decision"] for e in await access_log(alice)] == ["GRANTED"]


# ---------------------------------------------------------------------------
# 13: connection rules
# ---------------------------------------------------------------------------


async def test_no_hello_within_five_seconds_closes_4408(server: ServerProcess, demo: Demo) -> None:
    started = time.monotonic()
    async with websockets.connect(server.ws + "/devices/ws") as ws:
        code = await expect_close(ws, timeout=15)
    assert code == 4408
    assert 4.0 <= time.monotonic() - started < 12


@pytest.mark.parametrize(
    "hello",
    [
        pytest.param({"secret": "wrong"}, id="bad-secret"),
        pytest.param({"deviceId": "999999"}, id="unknown-device"),
        pytest.param({"secret": None}, id="missing-secret"),
        pytest.param({"type": "scan"}, id="not-a-hello"),
    ],
)
async def test_bad_device_credentials_close_4401(server: ServerProcess, demo: Demo, hello: dict[str, Any]) -> None:
    frame = {"type": "hello", "deviceId": demo.device_id, "secret": demo.device_secret, "firmware": "t", **hello}
    frame = {k: v for k, v in frame.items() if v is not None}
    async with websockets.connect(server.ws + "/devices/ws") as ws:
        await ws.send(json.dumps(frame))
        code = await expect_close(ws, timeout=10)
    assert code == 4401


async def test_second_connection_replaces_first_with_4409(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    _alice, phone = await bound_phone(api, demo, "alice")
    lobby_in = demo.gates[LOBBY_IN]
    async with connected(server, demo.device_id, demo.device_secret) as old:
        async with connected(server, demo.device_id, demo.device_secret) as new:
            assert await expect_close(old.ws, timeout=10) == 4409
            assert_granted(await new.scan(lobby_in, phone.token()), lobby_in, "Alice Li")


# ---------------------------------------------------------------------------
# 14–16: guard actions and door alarms
# ---------------------------------------------------------------------------


async def test_remote_open_sends_open_command_and_records_remote_event(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = await login(api, demo, "guard")
    lobby_in = demo.gates[LOBBY_IN]
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        data = await guard.ok(REMOTE_OPEN, {"gateId": lobby_in, "reason": "courier with a trolley"})
        payload = data["remoteOpen"]
        assert payload["errors"] == [], payload
        assert payload["event"]["method"] == "REMOTE"

        command = await gate.recv_type("command")
        while command["command"] != "open":  # the server may send other commands too
            command = await gate.recv_type("command")
        assert command["gateId"] == lobby_in
        assert isinstance(command["id"], str) and command["id"]
        assert command["durationMs"] > 0
        await gate.send({"type": "ack", "id": command["id"]})
        # The ack is taken quietly: no error frame, and the connection carries on.
        await gate.send({"type": "heartbeat", "at": datetime.now(UTC).isoformat(), "stats": {"scans": 0}})
        await assert_no_reply(gate, 0.5)

    stored = await event_log(guard, gate_id=lobby_in)
    assert len(stored) == 1, stored
    event = stored[0]
    assert event["id"] == payload["event"]["id"]
    assert (event["method"], event["decision"], event["reason"]) == ("REMOTE", "GRANTED", "remote_open")
    assert event["person"] is None
    assert event["direction"] is None


async def test_remote_open_on_offline_gate_is_unavailable(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = await login(api, demo, "guard")
    lobby_in = demo.gates[LOBBY_IN]

    async def remote_open() -> dict[str, Any]:
        data = await guard.ok(REMOTE_OPEN, {"gateId": lobby_in, "reason": "test"})
        payload: dict[str, Any] = data["remoteOpen"]
        return payload

    # Never connected.
    payload = await remote_open()
    assert payload["event"] is None
    assert [e["code"] for e in payload["errors"]] == ["UNAVAILABLE"]

    # Connected once, then gone: offline again as soon as the device has disconnected.
    async with connected(server, demo.device_id, demo.device_secret):
        pass
    deadline = time.monotonic() + 5
    online = True
    while online and time.monotonic() < deadline:
        devices = (await guard.ok("query { devices { id online } }"))["devices"]
        online = next(d["online"] for d in devices if d["id"] == demo.device_id)
        await asyncio.sleep(0.05)
    assert online is False
    payload = await remote_open()
    assert payload["event"] is None
    assert [e["code"] for e in payload["errors"]] == ["UNAVAILABLE"]
    assert await event_log(guard) == []


async def test_manual_entry_checks_document_and_applies_access_rules(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = await login(api, demo, "guard")
    admin = await login(api, demo, "admin")
    ids = await person_ids(admin)
    eng = demo.gates[ENGINEERING]
    alice_last4 = demo_id_number("alice")[-4:]
    wrong_last4 = "0000" if alice_last4 != "0000" else "1111"

    def entry(username: str, last4: str) -> dict[str, Any]:
        return {
            "input": {
                "personId": ids[username],
                "gateId": eng,
                "direction": "IN",
                "documentType": "ID_CARD",
                "documentNumberLast4": last4,
                "note": "phone battery dead",
            }
        }

    mismatch = (await guard.ok(RECORD_MANUAL_ENTRY, entry("alice", wrong_last4)))["recordManualEntry"]
    assert mismatch["event"] is None
    assert [(e["code"], e["field"]) for e in mismatch["errors"]] == [("MISMATCH", "documentNumberLast4")]
    assert await event_log(guard) == []

    ok = (await guard.ok(RECORD_MANUAL_ENTRY, entry("alice", alice_last4)))["recordManualEntry"]
    assert ok["errors"] == [], ok
    assert {k: v for k, v in ok["event"].items() if k != "id"} == {
        "method": "MANUAL",
        "decision": "GRANTED",
        "direction": "IN",
        "person": {"id": ids["alice"], "displayName": "Alice Li"},
    }

    refused = (await guard.ok(RECORD_MANUAL_ENTRY, entry("bob", demo_id_number("bob")[-4:])))["recordManualEntry"]
    assert refused["errors"] == [], refused
    assert refused["event"]["decision"] == "DENIED"
    assert refused["event"]["method"] == "MANUAL"
    assert refused["event"]["person"] == {"id": ids["bob"], "displayName": "Bob Wang"}

    stored = await event_log(guard, gate_id=eng)
    assert [(e["id"], e["method"], e["decision"], e["reason"], e["person"]["id"]) for e in reversed(stored)] == [
        (ok["event"]["id"], "MANUAL", "GRANTED", "ok", ids["alice"]),
        (refused["event"]["id"], "MANUAL", "DENIED", "no_access", ids["bob"]),
    ]


@pytest.mark.parametrize("state", ["forced", "held_open"])
async def test_door_alarm_reaches_guards_as_event_and_device_alert(
    server: ServerProcess, api: GraphQLClient, demo: Demo, state: str
) -> None:
    guard = await login(api, demo, "guard")
    finance = demo.gates[FINANCE]
    async with (
        connected(server, demo.device_id, demo.device_secret) as gate,
        GuardFeed(server, guard.token or "") as feed,
    ):
        await feed.ready(gate, demo.gates[MAINTENANCE])
        await gate.send({"type": "door", "gateId": finance, "state": state, "at": datetime.now(UTC).isoformat()})
        pushed = await feed.next(lambda e: e["gate"]["id"] == finance)
        # An ordinary door report is stored but is no gate event.
        await gate.send({"type": "door", "gateId": finance, "state": "closed", "at": datetime.now(UTC).isoformat()})
        with pytest.raises(TimeoutError):
            await feed.next(lambda e: e["gate"]["id"] == finance, timeout=1)
        await assert_no_reply(gate, 0.2)  # no error frame for either report

    assert pushed["reason"] == state
    assert (pushed["decision"], pushed["method"], pushed["direction"], pushed["person"]) == (None, None, None, None)
    assert pushed["gate"] == {"id": finance, "name": FINANCE}

    stored = await event_log(guard, gate_id=finance)
    assert [(e["id"], e["reason"], e["decision"]) for e in stored] == [(pushed["id"], state, None)]
    alerts = [a for a in await device_alerts(guard) if a["kind"] == state]
    assert len(alerts) == 1, alerts
    assert alerts[0]["deviceId"] == demo.device_id
    assert alerts[0]["gateId"] == finance
