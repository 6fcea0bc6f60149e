"""A token opens a door once; only the device's retry of the same scan repeats an answer.

DEVICE_PROTOCOL.md: an answer is repeated only when the device's `ref` AND `credential` both
match a scan already answered (also across a reconnect); a ref reused with another credential is
decided afresh. PASS_TOKEN.md: any other repeat of a used (cid, step), at the same gate too, is
`replayed`, opens nothing and is recorded. And two HARD anti-passback entries of one person at
two IN gates at the same moment let exactly one in (one server here, the memory state; two
servers sharing Redis under CI=true).

Real servers, real device websockets, stored events read back through GraphQL.
"""

from __future__ import annotations

import asyncio
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken

from tests.harness import Demo, Gate, GraphQLClient, Phone, ServerProcess, Site
from tests.test_scan_e2e import (
    ENGINEERING,
    LOBBY_IN,
    LOBBY_OUT,
    access_log,
    assert_denied,
    assert_granted,
    bound_phone,
    connected,
    event_log,
    login,
    register_device,
    settle_into_step,
)

CREATE_GATE = """
mutation CreateGate($input: CreateGateInput!) {
  createGate(input: $input) { gate { id } errors { code message field } }
}
"""


def forged(phone: Phone, at: float) -> str:
    """A token naming the phone's credential and the current step, signed with another key."""
    assert phone.cid is not None
    return passtoken.sign(phone.cid, passtoken.current_step(at, 15), Ed25519PrivateKey.generate())


async def test_reused_ref_with_another_credential_is_decided_afresh_also_after_reconnect(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    bob, bob_phone = await bound_phone(api, demo, "bob")
    admin = await login(api, demo, "admin")
    lobby_in, eng = demo.gates[LOBBY_IN], demo.gates[ENGINEERING]
    t0 = await settle_into_step()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(lobby_in, phone.token(at=t0), ref="r-1"), lobby_in, "Alice Li")
        # The ref again, with a forged token: never Alice's remembered answer.
        assert_denied(await gate.scan(lobby_in, forged(phone, t0), ref="r-1"), "bad_signature")
    # The device restarts its counter: the shared memory of answers must not answer either.
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_denied(await gate.scan(lobby_in, forged(phone, t0), ref="r-1"), "bad_signature")
        assert_denied(await gate.scan(eng, bob_phone.token(at=t0), "IN", ref="r-1"), "no_access")

    events = await event_log(admin)
    assert [(e["decision"], e["reason"], (e["person"] or {}).get("displayName")) for e in events] == [
        ("DENIED", "no_access", "Bob Wang"),
        ("DENIED", "bad_signature", None),
        ("DENIED", "bad_signature", None),
        ("GRANTED", "ok", "Alice Li"),
    ], "each afresh decision is its own event; a forged token names nobody"
    assert [e["reason"] for e in await access_log(alice)] == ["ok"]
    assert [e["reason"] for e in await access_log(bob)] == ["no_access"]


