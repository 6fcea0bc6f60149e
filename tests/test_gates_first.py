"""Gates first (issue 11): heavy GraphQL operations take turns while gates are scanning, a device
cut off for flooding again and again is kept off for a while, and an address that keeps sending
oversized bodies is hung up on.

One heavy query completes its list items in a single turn of the server's event loop, during which
no scan is decided; bench/scans_under_abuse.py measured an admin looping over one (cost about 9,000)
keep the other gates' p99 over 100 ms. While a gate scans, such operations run one at a time with a
pause after each (api/heavy_pacing.py), and those that find the queue full are refused. A flooding
device that reconnects at once cost the other gates committed writes per connection: cut off twice,
its next hello is refused (4429) before anything is looked up. Reading the rest of a refused 16 MiB
body, in a loop, was the costliest refusal: past a few per address, the 413 closes the connection.
Nothing here times anything: the refusals show the turns, the cool-off and the hang-ups.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphql import OperationDefinitionNode, parse

from api import heavy_pacing
from api.graphql_http import DRAINED_PER_ADDRESS
from devices.frames.budget import CLOSE_OVER_BUDGET
from mobile_contracts import documents
from schema.core import limits
from schema.root import schema
from tests.harness import Demo, GraphQLClient, ServerProcess
from tests.test_device_abuse import CUT_OFF, flood_until_closed, wrong_hello
from tests.test_scan_e2e import LOBBY_IN, connected, login, register_device
from tests.test_ws_limits import Socket
from tests.test_ws_limits import codes as ws_codes

HEAVY = "query($n:Int!){people(first:$n){edges{node{id displayName hostedVisits(first:$n){edges{node{id}}}}}}}"
AT_ONCE = heavy_pacing.MAX_WAITING + 6


def heavy_variables() -> dict[str, Any]:
    """`first` such that the query is heavy but within the cost limit."""
    verdict = limits.analyse(HEAVY)
    for n in range(1, limits.MAX_FIRST + 1):
        cost = limits.cost(schema._schema, verdict, None, {"n": n})
        if heavy_pacing.HEAVY_COST < cost <= limits.MAX_COST:
            return {"n": n}
    raise AssertionError("no `first` makes the query heavy within the cost limit")


def test_no_document_the_apps_send_is_ever_paced() -> None:
    for name, text in documents().items():
        verdict = limits.analyse(text)
        for definition in parse(text).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name is not None:
                cost = limits.cost(schema._schema, verdict, definition.name.value, {"first": limits.MAX_FIRST})
                assert cost <= heavy_pacing.HEAVY_COST, (name, definition.name.value, cost)


def codes(answer: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    return [(e.get("extensions", {}).get("code"), e.get("extensions", {}).get("limit")) for e in answer["errors"]]


async def test_heavy_operations_take_turns_while_gates_scan(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    admin = await login(api, demo, "admin")
    variables = heavy_variables()

    # No gate has scanned: heavy operations run side by side, as they always have.
    answers = await asyncio.gather(*(admin(HEAVY, variables) for _ in range(AT_ONCE)))
    assert all(not a.get("errors") and a["data"]["people"]["edges"] for a in answers), answers

    async with connected(server, demo.device_id, demo.device_secret) as gate:
        reply = await gate.scan(demo.gates[LOBBY_IN], "GH1:not-a-token")  # any scan: the gates are busy
        assert reply["type"] == "decision", reply
        answers = await asyncio.gather(*(admin(HEAVY, variables) for _ in range(AT_ONCE)))
        served = [a for a in answers if not a.get("errors")]
        refused = [a for a in answers if a.get("errors")]
        # One runs, at most MAX_WAITING wait for their turn, the others are refused with the limit named.
        assert served and all(a["data"]["people"]["edges"] for a in served), answers
        assert len(refused) >= AT_ONCE - 1 - heavy_pacing.MAX_WAITING, answers
        assert all(codes(a) == [("RATE_LIMITED", "heavy")] for a in refused), refused
        # Cheap operations do not take turns; the gate is served throughout.
        assert (await admin.ok("{ me { id } }"))["me"]["id"]
        assert (await gate.scan(demo.gates[LOBBY_IN], "GH1:still-not-a-token"))["type"] == "decision"


async def test_a_device_cut_off_twice_is_kept_off_for_a_while(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    admin = await login(api, demo, "admin")
    lobby_in = demo.gates[LOBBY_IN]
    flooder_id, flooder_secret = await register_device(admin, "Flooder", [lobby_in])
    # Cut off once: it may connect again at once (its budget starts afresh), as before.
    async with connected(server, flooder_id, flooder_secret) as flooder:
        code, _ = await flood_until_closed(flooder, 1_000_000, lobby_in)
        assert code in CUT_OFF, code
    async with connected(server, flooder_id, flooder_secret) as flooder:
        code, _ = await flood_until_closed(flooder, 1_000_000, lobby_in)
        assert code in CUT_OFF, code
    # Cut off again: its next hello is refused with the budget's code, right secret or not.
    assert await wrong_hello(server, flooder_id, flooder_secret) == CLOSE_OVER_BUDGET
    # Other devices connect and are served meanwhile.
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert (await gate.scan(lobby_in, "GH1:not-a-token"))["type"] == "decision"


async def oversized_request(server: ServerProcess) -> tuple[int, dict[str, str]]:
    """A POST that declares 16 MiB and sends one byte: the answer's status and headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\n"
            b"Content-Length: 16777216\r\n\r\n{"
        )
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
    finally:
        writer.close()
    status_line, *lines = head.strip().split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers


