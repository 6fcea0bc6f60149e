"""The guard apps' live gate events rendered without graphql-core (issue 13).

A live event's `next` payload is rendered once for every guard who asked alike
(schema/scan/shared_render.py), but that one graphql-core execution per event was still ~15% of a
worker serving 50 guards at 500 scans/s. The guard app's subscription is a fixed document
(mobile_contracts/guard.graphql `GateEvents`): for a selection the server knows field for field,
the payload is built here in plain Python from the bus message, the same JSON the execution gives
(tests/test_fast_render.py compares the two over varied events).

"Knows" is strict: the operation's `gateEvents` selection, printed, must equal one of the
subscriptions in mobile_contracts/ (so the same fields in the same order, no alias, fragment,
directive or variable in it), the root field unaliased and without directives, the operation
without directives. Anything else — another field, an alias, `@include`, a fragment — goes
through graphql-core as before. A selection the compiler below cannot render (a field that needs a
loader, such as `gate { zone }`) is not known either.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from graphql import FieldNode, OperationDefinitionNode, OperationType, SelectionSetNode, parse, print_ast

from mobile_contracts import documents
from realtime.messages import GateEventMessage, GateRef, PersonRef
from resolvers.core import models
from schema.core.pagination import encode_cursor
from schema.scan.types import EVENT_CURSOR_KIND

ROOT_FIELD = "gateEvents"
Renderer = Callable[[GateEventMessage], bytes | None]

# A message value -> its GraphQL enum name (the names are the values today; a lookup keeps it honest).
_DECISION = {m.value: m.name for m in models.Decision}
_METHOD = {m.value: m.name for m in models.EntryMethod}
_DIRECTION = {m.value: m.name for m in models.Direction}
_GATE_DIRECTION = {m.value: m.name for m in models.GateDirection}


def _enum(names: dict[str, str], value: str | None) -> str | None:
    # GateEvent.of_message: a falsy value is null; an unknown one raises (KeyError here).
    return names[value] if value else None


_EVENT_LEAVES: dict[str, Callable[[GateEventMessage], Any]] = {
    "__typename": lambda m: "GateEvent",
    "id": lambda m: str(m.id),
    "at": lambda m: m.at.isoformat(),
    "decision": lambda m: _enum(_DECISION, m.decision),
    "reason": lambda m: m.reason,
    "method": lambda m: _enum(_METHOD, m.method),
    "direction": lambda m: _enum(_DIRECTION, m.direction),
    "offline": lambda m: m.offline,
    "cursor": lambda m: encode_cursor(EVENT_CURSOR_KIND, m.id),
}
_GATE_LEAVES: dict[str, Callable[[GateRef], Any]] = {
    "__typename": lambda g: "Gate",
    "id": lambda g: str(g.id),
    "name": lambda g: g.name,
    "direction": lambda g: _GATE_DIRECTION[g.direction],
}
_PERSON_LEAVES: dict[str, Callable[[PersonRef], Any]] = {
    "__typename": lambda p: "Person",
    "id": lambda p: str(p.id),
    "displayName": lambda p: p.display_name,
}


def _plain_names(selection: SelectionSetNode | None) -> list[str] | None:
    """The selection's field names in order, when every one is a plain field (no alias, argument,
    directive or fragment) named once; else None."""
    if selection is None:
        return None
    names: list[str] = []
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.alias or node.arguments or node.directives:
            return None
        if node.name.value in names:
            return None
        names.append(node.name.value)
    return names


def _object(selection: SelectionSetNode | None, leaves: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any] | None:
    names = _plain_names(selection)
    if not names or any(n not in leaves for n in names):
        return None
    assert selection is not None
    if any(isinstance(node, FieldNode) and node.selection_set is not None for node in selection.selections):
        return None
    getters = [(n, leaves[n]) for n in names]
    return lambda value: {n: get(value) for n, get in getters}


def _of_gate(render: Callable[[GateRef], Any]) -> Callable[[GateEventMessage], Any]:
    return lambda m: render(m.gate)


def _of_person(render: Callable[[PersonRef], Any]) -> Callable[[GateEventMessage], Any]:
    return lambda m: None if m.person is None else render(m.person)


def compile_selection(selection: SelectionSetNode) -> Renderer | None:
    """A renderer for `gateEvents { ... }` with this selection; None when it needs more than the
    message carries."""
    names = _plain_names(selection)
    if not names:
        return None
    getters: list[tuple[str, Callable[[GateEventMessage], Any]]] = []
    for node in selection.selections:
        assert isinstance(node, FieldNode)
        name = node.name.value
        if name in _EVENT_LEAVES and node.selection_set is None:
            getters.append((name, _EVENT_LEAVES[name]))
        elif name == "gate":
            gate = _object(node.selection_set, _GATE_LEAVES)
            if gate is None:
                return None
            getters.append((name, _of_gate(gate)))
        elif name == "person":
            person = _object(node.selection_set, _PERSON_LEAVES)
            if person is None:
                return None
            getters.append((name, _of_person(person)))
        else:
            return None

    def render(message: GateEventMessage) -> bytes | None:
        try:
            # What GateEvent.of_message refuses whether asked for or not (its usual path skips it).
            _enum(_DECISION, message.decision)
            _enum(_METHOD, message.method)
            _enum(_DIRECTION, message.direction)
            _GATE_DIRECTION[message.gate.direction]
            event = {name: get(message) for name, get in getters}
        except KeyError:
            return None
        return b'{"data":{"gateEvents":' + json.dumps(event, separators=(",", ":")).encode() + b"}}"

    return render


def _root(operation: OperationDefinitionNode) -> FieldNode | None:
    """The unaliased, undirected `gateEvents` field a subscription asks for alone, or None."""
    if operation.operation is not OperationType.SUBSCRIPTION or operation.directives:
        return None
    if len(operation.selection_set.selections) != 1:
        return None
    root = operation.selection_set.selections[0]
    if not isinstance(root, FieldNode) or root.name.value != ROOT_FIELD or root.alias or root.directives:
        return None
    return root if root.selection_set is not None else None


@functools.cache
def known_selections() -> dict[str, Renderer]:
    """The printed `gateEvents` selection of each subscription in mobile_contracts/ that this module
    can render -> its renderer."""
    known: dict[str, Renderer] = {}
    for text in documents().values():
        for definition in parse(text).definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            root = _root(definition)
            if root is None or root.selection_set is None:
                continue
            renderer = compile_selection(root.selection_set)
            if renderer is not None:
                known[print_ast(root.selection_set)] = renderer
    return known


_renderers: dict[tuple[str, str | None], Renderer | None] = {}


def renderer_for(key: tuple[str, str | None], operation: OperationDefinitionNode) -> Renderer | None:
    """The fast renderer of this operation (`key`: its document text and name), when its selection
    is one the server knows exactly; None: graphql-core renders it."""
    if key in _renderers:
        return _renderers[key]
    if len(_renderers) > 1024:
        _renderers.clear()
    root = _root(operation)
    renderer = None
    if root is not None and root.selection_set is not None:
        renderer = known_selections().get(print_ast(root.selection_set))
    _renderers[key] = renderer
    return renderer
