"""graphql-transport-ws on /graphql under the same limits as HTTP POST (issue 11).

Every `subscribe` message — a subscription, or a query or mutation sent over the socket, which
the protocol allows — goes through api/admission.py, as an HTTP request does: a refused one gets
an `error` message for its id with the same `extensions.code` (and `extensions.limit`), nothing
runs, and the connection stays open. A query runs under the same time budget
(GATEHOUSE_OPERATION_SECONDS); subscriptions live as long as the client wants them.

What one connection may cost besides its operations:
- a message is at most GATEHOUSE_MAX_BODY_BYTES (64 KiB, the HTTP body limit): a larger one closes
  the socket with 4413; above uvicorn's `ws_max_size` (the device protocol's 1 MiB) the server's
  websockets layer closes it with 1009 before the app reads it;
- `connection_init` within CONNECTION_INIT_SECONDS of the handshake, or 4408;
- at most MAX_SUBSCRIPTIONS operations at once: the next gets an `error` (`limit: subscriptions`);
- at most MAX_CONNECTIONS_PER_SESSION sockets per sign-in session, and
  MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS anonymous ones per address, in one worker: the next is
  closed with 4429 right after its `connection_ack`;
- a message budget (token buckets, like the gates' frame budget in devices/frames/budget.py): a
  client flooding messages or refused operations is closed with 4429. The reader yields to the
  other connections between two messages, so a flood on one socket is one socket's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncGenerator
from datetime import timedelta
from json import JSONDecodeError
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from api import heavy_pacing
from api.admission import admit, over_time, refusal_error, shows_schema, without_suggestions
from devices.frames.budget import CLOSE_OVER_BUDGET, Bucket
from resolvers.core.errors import ErrorCode
from resolvers.runtime import Runtime
from schema.core.context import Context

if TYPE_CHECKING:
    from strawberry.http.async_base_view import AsyncBaseHTTPView

log = logging.getLogger("gatehouse.graphql")

CLOSE_TOO_BIG = 4413  # "content too large" in the 4xxx application range, as 4429 is for 429
CONNECTION_INIT_SECONDS = 5.0
MAX_SUBSCRIPTIONS = 20  # the guard app runs 2, the console 3: 20 is a leak or an attack
MAX_CONNECTIONS_PER_SESSION = 10  # one app holds one; reconnects overlap a little
MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS = 20  # not signed in: only signing in runs (an office NAT shares one)
# An app sends connection_init, a few subscribes and a ping now and then; a burst covers a
# console that (re)subscribes everything at once after a reconnect.
MESSAGES_PER_SECOND, MESSAGES_BURST = 20.0, 100.0
BYTES_PER_SECOND, BYTES_BURST = 256.0 * 1024, 1024.0 * 1024
# Refused operations (over a limit, untrusted, introspection): a client looping on them is cut sooner.
REFUSED_PER_SECOND, REFUSED_BURST = 1.0, 20.0


class MessageBudget:
    """The budgets of one connection; `over` names the one a message broke (None while within)."""

    def __init__(self) -> None:
        self.messages = Bucket(MESSAGES_PER_SECOND, MESSAGES_BURST)
        self.bytes = Bucket(BYTES_PER_SECOND, BYTES_BURST)
        self.refused = Bucket(REFUSED_PER_SECOND, REFUSED_BURST)

    def over(self, size: int) -> str | None:
        now = time.monotonic()
        if not self.messages.take(1, now):
            return f"more than {MESSAGES_PER_SECOND:.0f} messages a second"
        if not self.bytes.take(size, now):
            return f"more than {BYTES_PER_SECOND / 1024:.0f} KiB a second"
        return None

    def over_on_refusal(self) -> str | None:
        if not self.refused.take(1, time.monotonic()):
            return f"more than {REFUSED_PER_SECOND:.0f} refused operations a second"
        return None


def _runtime(view: Any) -> Runtime:
    rt: Runtime = view.rt  # GatehouseGraphQL (api/graphql_http.py) holds it
    return rt


def _pacer(view: Any) -> heavy_pacing.HeavyPacer:
    pacer: heavy_pacing.HeavyPacer = view._pacer  # one per worker, shared with HTTP requests
    return pacer


def _holders(view: Any) -> Counter[str]:
    holders: Counter[str] = view.ws_holders  # "session 12" / "address 10.0.0.7" -> its open sockets
    return holders


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's reader, with the message size and budget checked before a message is decoded."""

    def __init__(
        self, view: AsyncBaseHTTPView[Any, Any, Any, Any, Any, Any, Any], request: WebSocket, response: WebSocket
    ) -> None:
        super().__init__(view, request, response)
        self.max_bytes = _runtime(view).settings.max_body_bytes
        self.budget = MessageBudget()

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                size = len(text) if text.isascii() else len(text.encode())
                if size > self.max_bytes:
                    await self.close(CLOSE_TOO_BIG, f"message larger than {self.max_bytes} bytes")
                    return
                why = self.budget.over(size)
                if why is not None:
                    await self.cut_off(why)
                    return
                try:
                    yield self.view.decode_json(text)
                except JSONDecodeError as e:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from e
                # Messages already queued would otherwise be read without a pause: let the other
                # connections (and the gates) have their turn between two messages of this one.
                await asyncio.sleep(0)
        except KeyError as e:
            raise NonTextMessageReceived from e
        except WebSocketDisconnect:
            pass

    async def cut_off(self, why: str) -> None:
        log.warning("a GraphQL WebSocket client sent %s: disconnected", why)
        await self.close(CLOSE_OVER_BUDGET, "message budget exceeded")


class LimitedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with every operation admitted as HTTP admits a request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rt = _runtime(self.view)
        # operation id -> its kind and cost, until its task starts
        self._kinds: dict[str, tuple[str | None, int]] = {}
        self._holder: str | None = None  # the session or address this connection is counted against

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if self._holder is not None:
                holders = _holders(self.view)
                holders[self._holder] -= 1
                if holders[self._holder] <= 0:
                    del holders[self._holder]

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if not self.connection_acknowledged or self._holder is not None:
            return
        # A signed-in socket counts against its session; an anonymous one against its address
        # (it can only sign in: there is no reason to hold many).
        actor = self.context.actor
        holder, cap = (
            (f"session {actor.session_id}", MAX_CONNECTIONS_PER_SESSION)
            if actor is not None
            else (f"address {self.context.address}", MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS)
        )
        holders = _holders(self.view)
        if holders[holder] >= cap:
            log.warning("%s opened more than %s GraphQL WebSockets", holder, cap)
            await self.websocket.close(CLOSE_OVER_BUDGET, "too many connections")
            return
        holders[holder] += 1
        self._holder = holder

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        operation_id: Any = message["id"]
        if not isinstance(operation_id, str):
            await self.handle_invalid_message("Failed to parse message")  # an unhashable id must not reach the dict
            return
        if not self.connection_acknowledged or operation_id in self.operations or not isinstance(payload, dict):
            await super().handle_subscribe(message)  # closes the socket (4401, 4409, 4400) as before
            return
        if len(self.operations) >= MAX_SUBSCRIPTIONS:
            await self._refuse(
                operation_id,
                refusal_error(
                    ErrorCode.BAD_USER_INPUT,
                    f"at most {MAX_SUBSCRIPTIONS} operations at once on one connection: complete one first",
                    "subscriptions",
                ),
            )
            return
        admission = admit(
            self.rt.settings,
            self.context.actor,
            payload.get("query"),
            payload.get("operationName"),
            payload.get("variables"),
            payload.get("extensions"),
        )
        if admission.refusal is not None:
            await self._refuse(operation_id, admission.refusal)
            return
        if admission.query is not None and admission.query != payload.get("query"):
            # A persisted query: run its trusted text.
            message = {**message, "payload": {**payload, "query": admission.query}}
        self._kinds[operation_id] = (admission.kind, admission.cost)
        await super().handle_subscribe(message)
        if operation_id not in self.operations:
            self._kinds.pop(operation_id, None)

    async def _refuse(self, operation_id: str, error: GraphQLError) -> None:
        await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})
        adapter = self.websocket
        if isinstance(adapter, LimitedWebSocketAdapter):
            why = adapter.budget.over_on_refusal()
            if why is not None:
                await adapter.cut_off(why)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        kind, cost = self._kinds.pop(operation.id, (None, 0))
        try:
            # Gates first, as over HTTP (api/heavy_pacing.py); a subscription's cost is not work done now.
            async with _pacer(self.view).turn(0 if kind == "subscription" else cost):
                await self._run_operation(operation, kind)
        except heavy_pacing.Busy as busy:
            await self._send_error(operation, busy.error())

    async def _send_error(self, operation: Operation[Context, None], error: GraphQLError) -> None:
        with contextlib.suppress(WebSocketDisconnected):
            await operation.send_operation_message({"id": operation.id, "type": "error", "payload": [error.formatted]})

    async def _run_operation(self, operation: Operation[Context, None], kind: str | None) -> None:
        if kind != "query":
            # Subscriptions live as long as the client wants; mutations are not cancelled half-way.
            await super().run_operation(operation)
            return
        seconds = self.rt.settings.operation_seconds
        try:
            async with asyncio.timeout(seconds):
                await super().run_operation(operation)
        except TimeoutError:
            log.warning("a query over the WebSocket ran over its %s s budget and was cancelled", seconds)
            await self._send_error(operation, over_time(seconds))

    async def cleanup_operation(self, operation_id: str) -> None:
        self._kinds.pop(operation_id, None)  # completed before its task started
        await super().cleanup_operation(operation_id)

    async def send_message(self, message: Message) -> None:
        payload: Any = message.get("payload")
        if message["type"] in ("error", "next") and not shows_schema(self.rt.settings, self.context.actor):
            errors = payload if message["type"] == "error" else (payload or {}).get("errors")
            for error in errors or ():
                if isinstance(error, dict) and isinstance(error.get("message"), str):
                    error["message"] = without_suggestions(error["message"])
        await super().send_message(message)


def connection_init_timeout() -> timedelta:
    return timedelta(seconds=CONNECTION_INIT_SECONDS)
