"""The shortest real path: a phone binds, a gate scans, the door opens."""

from __future__ import annotations

from tests.harness import Demo, Gate, GraphQLClient, Phone, ServerProcess


async def test_granted_scan_opens_the_gate(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    alice = await api.login("alice", demo.passwords["alice"])
    phone = Phone()
    await phone.bind(alice)
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        lobby_in = demo.gates["Lobby turnstile in"]
        reply = await gate.scan(lobby_in, phone.token())
        assert reply["granted"] is True
        assert reply["reason"] == "ok"
        assert reply["person"] == {"displayName": "Alice Li"}
        assert reply["open"]["gateId"] == lobby_in
    finally:
        await gate.close()
