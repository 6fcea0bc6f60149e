"""A guard's `gateEvents` feed resumes from the last event's `cursor` (issue 11, item 19).

A guard whose connection dropped reconnects with `after:` the last cursor it saw and receives
exactly the events stored meanwhile, then live ones: no gap, no duplicate. An event stored by
another server process, whose publish never reached this one, still reaches a guard who
resumes from before it. A cursor of another list, or garbage, is BAD_USER_INPUT. Without
`after` the feed stays live only (the guard app's document, tests/test_gate_event_stream.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.harness import Demo, GraphQLClient, GuardFeed, ServerProcess, Site
from tests.test_scan_e2e import (
    ENGINEERING,
    FINANCE,
    LOBBY_IN,
    LOBBY_OUT,
    MAINTENANCE,
    assert_granted,
    bound_phone,
    connected,
    login,
    register_device,
    settle_into_step,
)

FIELDS = "id cursor at decision reason method direction gate { id name } person { id displayName }"
LIVE = "subscription { gateEvents { " + FIELDS + " } }"
NEWEST = "query { gateEvents(first: 1) { edges { cursor node { id } } } }"


def resume(cursor: str) -> str:
    return 'subscription { gateEvents(after: "' + cursor + '") { ' + FIELDS + " } }"


async def stored_after(reader: GraphQLClient, after_id: int) -> list[int]:
    """The ids of every event stored after `after_id`, oldest first (the log's pages, newest first)."""
    ids: list[int] = []
    page_after = None
    while True:
        data = await reader.ok(
            "query($a: String) { gateEvents(first: 100, after: $a) { edges { cursor node { id } } "
            "pageInfo { hasNextPage endCursor } } }",
            {"a": page_after},
        )
        page = data["gateEvents"]
        ids += [int(e["node"]["id"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"] or (ids and ids[-1] <= after_id):
            return sorted(i for i in ids if i > after_id)
        page_after = page["pageInfo"]["endCursor"]


def is_passage(event: dict[str, Any]) -> bool:
    return bool(event["reason"] != "malformed")


async def subscription_error(server: ServerProcess, token: str, document: str) -> dict[str, Any]:
    """The error a subscription ends with before it sends anything."""
    transport = WebsocketsTransport(
        url=server.ws + "/graphql",
        init_payload={"authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    client = Client(transport=transport)
    session = await asyncio.wait_for(client.connect_async(), 10)
    try:
        async with asyncio.timeout(10):
            async for result in session.subscribe(gql(document)):
                raise AssertionError(f"the subscription sent {result}")
    except TransportQueryError as exc:
        assert exc.errors, exc
        error: dict[str, Any] = exc.errors[0]
        return error
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close_async(), 10)
    raise AssertionError("the subscription ended without an error")


async def test_a_reconnecting_guard_gets_exactly_the_missed_events_then_live_ones(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = await login(api, demo, "guard")
    walkers = {name: (await bound_phone(api, demo, name))[1] for name in ("alice", "bob", "carol")}
    lobby_in, lobby_out = demo.gates[LOBBY_IN], demo.gates[LOBBY_OUT]
    await settle_into_step(server)

    async with connected(server, demo.device_id, demo.device_secret) as gate:
        async with GuardFeed(server, guard.token or "", LIVE) as feed:
            await feed.ready(gate, demo.gates[MAINTENANCE])
            assert_granted(await gate.scan(lobby_in, walkers["alice"].token()), lobby_in, "Alice Li")
            [seen] = await feed.passages(1)
        # The guard is away: three events are stored meanwhile.
        assert_granted(await gate.scan(lobby_in, walkers["bob"].token()), lobby_in, "Bob Wang")
        assert_granted(await gate.scan(lobby_out, walkers["alice"].token(step_offset=1)), lobby_out, "Alice Li")
        probe = await gate.scan(demo.gates[MAINTENANCE], GuardFeed.PROBE)
        assert probe["reason"] == "malformed"

        async with GuardFeed(server, guard.token or "", resume(seen["cursor"])) as back:
            replayed = [await back.next(lambda e: True) for _ in range(3)]
            assert [(e["gate"]["id"], e["reason"], (e["person"] or {}).get("displayName")) for e in replayed] == [
                (lobby_in, "ok", "Bob Wang"),
                (lobby_out, "ok", "Alice Li"),
                (demo.gates[MAINTENANCE], "malformed", None),
            ]
            # Live after the replay: the next scan arrives once, right after what was replayed.
            assert_granted(await gate.scan(lobby_in, walkers["carol"].token()), lobby_in, "Carol Chen")
            live = await back.next(is_passage)
            assert (live["gate"]["id"], live["person"]["displayName"]) == (lobby_in, "Carol Chen")

    stored = (await guard.ok("query { gateEvents(first: 100) { edges { node { id } } } }"))["gateEvents"]["edges"]
    stored_ids = sorted(int(e["node"]["id"]) for e in stored)
    after_seen = [i for i in stored_ids if i > int(seen["id"])]
    got = [int(e["id"]) for e in [*replayed, live]]
    assert got == after_seen, "every event stored after the cursor, in order, once"
    assert back.events.empty(), "nothing sent twice"
    # The cursor the feed gives is the log's own: the query pages after it name the same events.
    page = await guard.ok(
        "query($a: String) { gateEvents(first: 100, after: $a) { edges { node { id } } } }",
        {"a": live["cursor"]},
    )
    assert [int(e["node"]["id"]) for e in page["gateEvents"]["edges"]] == sorted(
        (i for i in stored_ids if i < int(live["id"])), reverse=True
    )


async def test_an_event_another_process_stored_reaches_a_guard_who_resumes_before_it(sqlite_site: Site) -> None:
    # Two server processes on one database and no Redis: an event the second stores is
    # published on its own bus only, as if the process that stored it died before publishing.
    serving = sqlite_site.start_server()
    storing = await asyncio.to_thread(sqlite_site.start_server)
    demo = sqlite_site.demo
    assert demo is not None
    api = GraphQLClient(serving, demo=demo)
    guard = await login(api, demo, "guard")
    _, alice = await bound_phone(GraphQLClient(storing, demo=demo), demo, "alice")
    lobby_in = demo.gates[LOBBY_IN]

    before = (await guard.ok(NEWEST))["gateEvents"]["edges"]
    cursor = before[0]["cursor"] if before else base64.urlsafe_b64encode(b"ev:0").decode()
    async with connected(storing, demo.device_id, demo.device_secret) as gate:
        await settle_into_step(storing)
        assert_granted(await gate.scan(lobby_in, alice.token()), lobby_in, "Alice Li")

    async with GuardFeed(serving, guard.token or "", resume(cursor)) as feed:
        event = await feed.next(lambda e: True)
    assert (event["gate"]["id"], event["reason"], event["person"]["displayName"]) == (lobby_in, "ok", "Alice Li")
    newest = (await guard.ok(NEWEST))["gateEvents"]["edges"][0]
    assert (event["id"], event["cursor"]) == (newest["node"]["id"], newest["cursor"])


async def test_a_cursor_of_another_list_or_garbage_is_bad_user_input(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = await login(api, demo, "guard")
    alert_cursor = base64.urlsafe_b64encode(b"alert:1").decode()
    for cursor in (alert_cursor, "not a cursor", base64.urlsafe_b64encode(b"ev:-1").decode(), ""):
        error = await subscription_error(server, guard.token or "", resume(cursor))
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (cursor, error)
        assert "cursor" in error["message"]


async def test_resuming_while_events_stream_in_neither_skips_nor_repeats_one(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    """Events keep arriving while the feed subscribes and replays: each one is either replayed
    (stored before the replay read it) or sent live (published after the feed subscribed), and
    those that are both are sent once."""
    guard = await login(api, demo, "guard")
    maintenance = demo.gates[MAINTENANCE]
    before = (await guard.ok(NEWEST))["gateEvents"]["edges"]
    cursor = before[0]["cursor"] if before else base64.urlsafe_b64encode(b"ev:0").decode()
    probes = 0
    stop, twenty_stored = asyncio.Event(), asyncio.Event()

    async with connected(server, demo.device_id, demo.device_secret) as gate:

        async def probe_until_stopped() -> None:
            nonlocal probes
            while not stop.is_set() and probes < 400:
                assert (await gate.scan(maintenance, GuardFeed.PROBE))["reason"] == "malformed"
                probes += 1
                if probes == 20:
                    twenty_stored.set()

        prober = asyncio.create_task(probe_until_stopped())
        try:
            await asyncio.wait_for(twenty_stored.wait(), 30)  # some stored before the feed asks for them
            async with GuardFeed(server, guard.token or "", resume(cursor)) as feed:
                got = [await feed.next(lambda e: True)]
                at_first = probes
                while probes < at_first + 30:  # and some published after it is live
                    got.append(await feed.next(lambda e: True))
                stop.set()
                await prober
                after_cursor = await stored_after(guard, int(before[0]["node"]["id"]) if before else 0)
                while len(got) < len(after_cursor):
                    got.append(await feed.next(lambda e: True))
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await prober
    assert [int(e["id"]) for e in got] == after_cursor
    assert feed.events.empty(), "nothing sent twice"


async def test_replay_is_bounded_and_zone_filtered_like_the_live_feed(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    """More than 1,000 stored events after the cursor: the client is told to read the log's pages.
    Within a zone, only that zone's events count and are replayed."""
    guard = await login(api, demo, "guard")
    zones = {g["id"]: g["zone"]["id"] for g in (await guard.ok("{ gates { id zone { id } } }"))["gates"]}
    maintenance, lobby_out = demo.gates[MAINTENANCE], demo.gates[LOBBY_OUT]
    start = base64.urlsafe_b64encode(b"ev:0").decode()
    assert not (await guard.ok(NEWEST))["gateEvents"]["edges"], "the demo site starts with no events"

    async with connected(server, demo.device_id, demo.device_secret) as gate:
        for _ in range(1_001):  # in the lobby, the site's root zone
            assert (await gate.scan(lobby_out, GuardFeed.PROBE))["reason"] == "malformed"
        assert (await gate.scan(maintenance, GuardFeed.PROBE))["reason"] == "malformed"

    error = await subscription_error(server, guard.token or "", resume(start))
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "more than 1000 events" in error["message"] and "gateEvents" in error["message"]

    # The maintenance area (a sub-zone of the lobby) saw one of them: that one is replayed alone.
    document = (
        'subscription { gateEvents(zoneId: "' + zones[maintenance] + '", after: "' + start + '") { ' + FIELDS + " } }"
    )
    async with GuardFeed(server, guard.token or "", document) as feed:
        event = await feed.next(lambda e: True)
    assert (event["gate"]["id"], event["reason"], event["id"]) == (maintenance, "malformed", "1002")
    assert feed.events.empty()


ALERT_FIELDS = "id cursor kind deviceId gateId"


async def test_device_alerts_resume_too_across_server_processes(sqlite_site: Site) -> None:
    """`deviceAlerts(after:)`: an alert another process stored (and published on its own bus only)
    is replayed, then live alerts follow, none twice; a gate event's cursor is refused."""
    serving = sqlite_site.start_server()
    storing = await asyncio.to_thread(sqlite_site.start_server)
    demo = sqlite_site.demo
    assert demo is not None
    guard = await login(GraphQLClient(serving, demo=demo), demo, "guard")
    newest = (await guard.ok("query { deviceAlerts(first: 1) { id cursor } }"))["deviceAlerts"]
    cursor = newest[0]["cursor"] if newest else base64.urlsafe_b64encode(b"alert:0").decode()

    async with connected(storing, demo.device_id, demo.device_secret) as gate:
        assert (await gate.scan("999999", GuardFeed.PROBE))["reason"] == "gate_unknown"
    stored = (await guard.ok("query { deviceAlerts(first: 5) { id cursor kind } }"))["deviceAlerts"]
    missed = [a for a in stored if a["kind"] == "gate_unknown"]
    assert len(missed) == 1, stored

    document = 'subscription { deviceAlerts(after: "' + cursor + '") { ' + ALERT_FIELDS + " } }"
    transport = WebsocketsTransport(
        url=serving.ws + "/graphql",
        init_payload={"authorization": f"Bearer {guard.token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    client = Client(transport=transport)
    session = await asyncio.wait_for(client.connect_async(), 10)
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        async for result in session.subscribe(gql(document)):
            await received.put(result["deviceAlerts"])

    task = asyncio.create_task(pump())
    try:
        replayed = await asyncio.wait_for(received.get(), 10)
        assert (replayed["id"], replayed["cursor"], replayed["kind"]) == (
            missed[0]["id"],
            missed[0]["cursor"],
            "gate_unknown",
        )
        # Live on this process after the replay: the device now reports here.
        admin = await login(GraphQLClient(serving, demo=demo), demo, "admin")
        finance_only_id, finance_only_secret = await register_device(admin, "Finance scanner", [demo.gates[FINANCE]])
        async with connected(serving, finance_only_id, finance_only_secret) as finance_scanner:
            reply = await finance_scanner.scan(demo.gates[ENGINEERING], GuardFeed.PROBE, direction="IN")
            assert reply["reason"] == "not_your_gate", reply
        live = await asyncio.wait_for(received.get(), 10)
        assert (live["kind"], live["deviceId"], live["gateId"]) == (
            "not_your_gate",
            finance_only_id,
            demo.gates[ENGINEERING],
        )
        assert int(live["id"]) > int(replayed["id"]) and received.empty(), "nothing sent twice"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close_async(), 10)

    wrong_kind = base64.urlsafe_b64encode(b"ev:1").decode()
    error = await subscription_error(
        serving, guard.token or "", 'subscription { deviceAlerts(after: "' + wrong_kind + '") { id } }'
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