async def test_retry_of_the_same_scan_after_a_reconnect_repeats_the_answer_and_records_nothing(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    lobby_in = demo.gates[LOBBY_IN]
    token = phone.token()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        first = await gate.scan(lobby_in, token, ref="lost-reply")
        assert_granted(first, lobby_in, "Alice Li")
    before = await event_log(admin)
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert await gate.scan(lobby_in, token, ref="lost-reply") == first
    assert await event_log(admin) == before
    assert [e["reason"] for e in await access_log(alice)] == ["ok"]


async def test_a_retry_sent_while_the_first_is_being_decided_gets_the_same_answer_once(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    lobby_in = demo.gates[LOBBY_IN]
    frame = json.dumps({"type": "scan", "ref": "twice", "gateId": lobby_in, "credential": phone.token()})
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        await gate.send(frame)
        await gate.send(frame)
        first, second = await gate.recv_type("decision"), await gate.recv_type("decision")
    assert first == second
    assert_granted(first, lobby_in, "Alice Li")
    assert [(e["decision"], e["reason"]) for e in await access_log(alice)] == [("GRANTED", "ok")]


async def test_a_copied_token_at_the_same_gate_from_another_device_is_replayed_and_recorded(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    alice, phone = await bound_phone(api, demo, "alice")
    admin = await login(api, demo, "admin")
    lobby_out = demo.gates[LOBBY_OUT]
    second_id, second_secret = await register_device(admin, "Second scanner", [lobby_out])
    token = phone.token()
    async with (
        connected(server, demo.device_id, demo.device_secret) as gate,
        connected(server, second_id, second_secret) as other,
    ):
        assert_granted(await gate.scan(lobby_out, token, ref="same-ref"), lobby_out, "Alice Li")
        # Another device happens to use the same ref: it is still a copy, not a retry.
        assert_denied(await other.scan(lobby_out, token, ref="same-ref"), "replayed")
        assert_denied(await gate.scan(lobby_out, token, ref="another-ref"), "replayed")
    log = await access_log(alice)
    assert [(e["decision"], e["reason"], e["gate"]["id"]) for e in log] == [
        ("DENIED", "replayed", lobby_out),
        ("DENIED", "replayed", lobby_out),
        ("GRANTED", "ok", lobby_out),
    ]


# --- two HARD anti-passback entries at the same moment ----------------------------------------

RACERS = ("alice", "carol", "bob", "dave", "fiona")


async def race_hard_entries(site: Site, first: ServerProcess, second: ServerProcess) -> None:
    """Each racer shows two tokens at once at two IN gates of the HARD Lobby (one per server):
    exactly one lets them in, the other is refused `anti_passback`; then they leave."""
    demo = site.demo
    assert demo is not None
    api = GraphQLClient(first)
    admin = await login(api, demo, "admin")
    async with connected(first, demo.device_id, demo.device_secret) as probe:
        lobby = next(g["zoneId"] for g in probe.welcome["gates"] if g["id"] == demo.gates[LOBBY_IN])
    created = await admin.ok(CREATE_GATE, {"input": {"name": "Lobby turnstile 2", "zoneId": lobby, "direction": "IN"}})
    assert created["createGate"]["errors"] == [], created
    lobby_in_2 = created["createGate"]["gate"]["id"]
    lobby_in, lobby_out = demo.gates[LOBBY_IN], demo.gates[LOBBY_OUT]
    device_2, secret_2 = await register_device(admin, "Turnstile 2 scanner", [lobby_in_2])
    phones = {name: (await bound_phone(api, demo, name))[1] for name in RACERS}
    gate_1 = await Gate(first, demo.device_id, demo.device_secret).connect()
    gate_2 = await Gate(second, device_2, secret_2).connect()
    try:
        t0 = await settle_into_step()
        frames = [
            (gate_1, {"type": "scan", "ref": f"{name}-a", "gateId": lobby_in, "credential": phones[name].token(at=t0)})
            for name in RACERS
        ] + [
            (
                gate_2,
                {
                    "type": "scan",
                    "ref": f"{name}-b",
                    "gateId": lobby_in_2,
                    "credential": phones[name].token(at=t0, step_offset=1),
                },
            )
            for name in RACERS
        ]
        # Each racer's two scans go out together, one to each server, before any answer is read.
        for name in RACERS:
            await asyncio.gather(*(gate.send(frame) for gate, frame in frames if frame["ref"].startswith(name + "-")))
        replies = {r["ref"]: r for gate in (gate_1, gate_2) for r in [await gate.recv_type("decision") for _ in RACERS]}
        races = [(replies[f"{name}-a"], replies[f"{name}-b"]) for name in RACERS]
        for name, race in zip(RACERS, races, strict=True):
            outcomes = sorted((r["granted"], r["reason"]) for r in race)
            assert outcomes == [(False, "anti_passback"), (True, "ok")], (name, race)
        # Whoever got in is inside once: they leave, and may enter again.
        for name in RACERS:
            assert (await gate_1.scan(lobby_out, phones[name].token(at=t0, step_offset=-1)))["granted"] is True
    finally:
        await gate_1.close()
        await gate_2.close()


async def test_two_hard_entries_at_once_let_one_in_on_one_server(sqlite_site: Site) -> None:
    server = sqlite_site.start_server()
    await race_hard_entries(sqlite_site, server, server)


async def test_two_hard_entries_at_once_on_two_servers_sharing_redis_let_one_in(scale_site: Site) -> None:
    first, second = scale_site.servers
    await race_hard_entries(scale_site, first, second)
