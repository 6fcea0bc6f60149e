"""Issue 13's guard fan-out: one event to many guards is decoded once and rendered once.

The shared render (schema/scan/shared_render.py) may only serve selections whose answer does
not depend on who asks: the guard app's document does; anything that would reach a loader or a
field permission does not. The bus (realtime/bus.py) decodes a message once for all of its
channel's subscribers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from graphql import OperationDefinitionNode, parse

from realtime.bus import MemoryBus
from realtime.messages import GateEventMessage, GateRef, PersonRef
from schema.scan.shared_render import shareable_selection
from tests.test_scale import GATE_EVENTS

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
