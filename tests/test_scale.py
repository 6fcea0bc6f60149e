"""Scale mode: PostgreSQL + Redis behind two real server processes.

Every test runs on `scale_site`: the demo site on a fresh PostgreSQL database and a
Redis key prefix of its own, served by two `gatehouse serve` processes
(`site.servers[0]`, `site.servers[1]`). What one process decides, the other must
know: used tokens, who is inside, which process holds a device, gate events, offboarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from graphql import OperationDefinitionNode, parse, print_ast

from tests.harness import REDIS_URL, Demo, Gate, GraphQLClient, Phone, ServerProcess, Site, commission_device

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CONTRACTS = Path(__file__).resolve().parent.parent / "mobile_contracts"


def operation(file: str, name: str) -> str:
    """One named operation of a contract document (the documents hold several)."""
    document = parse((CONTRACTS / file).read_text())
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.name and definition.name.value == name:
            return print_ast(definition)
    raise AssertionError(f"{file} has no operation {name}")


GATE_EVENTS = operation("guard.graphql", "GateEvents")
REMOTE_OPEN = operation("guard.graphql", "RemoteOpen")
REGISTER_DEVICE = operation("console.graphql", "RegisterDevice")
OFFBOARD_EMPLOYEE = operation("console.graphql", "OffboardEmployee")
MY_PASS = operation("employee.graphql", "MyPass")


@pytest.fixture
async def scale_site(scale_site: Site) -> AsyncIterator[Site]:
    """The conftest's scale site; afterwards its servers are stopped and its Redis keys deleted."""
    try:
        yield scale_site
    finally:
        scale_site.stop()
        await delete_redis_keys(scale_site.env["GATEHOUSE_REDIS_PREFIX"])


async def delete_redis_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


def servers_log(site: Site) -> str:
    return "\n".join(f"--- server {i} log\n{server.log()}" for i, server in enumerate(site.servers))


def demo_of(site: Site) -> Demo:
    assert site.demo is not None
    return site.demo


async def login(server: ServerProcess, demo: Demo, username: str) -> GraphQLClient:
    """The demo user (signed in once, on the session's template)."""
    return GraphQLClient(server, demo=demo, as_=username)


async def register_device(admin: GraphQLClient, name: str, gate_ids: list[str]) -> tuple[str, str]:
    """A new device, commissioned as an installer would: (device id, secret)."""
    data = await admin.ok(REGISTER_DEVICE, {"input": {"name": name, "kind": "QR_SCANNER", "gateIds": gate_ids}})
    payload = data["registerDevice"]
    assert payload["errors"] == [], payload
    await commission_device(admin, payload["device"]["id"], payload["deviceSecret"], gate_ids[0])
    return payload["device"]["id"], payload["deviceSecret"]


@contextlib.asynccontextmanager
async def connected(server: ServerProcess, device_id: str, secret: str) -> AsyncIterator[Gate]:
    gate = await Gate(server, device_id, secret).connect()
    try:
        yield gate
    finally:
        await gate.close()


async def bound_phone(client: GraphQLClient) -> Phone:
    phone = Phone()
    await phone.bind(client)
    return phone


def denied(reply: dict[str, Any], reason: str) -> None:
    assert reply["type"] == "decision", reply
    assert reply["granted"] is False, reply
    assert reply["reason"] == reason, reply
    assert "person" not in reply and "open" not in reply, reply


