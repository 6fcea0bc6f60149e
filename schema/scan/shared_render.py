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

Over graphql-transport-ws a shared render goes further (`live_payload`, `LIVE_PUSH`): sharing the
execution result still cost every guard Strawberry's stream, its extensions, a JSON encoding and a
socket write per event, about 100 µs, so 25,000 pushes a second were more than a core. There the
render is the `next` message's payload, encoded once as JSON bytes, and the subscription hands those
bytes to its connection (api/graphql_ws.py), which frames them and writes what queued up for a
socket in one write. The subscription's own stream (resume, gaps, re-checks, falling behind) is
unchanged: only the per-event delivery of a live, carried event skips Strawberry.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any, Protocol, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from realtime.messages import GateEventMessage
from schema.scan.fast_render import renderer_for
from schema.scan.types import GateEvent

log = logging.getLogger("gatehouse.subscriptions")

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


class LivePush(Protocol):
    """What the WebSocket layer lends a subscription operation to deliver its events itself. What
    it queued goes out before anything the operation sends the usual way (a replayed event, an
    error, `complete`)."""

    def push(self, payload: bytes) -> bool:
        """Queue a `next` message with this payload (JSON bytes) for the socket; False when the
        client has fallen too far behind (its unsent bytes are over the limit): nothing queued."""
        ...


# Set by api/graphql_ws.py for a subscription operation's task (its resolver runs in it); unset
# (None) wherever else a subscription runs: then every event goes through Strawberry.
LIVE_PUSH: ContextVar[LivePush | None] = ContextVar("gatehouse_live_push", default=None)

_payloads: OrderedDict[tuple[str, str | None, int], asyncio.Future[bytes | None]] = OrderedDict()
_executors: dict[tuple[str, str | None], StrawberryGraphQLCoreExecutionContext | None] = {}


def operation_key(info: GraphQLResolveInfo) -> tuple[str, str | None] | None:
    """The way of asking this operation stands for, when its live events can be rendered once for
    all who ask alike; None when they cannot."""
    operation = info.operation
    if operation.loc is None:
        return None
    key = (operation.loc.source.body, operation.name.value if operation.name is not None else None)
    known = _shareable.get(key)
    if known is None:
        if len(_shareable) > 1024:
            _shareable.clear()
        known = _shareable[key] = shareable_selection(operation.selection_set)
    return key if known else None


def _executor(
    key: tuple[str, str | None], schema: GraphQLSchema, operation: OperationDefinitionNode
) -> StrawberryGraphQLCoreExecutionContext | None:
    """One executor per way of asking, for its selection alone: a shareable selection uses no
    variable, and the root field's arguments only chose the events (the resolver's business)."""
    if key in _executors:
        return _executors[key]
    if len(_executors) > 256:
        _executors.clear()
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    selection = FieldNode(
        alias=root.alias, name=root.name, arguments=(), directives=(), selection_set=root.selection_set
    )
    document = DocumentNode(
        definitions=(
            OperationDefinitionNode(
                operation=OperationType.SUBSCRIPTION,
                name=operation.name,
                variable_definitions=(),
                directives=(),
                selection_set=SelectionSetNode(selections=(selection,)),
            ),
        )
    )
    # No context: what a shared render reads may not depend on who asks (a resolver that reaches
    # for the context fails, and the event goes to each guard the usual way).
    built = StrawberryGraphQLCoreExecutionContext.build(schema, document)
    executor = built if isinstance(built, StrawberryGraphQLCoreExecutionContext) else None
    _executors[key] = executor
    return executor


def _start_render(
    key: tuple[str, str | None], info: GraphQLResolveInfo, message: GateEventMessage
) -> bytes | Awaitable[Any] | None:
    """The payload, rendered now when the execution needs no await (the carried fields are plain
    values: always, for a shareable selection); else the execution still to be awaited. A selection
    the server knows exactly (the guard app's) is rendered without graphql-core (fast_render.py)."""
    fast = renderer_for(key, info.operation)
    if fast is not None:
        return fast(message)  # None for a value this release does not know: the usual path skips it
    try:
        event = GateEvent.of_message(message)
    except ValueError:
        return None  # the usual path logs and skips it
    if not _carried(event):
        return None
    executor = _executor(key, info.schema, info.operation)
    if executor is None:
        return None
    result = executor.build_per_event_executor(event).execute_operation(False)
    if executor.is_awaitable(result):
        return cast(Awaitable[Any], result)
    return _encoded(result)


def _encoded(result: Any) -> bytes | None:
    if not isinstance(result, ExecutionResult) or result.errors:
        return None
    return json.dumps({"data": result.data}, separators=(",", ":")).encode()


def ready_payload(key: tuple[str, str | None], message_id: int) -> bytes | None:
    """The payload another subscriber already rendered for this event, without a coroutine (at 50
    guards, 49 of every 50 calls; issue 13); None: not rendered yet, or not to be shared (then
    `live_payload` says which)."""
    shared = _payloads.get((*key, message_id))
    if shared is None or not shared.done() or shared.cancelled() or shared.exception() is not None:
        return None
    result: bytes | None = shared.result()
    return result


async def live_payload(
    key: tuple[str, str | None], info: GraphQLResolveInfo, message: GateEventMessage
) -> bytes | None:
    """The `next` payload of a live event for this way of asking, rendered and encoded once for
    every subscriber (kept as long as a shared render); None: render it the usual way."""
    pkey = (*key, message.id)
    shared = _payloads.get(pkey)
    if shared is None:
        # The first subscriber renders in its own task, awaiting nothing when the execution needs no
        # await: as a task of its own (awaited by each subscriber) every event cost each guard's
        # stream two or more turns of the event loop, and at 500 events/s on a busy loop one guard's
        # stream fell seconds behind (issue 13). The others wait for its result; should it be
        # cancelled half-way (its guard left), they each render their own.
        shared = asyncio.get_running_loop().create_future()
        _payloads[pkey] = shared
        while len(_payloads) > KEPT:
            _payloads.popitem(last=False)
        try:
            started = _start_render(key, info, message)
            payload = started if started is None or isinstance(started, bytes) else _encoded(await started)
        except asyncio.CancelledError:
            shared.cancel()
            raise
        except Exception as exc:  # each renders its own, and the usual path reports it
            shared.set_exception(exc)
            shared.exception()  # retrieved: the others find it here, nothing to log at collection
            log.debug("shared render of gate event %s failed", message.id, exc_info=exc)
            return None
        shared.set_result(payload)
        return payload
    if not shared.done():
        await asyncio.wait((shared,))  # a subscriber cancelled here does not cancel the render
    if shared.cancelled():
        return None
    if shared.exception() is not None:  # each renders its own, and the usual path reports it
        log.debug("shared render of gate event %s failed", message.id, exc_info=shared.exception())
        return None
    return shared.result()