async def test_an_address_that_keeps_sending_oversized_bodies_is_hung_up_on(server: ServerProcess) -> None:
    answers = [await oversized_request(server) for _ in range(DRAINED_PER_ADDRESS + 2)]
    assert [status for status, _ in answers] == [413] * len(answers)
    # The first ones keep the connection (the rest of the body is read and dropped), then it is closed.
    assert [h.get("connection") for _, h in answers[:DRAINED_PER_ADDRESS]] == [None] * DRAINED_PER_ADDRESS, answers
    assert all(h.get("connection") == "close" for _, h in answers[DRAINED_PER_ADDRESS:]), answers


async def test_heavy_queries_over_the_websocket_take_turns_too(server: ServerProcess, demo: Demo) -> None:
    variables = heavy_variables()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        reply = await gate.scan(demo.gates[LOBBY_IN], "GH1:not-a-token")  # the gates are busy
        assert reply["type"] == "decision", reply
        async with Socket(server, demo.tokens["admin"]) as admin:
            ids = [await admin.subscribe(HEAVY, variables=variables) for _ in range(AT_ONCE)]
            firsts = [await admin.first(i, timeout=30) for i in ids]
        served = [m for m in firsts if m["type"] == "next"]
        refused = [m for m in firsts if m["type"] == "error"]
        assert served and all(m["payload"]["data"]["people"]["edges"] for m in served), firsts
        assert len(refused) >= AT_ONCE - 1 - heavy_pacing.MAX_WAITING, firsts
        assert all(ws_codes(m["payload"]) == [("RATE_LIMITED", "heavy")] for m in refused), refused
        assert (await gate.scan(demo.gates[LOBBY_IN], "GH1:still-not-a-token"))["type"] == "decision"


def test_behind_a_trusted_proxy_oversized_bodies_count_per_client_not_per_proxy() -> None:
    from starlette.requests import Request

    from api.graphql_http import _hang_up_on

    proxy = frozenset({"10.9.9.9"})

    def request(forwarded_for: str) -> Request:
        headers = [(b"x-forwarded-for", forwarded_for.encode())]
        return Request({"type": "http", "method": "POST", "headers": headers, "client": ("10.9.9.9", 1)})

    for _ in range(DRAINED_PER_ADDRESS):
        assert not _hang_up_on(request("203.0.113.7"), proxy)
    assert _hang_up_on(request("203.0.113.7"), proxy)  # that client is past its drained ones
    assert not _hang_up_on(request("203.0.113.8"), proxy)  # another client behind the same proxy is not
    # Without trusting the proxy every body counts against the proxy's own address, whoever sent it.
    answers = [_hang_up_on(request(f"198.51.100.{i}"), frozenset()) for i in range(DRAINED_PER_ADDRESS + 1)]
    assert answers == [False] * DRAINED_PER_ADDRESS + [True]
