"""One render of a live gate event for every guard who asked for it the same way (issue 13).

Each `gateEvents` subscriber used to run the whole GraphQL execution for every event: with 50
guards at 500 scans/s that is 25,000 executions a second (about 125 µs each on this project's
machine), more than the worker has. The guard app's document asks only for what the bus message
carries (the event's own fields, its gate's id/name/direction, its person's id/displayName), and
none of those depends on who asks (no field permissions, no loaders). So for such a selection the
first subscriber's execution result is shared with the others: keyed by the document, the
operation, the variables and the event id, rendered once (in a task of its own, so a subscriber
leaving half-way cancels nobody's) and kept for the few moments the fan-out takes.

Anything else — another field, a fragment, a directive, an event read back from the log (its gate
and person come from loaders), a result with errors — is executed per subscriber, as before.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

from graphql import ExecutionResult, FieldNode, OperationType, SelectionSetNode
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.scan.types import GateEvent

ROOT_FIELD = "gateEvents"
# Per object: the fields a selection may name to be shared (None: a leaf; a set: its sub-selection).
EVENT_FIELDS: dict[str, frozenset[str] | None] = {
    "__typename": None,
    "id": None,
    "at": None,
    "decision": None,
    "reason": None,
    "method": None,
    "direction": None,
    "offline": None,
    "cursor": None,
    "gate": frozenset({"__typename", "id", "name", "direction"}),
    "person": frozenset({"__typename", "id", "displayName"}),
}
# Renders kept: about 8 s of events at 500 scans/s. A guard that falls further behind than that
# renders its own (more work exactly when the worker is short of time: keep it generous).
KEPT = 4096

_renders: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = OrderedDict()
_shareable: dict[tuple[str, str | None], bool] = {}


def _plain(node: FieldNode) -> bool:
    return not node.directives and not node.arguments


def _leaves_within(selection: SelectionSetNode | None, allowed: frozenset[str]) -> bool:
    if selection is None:
        return False
    for node in selection.selections:
        if not isinstance(node, FieldNode) or not _plain(node) or node.selection_set is not None:
            return False
        if node.name.value not in allowed:
            return False
    return True


def shareable_selection(selection: SelectionSetNode) -> bool:
    """`gateEvents(...)` alone, selecting only fields the bus message carries, without fragments
    or directives."""
    if len(selection.selections) != 1:
        return False
    root = selection.selections[0]
    if not isinstance(root, FieldNode) or root.name.value != ROOT_FIELD or root.directives:
        return False
    if root.selection_set is None:
        return False
    for node in root.selection_set.selections:
        if not isinstance(node, FieldNode) or not _plain(node) or node.name.value not in EVENT_FIELDS:
            return False
        sub = EVENT_FIELDS[node.name.value]
        if sub is None:
            if node.selection_set is not None:
                return False
        elif not _leaves_within(node.selection_set, sub):
            return False
    return True


def _carried(event: object) -> bool:
    """Built from a bus message: its gate and person render without a query."""
    return (
        isinstance(event, GateEvent)
        and event.carried_gate_ is not None
        and (event.person_id_ is None or event.carried_person_ is not None)
    )


class SharedEventRender(StrawberryGraphQLCoreExecutionContext):
    """The schema's execution context: a live gate event is rendered once per way of asking."""

    def _share_key(self) -> tuple[Any, ...] | None:
        operation = self.operation
        if operation.operation is not OperationType.SUBSCRIPTION or operation.loc is None:
            return None
        if not _carried(self.root_value):
            return None
        body = operation.loc.source.body
        name = operation.name.value if operation.name is not None else None
        known = _shareable.get((body, name))
        if known is None:
            if len(_shareable) > 1024:
                _shareable.clear()
            known = _shareable[(body, name)] = shareable_selection(operation.selection_set)
        if not known:
            return None
        try:
            variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
        return (body, name, variables, str(self.root_value.id))

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._share_key()
        if key is None:
            return super().execute_operation(serially)
        shared = _renders.get(key)
        if shared is not None:
            return self._reuse(shared, serially)
        result = super().execute_operation(serially)
        if not self.is_awaitable(result):
            if isinstance(result, ExecutionResult) and not result.errors:
                self._keep(key, _done(result))
            return result
        task = asyncio.ensure_future(result)
        self._keep(key, task)
        return asyncio.shield(task)

    @staticmethod
    def _keep(key: tuple[Any, ...], render: asyncio.Future[Any]) -> None:
        _renders[key] = render
        while len(_renders) > KEPT:
            _renders.popitem(last=False)

    async def _reuse(self, shared: asyncio.Future[Any], serially: bool | None) -> Any:
        try:
            result = await asyncio.shield(shared)
        except asyncio.CancelledError:
            if shared.cancelled():  # the render itself was cancelled, not this subscriber
                result = None
            else:
                raise
        except Exception:  # the first render failed: this subscriber renders its own
            result = None
        if isinstance(result, ExecutionResult) and not result.errors:
            return result
        own = super().execute_operation(serially)
        return await own if self.is_awaitable(own) else own


def _done(result: ExecutionResult) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future