async def test_token_accepted_on_one_process_is_replayed_at_another_gate_on_the_other(scale_site: Site) -> None:
    s0, s1 = scale_site.servers
    demo = demo_of(scale_site)
    lobby_in, eng_door = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]
    phone = await bound_phone(await login(s0, demo, "alice"))
    admin = await login(s1, demo, "admin")
    eng_device, eng_secret = await register_device(admin, "Engineering reader", [eng_door])

    async with connected(s0, demo.device_id, demo.device_secret) as lobby, connected(s1, eng_device, eng_secret) as eng:
        assert [g["id"] for g in eng.welcome["gates"]] == [eng_door]
        token = phone.token()
        first = await lobby.scan(lobby_in, token)
        assert first["granted"] is True and first["reason"] == "ok", first
        second = await eng.scan(eng_door, token, direction="IN")
        denied(second, "replayed")
        # PASS_TOKEN.md (changed): the same token at the first gate under a new ref is a copy.
        denied(await lobby.scan(lobby_in, token), "replayed")
        # Only the device's retry of the first scan (same ref, same token) gets its decision again.
        assert await lobby.scan(lobby_in, token, ref=first["ref"]) == first


async def test_hard_anti_passback_holds_across_processes(scale_site: Site) -> None:
    s0, s1 = scale_site.servers
    demo = demo_of(scale_site)
    lobby_in = demo.gates["Lobby turnstile in"]
    phone = await bound_phone(await login(s0, demo, "alice"))
    admin = await login(s0, demo, "admin")
    second_device, second_secret = await register_device(admin, "Lobby turnstile 2", [lobby_in])

    async with (
        connected(s0, demo.device_id, demo.device_secret) as gate0,
        connected(s1, second_device, second_secret) as gate1,
    ):
        first = await gate0.scan(lobby_in, phone.token())
        assert first["granted"] is True and first["reason"] == "ok", first
        second = await gate1.scan(lobby_in, phone.token(step_offset=1))
        denied(second, "anti_passback")


