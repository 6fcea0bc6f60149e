"""Issue 13's guard fan-out: one event to many guards is decoded once and rendered once.

The shared render (schema/scan/shared_render.py) may only serve selections whose answer does
not depend on who asks: the guard app's document does; anything that would reach a loader or a
field permission does not. Over graphql-transport-ws such an event is pushed as bytes encoded
once (api/graphql_ws.py DirectFrames) and must read exactly as Strawberry's render of it. The bus
(realtime/bus.py) decodes a message once for all of its channel's subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from graphql import OperationDefinitionNode, parse
from websockets.typing import Subprotocol

from realtime.bus import MemoryBus
from realtime.messages import GateEventMessage, GateRef, PersonRef
from schema.scan.shared_render import shareable_selection
from tests.harness import GraphQLClient, GuardFeed, ServerProcess, Site
from tests.test_scale import GATE_EVENTS
from tests.test_scan_e2e import LOBBY_IN, MAINTENANCE, assert_granted, bound_phone, connected, login, settle_into_step

EVENT = GateEventMessage(
    id=7,
    at=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
    gate=GateRef(3, "Lobby turnstile in", "IN"),
    zone_id=1,
    reason="ok",
    decision="GRANTED",
    method="QR",
    direction="IN",
    offline=False,
    person=PersonRef(5, "Alice Li"),
)


def shareable(document: str) -> bool:
    operation = parse(document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return shareable_selection(operation.selection_set)


def test_the_guard_apps_document_is_rendered_once_for_all() -> None:
    assert shareable(GATE_EVENTS)
    assert shareable("subscription { gateEvents { id cursor alias: reason gate { name } person { displayName } } }")


def test_what_could_differ_between_guards_is_rendered_per_guard() -> None:
    # A person field beyond what the message carries (a loader, maybe a field permission).
    assert not shareable("subscription { gateEvents { id person { id displayName personalNumber } } }")
    # The gate's zone comes from a loader.
    assert not shareable("subscription { gateEvents { id gate { id zone { id } } } }")
    # Fragments and directives are not followed: rendered per guard.
    assert not shareable("subscription { gateEvents { ...F } } fragment F on GateEvent { id }")
    assert not shareable("subscription($x: Boolean!) { gateEvents { id @include(if: $x) } }")
    assert not shareable("subscription { gateEvents { id ... on GateEvent { reason } } }")
    assert not shareable("subscription { alerts { id } }")


async def test_a_message_is_decoded_once_for_every_subscriber() -> None:
    bus = MemoryBus()
    async with bus.receive(GateEventMessage) as first, bus.receive(GateEventMessage) as second:
        bus.send(EVENT)
        a = await asyncio.wait_for(anext(first), 5)
        b = await asyncio.wait_for(anext(second), 5)
    assert a == EVENT
    assert a is b  # one decode, shared (messages are frozen)


async def test_a_malformed_message_is_still_dropped_for_every_subscriber() -> None:
    bus = MemoryBus()
    async with bus.receive(GateEventMessage) as first, bus.receive(GateEventMessage) as second:
        bus.publish(GateEventMessage.CHANNEL, {"v": 1, "id": "not a number"})
        bus.send(EVENT)
        assert await asyncio.wait_for(anext(first), 5) == EVENT
        assert await asyncio.wait_for(anext(second), 5) == EVENT


FIELDS = "id cursor at decision reason method direction offline gate { id name direction } person { id displayName }"
PUSHED = "subscription { gateEvents { " + FIELDS + " } }"
RENDERED = "subscription { gateEvents { ...E } } fragment E on GateEvent { " + FIELDS + " }"


class RawFeed:
    """A graphql-transport-ws subscription read message by message, as the server wrote them."""

    def __init__(self, server: ServerProcess, token: str, document: str) -> None:
        self.server, self.token, self.document = server, token, document
        self.ws: Any = None

    async def __aenter__(self) -> RawFeed:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.server.ws + "/graphql", subprotocols=[Subprotocol("graphql-transport-ws")])
        await self.ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}})
        )
        assert json.loads(await asyncio.wait_for(self.ws.recv(), 10))["type"] == "connection_ack"
        await self.ws.send(json.dumps({"id": "7", "type": "subscribe", "payload": {"query": self.document}}))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def next_event(self, timeout: float) -> tuple[str, dict[str, Any]]:
        """The raw text of the next message (a `next` for operation 7) and its event."""
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        message = json.loads(text)
        assert (message["id"], message["type"]) == ("7", "next"), message
        assert "errors" not in message["payload"], message
        return text, message["payload"]["data"]["gateEvents"]


async def alices_passage_on_two_feeds(site: Site, first: str, second: str) -> list[tuple[str, dict[str, Any]]]:
    """A guard subscribed twice (documents `first` and `second`); Alice passes the lobby: what each
    subscription received of her passage, raw text and event."""
    server = site.start_server()
    demo = site.demo
    assert demo is not None
    api = GraphQLClient(server)
    guard = await login(api, demo, "guard")
    _, alice = await bound_phone(api, demo, "alice")
    lobby_in = demo.gates[LOBBY_IN]
    async with contextlib.AsyncExitStack() as stack:
        gate = await stack.enter_async_context(connected(server, demo.device_id, demo.device_secret))
        feeds = [await stack.enter_async_context(RawFeed(server, guard.token or "", doc)) for doc in (first, second)]
        # Neither protocol nor server confirms a subscription: probe until both deliver, then
        # read each feed up to its first probe (later probes are read and skipped below).
        for feed in feeds:
            while True:
                await gate.scan(demo.gates[MAINTENANCE], GuardFeed.PROBE)
                with contextlib.suppress(TimeoutError):
                    await feed.next_event(0.5)
                    break
        await settle_into_step(server)
        assert_granted(await gate.scan(lobby_in, alice.token()), lobby_in, "Alice Li")

        async def passage(feed: RawFeed) -> tuple[str, dict[str, Any]]:
            while True:
                text, event = await feed.next_event(10)
                if event["reason"] == "ok":
                    return text, event

        return [await passage(feed) for feed in feeds]


async def test_a_live_event_is_pushed_as_bytes_rendered_once_and_reads_as_a_per_guard_render(
    sqlite_site: Site,
) -> None:
    assert shareable(PUSHED) and not shareable(RENDERED)
    (pushed_text, pushed_event), (rendered_text, rendered_event) = await alices_passage_on_two_feeds(
        sqlite_site, PUSHED, RENDERED
    )
    assert sqlite_site.demo is not None
    lobby_in = sqlite_site.demo.gates[LOBBY_IN]
    # The bytes rendered once and written by the WebSocket layer are the very message Strawberry
    # writes for a guard who asked in a way that is not shared.
    assert pushed_text == rendered_text
    assert pushed_event == rendered_event
    assert (pushed_event["gate"]["id"], pushed_event["person"]["displayName"]) == (lobby_in, "Alice Li")
