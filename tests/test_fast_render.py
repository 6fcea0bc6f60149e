"""Issue 13: the guard app's live events rendered without graphql-core (schema/scan/fast_render.py).

The fast render must be the very payload graphql-core's execution gives for the same event (the
shared render's own executor, schema/scan/shared_render.py, is that execution), for every kind
of event; any document the server does not know field for field must go to graphql-core."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from graphql import FieldNode, OperationDefinitionNode, parse

from realtime.messages import GateEventMessage, GateRef, PersonRef
from resolvers.scan.reasons import Reason
from schema.root import schema
from schema.scan import fast_render
from schema.scan.shared_render import _encoded, _executor
from schema.scan.types import GateEvent
from tests.harness import Site
from tests.test_guard_fanout import alices_passage_on_two_feeds
from tests.test_scale import GATE_EVENTS
from tests.test_scan_e2e import LOBBY_IN

# Every field the fast render knows, and __typename at each level.
EVERYTHING = (
    "subscription Everything($zoneId: ID) { gateEvents(zoneId: $zoneId) { __typename id at decision reason "
    "method direction offline cursor gate { __typename id name direction } person { __typename id displayName } } }"
)


def operation_of(document: str) -> tuple[tuple[str, str | None], OperationDefinitionNode]:
    operation = next(d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode))
    return (document, operation.name.value if operation.name else None), operation


def graphql_core_render(document: str, message: GateEventMessage) -> bytes | None:
    key, operation = operation_of(document)
    executor = _executor(key, schema._schema, operation)
    assert executor is not None
    result = executor.build_per_event_executor(GateEvent.of_message(message)).execute_operation(False)
    assert not executor.is_awaitable(result)
    return _encoded(result)


def fast(document: str) -> fast_render.Renderer | None:
    key, operation = operation_of(document)
    return fast_render.renderer_for(key, operation)


def varied_events() -> list[GateEventMessage]:
    people = [None, PersonRef(5, "李娜"), PersonRef(6, "張偉"), PersonRef(7, "Zoë"), PersonRef(8, 'Ann "Q" \\ O\'Neil')]
    gates = [GateRef(3, "Lobby turnstile in", "IN"), GateRef(4, "北门 出口", "OUT"), GateRef(12, "Zoë's door", "BOTH")]
    times = [
        datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 8, 0, 1, 123456, tzinfo=UTC),
        datetime(2026, 2, 1, 23, 59, 59, tzinfo=timezone(timedelta(hours=8))),
    ]
    events = []
    for n, (reason, person, gate, at, offline) in enumerate(
        itertools.product(list(Reason), people, gates, times, (False, True))
    ):
        if n % 7 not in (0, 3):  # a spread of the combinations, every reason several times
            continue
        alarm = reason.is_alarm
        events.append(
            GateEventMessage(
                id=n + 1,
                at=at,
                gate=gate,
                zone_id=1,
                reason=reason.value,
                decision=None if alarm else ("GRANTED" if reason.grants else "DENIED"),
                method=None if alarm else ("QR", "FACE", "MANUAL", "REMOTE")[n % 4],
                direction=None if alarm else ("IN", "OUT")[n % 2],
                offline=offline,
                person=None if alarm else person,
            )
        )
    # Both decisions for any reason, and a huge id.
    events.append(
        GateEventMessage(9_007_199_254_740_993, times[0], gates[0], 1, "ok", "GRANTED", "QR", "IN", False, people[1])
    )
    events.append(GateEventMessage(10, times[1], gates[1], 1, "no_access", "DENIED", "FACE", "OUT", False, people[2]))
    return events


def test_the_guard_apps_document_is_known() -> None:
    assert fast(GATE_EVENTS) is not None
    # The same text with other spacing, another operation name, other root arguments: still known.
    assert fast("subscription($z: ID) { gateEvents(zoneId: $z, after: null) { id at decision reason method "
                "direction gate { id name } person { id displayName } } }") is not None  # fmt: skip


@pytest.mark.parametrize("document", [GATE_EVENTS, EVERYTHING], ids=["guard.graphql", "every-field"])
def test_the_fast_render_is_graphql_cores_render(document: str) -> None:
    if document is EVERYTHING:  # not a document an app sends: compile it as the known ones are compiled
        _, operation = operation_of(document)
        root = operation.selection_set.selections[0]
        assert isinstance(root, FieldNode) and root.selection_set is not None
        renderer = fast_render.compile_selection(root.selection_set)
    else:
        renderer = fast(document)
    assert renderer is not None
    events = varied_events()
    assert len(events) > 100
    seen = set()
    for message in events:
        expected = graphql_core_render(document, message)
        got = renderer(message)
        assert expected is not None
        assert got == expected, (message, got, expected)
        event = json.loads(got)["data"]["gateEvents"]
        seen.add((event["decision"], event["person"] is None, event["reason"]))
    reasons = {r for _, _, r in seen}
    assert reasons == {r.value for r in Reason}
    assert {d for d, _, _ in seen} == {"GRANTED", "DENIED", None}
    assert {p for _, p, _ in seen} == {True, False}


def test_a_value_this_release_does_not_know_is_not_rendered() -> None:
    renderer = fast(GATE_EVENTS)
    assert renderer is not None
    base = varied_events()[0]
    for changed in (
        {"decision": "MAYBE"},
        {"method": "TELEPATHY"},
        {"direction": "UP"},
        {"gate": GateRef(3, "Lobby", "SIDEWAYS")},
    ):
        message = dataclasses.replace(base, **changed)
        with pytest.raises(ValueError):
            GateEvent.of_message(message)  # the usual path skips it too
        assert renderer(message) is None


@pytest.mark.parametrize(
    "document",
    [
        # An extra field (offline) the guard app does not ask for.
        "subscription { gateEvents { id at decision reason method direction offline gate { id name } "
        "person { id displayName } } }",
        # An alias, on a leaf, on the root field.
        "subscription { gateEvents { id when: at decision reason method direction gate { id name } "
        "person { id displayName } } }",
        "subscription { g: gateEvents { id at decision reason method direction gate { id name } "
        "person { id displayName } } }",
        # A directive, on a field, on the root field, on the operation.
        "subscription($x: Boolean!) { gateEvents { id at @include(if: $x) decision reason method direction "
        "gate { id name } person { id displayName } } }",
        "subscription($x: Boolean!) { gateEvents @include(if: $x) { id at decision reason method direction "
        "gate { id name } person { id displayName } } }",
        # A fragment with the very same fields, spread or inline.
        "subscription { gateEvents { ...E } } fragment E on GateEvent { id at decision reason method direction "
        "gate { id name } person { id displayName } }",
        "subscription { gateEvents { ... on GateEvent { id at decision reason method direction "
        "gate { id name } person { id displayName } } } }",
        # The fields in another order, a field twice.
        "subscription { gateEvents { at id decision reason method direction gate { id name } "
        "person { id displayName } } }",
        "subscription { gateEvents { id id at decision reason method direction gate { id name } "
        "person { id displayName } } }",
        # The guard console's document: the gate's zone comes from a loader.
        "subscription GuardGateEvents($zoneId: ID, $after: String) { gateEvents(zoneId: $zoneId, after: $after) "
        "{ id at decision reason method direction offline cursor gate { id name zone { id name } } "
        "person { id displayName } } }",
    ],
)
def test_any_other_document_goes_to_graphql_core(document: str) -> None:
    assert fast(document) is None


async def test_a_guard_on_the_guard_apps_document_reads_what_graphql_core_writes(sqlite_site: Site) -> None:
    """Through a real server: the guard app's document (fast render, written by DirectFrames) and the
    same fields through a fragment (Strawberry's own execution and send) give the same event."""
    key, operation = operation_of(GATE_EVENTS)
    assert fast_render.renderer_for(key, operation) is not None
    rendered_doc = (
        "subscription { gateEvents { ...E } } fragment E on GateEvent { id at decision reason method direction "
        "gate { id name } person { id displayName } }"
    )
    assert fast(rendered_doc) is None
    (fast_text, fast_event), (slow_text, slow_event) = await alices_passage_on_two_feeds(
        sqlite_site, GATE_EVENTS, rendered_doc
    )
    assert sqlite_site.demo is not None
    lobby_in = sqlite_site.demo.gates[LOBBY_IN]
    assert fast_event == slow_event
    assert json.loads(fast_text) == json.loads(slow_text)
    assert (fast_event["gate"]["id"], fast_event["person"]["displayName"]) == (lobby_in, "Alice Li")
