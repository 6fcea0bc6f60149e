"""Guards' live `gateEvents` feeds render what the bus message carries: no SQL per pushed event.

The server runs with GATEHOUSE_SQL_LOG (every statement it sends, one per line). While scans
are pushed to three guards the log must show no read of the tables a GateEvent's gate and
person live in: the message carries the gate (id, name, direction), the zone and the named
person (id, displayName), which is all the guard app's document asks for. A guard who asks
for more of the person gets it from the database, one read per event: that is also how
this test knows the log would show such reads.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from tests.harness import GraphQLClient, GuardFeed, Site
from tests.query_count import statements
from tests.test_scan_e2e import (
    LOBBY_IN,
    LOBBY_OUT,
    MAINTENANCE,
    assert_granted,
    bound_phone,
    connected,
    login,
    settle_into_step,
)

MORE_OF_THE_PERSON = """
subscription { gateEvents { id reason gate { id name direction } person { id displayName username } } }
"""
# The rendering reads the old feed made for every event and every guard (gate, then person).
RENDERING_READ = re.compile(r'FROM "(gate|person|zone|department)"')


Feed = GuardFeed  # one guard's feed, with any document


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

        await settle_into_step(server)
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
        await settle_into_step(server)
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
