"""Guards' live `gateEvents` feeds render what the bus message carries: no SQL per pushed event.

The server runs with GATEHOUSE_SQL_LOG (every statement it sends, one per line). While scans
are pushed to three guards the log must show no read of the tables a GateEvent's gate and
person live in: the message carries the gate (id, name, direction), the zone and the named
person (id, displayName), which is all the guard app's document asks for. A guard who asks
for more of the person gets it from the database, one read per event: that is also how
this test knows the log would show such reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from tests.harness import Gate, GraphQLClient, ServerProcess, Site
from tests.query_count import statements
from tests.test_scan_e2e import (
    GATE_EVENTS_SUBSCRIPTION,
    LOBBY_IN,
    LOBBY_OUT,
    MAINTENANCE,
    assert_granted,
    bound_phone,
    connected,
    decision_of,
    login,
    settle_into_step,
)

MORE_OF_THE_PERSON = """
subscription { gateEvents { id reason gate { id name direction } person { id displayName username } } }
"""
# The rendering reads the old feed made for every event and every guard (gate, then person).
RENDERING_READ = re.compile(r'FROM "(gate|person|zone|department)"')
PROBE = "PROBE-NOT-A-TOKEN"


class Feed:
    """One guard's `gateEvents` subscription over graphql-transport-ws, with any document."""

    def __init__(self, server: ServerProcess, token: str, document: str = GATE_EVENTS_SUBSCRIPTION) -> None:
        transport = WebsocketsTransport(
            url=server.ws + "/graphql",
            init_payload={"authorization": f"Bearer {token}"},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        self.client = Client(transport=transport)
        self.document = document
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Feed:
        session = await asyncio.wait_for(self.client.connect_async(), 10)

        async def pump() -> None:
            async for result in session.subscribe(gql(self.document)):
                await self.events.put(result["gateEvents"])

        self._task = asyncio.create_task(pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close_async(), 10)

    async def ready(self, gate: Gate, probe_gate_id: str, timeout: float = 15) -> None:
        """graphql-transport-ws does not confirm a subscription: probe until a probe arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._task is not None and self._task.done():
                self._task.result()
                raise AssertionError("the gateEvents subscription ended")
            assert decision_of(await gate.scan(probe_gate_id, PROBE)) == (False, "malformed")
            with contextlib.suppress(TimeoutError):
                await self.next(lambda e: e["reason"] == "malformed", 0.5)
                return
        raise AssertionError("the gateEvents subscription never delivered a probe event")

    async def next(self, match: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if match(event):
                    return event

    async def passages(self, count: int) -> list[dict[str, Any]]:
        """The next `count` events that are not probes."""
        return [await self.next(lambda e: e["reason"] != "malformed") for _ in range(count)]


def rendering_reads(lines: list[str]) -> list[str]:
    return [line for line in lines if RENDERING_READ.search(line)]


async def test_guards_feeds_render_pushed_events_without_a_query_per_event(sqlite_site: Site, tmp_path: Path) -> None:
    sql_log = tmp_path / "sql.log"
    server = sqlite_site.start_server(GATEHOUSE_SQL_LOG=str(sql_log))
    demo = sqlite_site.demo
    assert demo is not None
    api = GraphQLClient(server)
    lobby_in, lobby_out = demo.gates[LOBBY_IN], demo.gates[LOBBY_OUT]
    guards = [await login(api, demo, username) for username in ("guard", "security", "admin")]
    walkers = {
        name: await bound_phone(api, demo, username)
        for username, name in [("alice", "Alice Li"), ("bob", "Bob Wang"), ("carol", "Carol Chen")]
    }
    ids = {name: (await client.ok("query { me { id } }"))["me"]["id"] for name, (client, _) in walkers.items()}

    async with contextlib.AsyncExitStack() as stack:
        gate = await stack.enter_async_context(connected(server, demo.device_id, demo.device_secret))
        feeds = [await stack.enter_async_context(Feed(server, g.token or "")) for g in guards]
        for feed in feeds:
            await feed.ready(gate, demo.gates[MAINTENANCE])

        await settle_into_step()
        with statements(sql_log) as sent:
            for name in ("Alice Li", "Bob Wang"):
                phone = walkers[name][1]
                assert_granted(await gate.scan(lobby_in, phone.token()), lobby_in, name)
                assert_granted(await gate.scan(lobby_out, phone.token(step_offset=1)), lobby_out, name)
            received = [await feed.passages(4) for feed in feeds]

        expected = [
            (gate_id, gate_name, direction, {"id": ids[name], "displayName": name})
            for name in ("Alice Li", "Bob Wang")
            for gate_id, gate_name, direction in [(lobby_in, LOBBY_IN, "IN"), (lobby_out, LOBBY_OUT, "OUT")]
        ]
        for events in received:
            got = [(e["gate"]["id"], e["gate"]["name"], e["direction"], e["person"]) for e in events]
            assert got == expected
            assert [e["id"] for e in events] == [e["id"] for e in received[0]], "every guard saw the same events"
        inserts = [line for line in sent.lines if line.startswith('INSERT INTO "gate_event"')]
        assert len(inserts) == 4, f"the log covers the four scans:\n{sent}"
        assert rendering_reads(sent.lines) == [], f"4 events x 3 guards cost queries:\n{sent}"

        # A guard asking for more of the person than the message carries reads it, once per event.
        curious = await stack.enter_async_context(Feed(server, guards[0].token or "", MORE_OF_THE_PERSON))
        await curious.ready(gate, demo.gates[MAINTENANCE])
        await settle_into_step()
        with statements(sql_log) as sent:
            phone = walkers["Carol Chen"][1]
            assert_granted(await gate.scan(lobby_in, phone.token()), lobby_in, "Carol Chen")
            assert_granted(await gate.scan(lobby_out, phone.token(step_offset=1)), lobby_out, "Carol Chen")
            detailed = await curious.passages(2)
            for feed in feeds:
                await feed.passages(2)
        carol = {"id": ids["Carol Chen"], "displayName": "Carol Chen", "username": "carol"}
        assert [(e["gate"]["direction"], e["person"]) for e in detailed] == [("IN", carol), ("OUT", carol)]
        reads = rendering_reads(sent.lines)
        assert len(reads) == 2 and all('FROM "person"' in line for line in reads), f"one person read per event:\n{sent}"