async def test_guard_subscribed_on_one_process_sees_scans_on_the_other(scale_site: Site) -> None:
    s0, s1 = scale_site.servers
    demo = demo_of(scale_site)
    lobby_in = demo.gates["Lobby turnstile in"]
    phone = await bound_phone(await login(s0, demo, "alice"))
    guard = await login(s1, demo, "guard")

    transport = WebsocketsTransport(
        url=s1.ws + "/graphql",
        init_payload={"authorization": f"Bearer {guard.token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async with Client(transport=transport) as session, connected(s0, demo.device_id, demo.device_secret) as gate:
        assert transport.subprotocol == "graphql-transport-ws"

        async def consume() -> None:
            async for result in session.subscribe(GraphQLRequest(GATE_EVENTS, variable_values={})):
                await events.put(result["gateEvents"])

        consumer = asyncio.create_task(consume())
        try:
            # The subscription is live once it sees a scan; until then, keep scanning garbage.
            for _ in range(50):
                if consumer.done():  # refused or ended: say why, with what the servers logged
                    raise AssertionError(f"the subscription ended: {consumer.exception()}\n{servers_log(scale_site)}")
                await gate.scan(lobby_in, "not-a-pass")
                with contextlib.suppress(TimeoutError):
                    warmup = await asyncio.wait_for(events.get(), 0.2)
                    break
            else:
                raise AssertionError("the guard's subscription on server 1 never saw a scan made on server 0")
            assert warmup["reason"] == "malformed" and warmup["decision"] == "DENIED", warmup
            assert warmup["person"] is None, warmup

            reply = await gate.scan(lobby_in, phone.token())
            assert reply["granted"] is True, reply
            while True:
                event = await asyncio.wait_for(events.get(), 10)
                if event["reason"] != "malformed":
                    break
            assert event["decision"] == "GRANTED", event
            assert event["reason"] == "ok", event
            assert event["method"] == "QR", event
            assert event["direction"] == "IN", event
            assert event["gate"] == {"id": lobby_in, "name": "Lobby turnstile in"}, event
            assert event["person"]["displayName"] == "Alice Li", event
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer


async def test_remote_open_routes_to_the_process_holding_the_device_and_reconnect_replaces(
    scale_site: Site,
) -> None:
    s0, s1 = scale_site.servers
    demo = demo_of(scale_site)
    lobby_in = demo.gates["Lobby turnstile in"]
    guard0, guard1 = await login(s0, demo, "guard"), await login(s1, demo, "guard")

    async with connected(s0, demo.device_id, demo.device_secret) as old:
        data = await guard1.ok(REMOTE_OPEN, {"gateId": lobby_in, "reason": "delivery at the lobby"})
        assert data["remoteOpen"]["errors"] == [], data
        assert data["remoteOpen"]["event"]["method"] == "REMOTE", data
        command = await old.recv_type("command")
        assert command["command"] == "open", command
        assert command["gateId"] == lobby_in, command
        assert command["reason"] == "delivery at the lobby", command
        await old.send({"type": "ack", "id": command["id"]})

        async with connected(s1, demo.device_id, demo.device_secret) as new:
            await asyncio.wait_for(old.ws.wait_closed(), 10)
            assert old.ws.close_code == 4409, (old.ws.close_code, old.ws.close_reason)

            # Commands now follow the device to server 1, even when issued on server 0.
            data = await guard0.ok(REMOTE_OPEN, {"gateId": lobby_in, "reason": "second opening"})
            assert data["remoteOpen"]["errors"] == [], data
            command = await new.recv_type("command")
            assert command["command"] == "open" and command["reason"] == "second opening", command


async def test_employee_offboarded_on_one_process_is_revoked_on_the_other(scale_site: Site) -> None:
    s0, s1 = scale_site.servers
    demo = demo_of(scale_site)
    lobby_in, lobby_out = demo.gates["Lobby turnstile in"], demo.gates["Lobby turnstile out"]
    alice = await login(s0, demo, "alice")
    alice_id = (await alice.ok(MY_PASS))["me"]["id"]
    phone = await bound_phone(alice)
    admin = await login(s1, demo, "admin")

    async with connected(s0, demo.device_id, demo.device_secret) as gate:
        token = phone.token()
        first = await gate.scan(lobby_in, token)
        assert first["granted"] is True, first

        data = await admin.ok(OFFBOARD_EMPLOYEE, {"id": alice_id})
        assert data["offboardEmployee"]["errors"] == [], data
        assert data["offboardEmployee"]["employee"]["status"] == "OFFBOARDED", data

        # Inside when offboarded: let out, flagged (contracts/README.md); never let in again.
        leaving = await gate.scan(lobby_out, phone.token(step_offset=1))
        assert (leaving["granted"], leaving["reason"]) == (True, "exit_after_revocation"), leaving
        # The token that was granted before, at the same gate: revoked now, not the earlier answer.
        denied(await gate.scan(lobby_in, token), "revoked")


@pytest.mark.parametrize("case", ["granted", "no_access", "bad_frame"])
async def test_basic_scan_behaviours_hold_on_postgres_and_redis(scale_site: Site, case: str) -> None:
    s0, s1 = scale_site.servers
    demo = demo_of(scale_site)
    lobby_in, eng_door = demo.gates["Lobby turnstile in"], demo.gates["Engineering door"]

    async with connected(s1, demo.device_id, demo.device_secret) as gate:
        if case == "granted":
            phone = await bound_phone(await login(s0, demo, "alice"))
            reply = await gate.scan(lobby_in, phone.token())
            assert reply["granted"] is True and reply["reason"] == "ok", reply
            assert reply["person"] == {"displayName": "Alice Li"}, reply
            assert reply["open"]["gateId"] == lobby_in, reply
        elif case == "no_access":
            phone = await bound_phone(await login(s0, demo, "bob"))  # Finance: no grant on Engineering
            denied(await gate.scan(eng_door, phone.token(), direction="IN"), "no_access")
        else:
            await gate.send("{not json")
            error = await gate.recv_type("error")
            assert error["code"] == "bad_message" and error["ref"] is None, error
            await gate.send(json.dumps({"type": "scan", "ref": "r-1", "gateId": lobby_in}))
            error = await gate.recv_type("error")
            assert error["code"] == "bad_message" and error["ref"] == "r-1", error
            # The connection stays open and keeps deciding.
            denied(await gate.scan(lobby_in, "GH1:garbage"), "malformed")
