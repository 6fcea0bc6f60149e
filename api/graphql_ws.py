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

Live gate events to guards (issue 13) skip the ASGI send: 50 guards at 500 scans/s are 25,000
messages a second, and a send through Starlette and uvicorn (one frame, one write system call each)
cost more than the worker had to spare. A subscription whose events are rendered once for all
(schema/scan/shared_render.py `LIVE_PUSH`) hands the encoded payload to its connection's
`DirectFrames`, which wraps it in the `next` message and a WebSocket frame; what queued up for a
socket goes in one `transport.write`, at most every FLUSH_SECONDS (10 ms). Everything else
on the connection (`connection_ack`, `pong`, errors, `complete`, other operations) still goes
through the ASGI send, after what was queued directly, so a socket's messages keep their order.
A guard whose socket has more than MAX_UNSENT_BYTES unwritten (a client not reading) is ended as
one whose bus queue is full: "you fell behind the stream; subscribe again" (UNAVAILABLE).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncGenerator
from datetime import timedelta
from json import JSONDecodeError
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from starlette.types import ASGIApp, Receive, Scope, Send
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
from websockets.protocol import State

from api import heavy_pacing
from api.admission import admit, over_time, refusal_error, shows_schema, without_suggestions
from devices.frames.budget import CLOSE_OVER_BUDGET, Bucket
from realtime import metrics
from resolvers.core.errors import ErrorCode
from resolvers.runtime import Runtime
from schema.core import limits
from schema.core.context import Context
from schema.root import schema
from schema.scan.shared_render import LIVE_PUSH

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
# A socket's unwritten bytes beyond which a directly pushed subscription has fallen behind: about
# the bus's 10,000 queued events (realtime/bus.py SUBSCRIBER_QUEUE_SIZE) of a guard's ~400 bytes.
MAX_UNSENT_BYTES = 4 * 1024 * 1024
# Live events queued for sockets are written at most this often: ~5 events a write per guard at
# 500 scans/s, instead of a write system call per event and guard; well within the 50 ms aim.
FLUSH_SECONDS = 0.01
RAW_SEND = "gatehouse.raw_send"  # the scope key KeepRawSend stores the server's own send under


class KeepRawSend:
    """ASGI middleware (outside Starlette's exception wrapper, which wraps `send`): keeps the
    server's own send callable in a WebSocket's scope, where `DirectFrames` finds its transport."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def _frame(message: bytes) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 5.2), as a server sends it."""
    n = len(message)
    if n < 126:
        return b"\x81" + bytes((n,)) + message
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + message
    return b"\x81\x7f" + n.to_bytes(8, "big") + message


class DirectFrames:
    """A connection's frames written straight to uvicorn's transport (websockets-sansio), several
    messages in one write. Uncompressed frames are valid with permessage-deflate too (RFC 7692:
    RSV1 unset) and leave its compression context alone."""

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    @classmethod
    def of(cls, scope: Scope) -> DirectFrames | None:
        """For a connection served by uvicorn's websockets-sansio protocol; None under any other."""
        try:
            from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
        except ImportError:
            return None
        protocol = getattr(scope.get(RAW_SEND), "__self__", None)
        return cls(protocol) if isinstance(protocol, WebSocketsSansIOProtocol) else None

    def _open(self) -> bool:
        protocol = self._protocol
        return (
            not protocol.close_sent
            and not protocol.disconnected
            and protocol.conn.state is State.OPEN
            and not protocol.transport.is_closing()
        )

    def add(self, message: bytes) -> bool:
        """Queue one message; False (nothing queued) when the socket is that far behind."""
        unsent = self._pending_bytes + self._protocol.transport.get_write_buffer_size()
        if unsent > MAX_UNSENT_BYTES:
            return False
        frame = _frame(message)
        if not self._pending:
            _FLUSHER.mark(self)
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        return True

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if self._open():  # a closed socket's messages go nowhere, as a failed ASGI send's
            self._protocol.transport.write(data)


class _Flusher:
    """Writes every socket's queued frames, at most once per FLUSH_SECONDS: a write system call
    (with loopback or a NIC, most of a push's cost) then carries all the events of that interval.
    The first event after a quiet spell goes out at the end of the loop's turn, without waiting."""

    def __init__(self) -> None:
        self._dirty: dict[DirectFrames, None] = {}
        self._scheduled = False
        self._last = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def mark(self, frames: DirectFrames) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests run several): nothing of the old one counts
            self._loop, self._dirty, self._scheduled, self._last = loop, {}, False, 0.0
        self._dirty[frames] = None
        if self._scheduled:
            return
        self._scheduled = True
        wait = self._last + FLUSH_SECONDS - loop.time()
        if wait > 0:
            loop.call_later(wait, self._flush)
        else:
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        self._last = asyncio.get_running_loop().time()
        dirty, self._dirty = self._dirty, {}
        for frames in dirty:
            frames.flush()


_FLUSHER = _Flusher()


class OperationPush:
    """One subscription's `LivePush`: its `next` messages through its connection's DirectFrames."""

    def __init__(self, frames: DirectFrames, operation_id: str) -> None:
        self._frames = frames
        self._prefix = b'{"id":' + json.dumps(operation_id).encode() + b',"type":"next","payload":'

    def push(self, payload: bytes) -> bool:
        return self._frames.add(self._prefix + payload + b"}")


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
        self.direct = DirectFrames.of(request.scope)

    async def send_json(self, message: Any) -> None:
        if self.direct is not None:
            self.direct.flush()  # what was pushed directly goes first
        await super().send_json(message)

    async def close(self, code: int, reason: str) -> None:
        if self.direct is not None:
            self.direct.flush()
        await super().close(code, reason)

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
        self._fields: dict[str, str] = {}  # operation id -> its subscription field, until its task starts

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
        if admission.kind == "subscription":
            self._fields[operation_id] = subscription_field(admission.query, payload.get("operationName"))
        await super().handle_subscribe(message)
        if operation_id not in self.operations:
            self._kinds.pop(operation_id, None)
            self._fields.pop(operation_id, None)

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
        if kind == "subscription":
            adapter = self.websocket
            direct = adapter.direct if isinstance(adapter, LimitedWebSocketAdapter) else None
            # The subscription's resolver runs in this task: it sees the push it may use.
            LIVE_PUSH.set(OperationPush(direct, operation.id) if direct is not None else None)
            subscribers = metrics.GRAPHQL_SUBSCRIBERS.labels(self._fields.pop(operation.id, "other"))
            subscribers.inc()
            try:
                await super().run_operation(operation)
            finally:
                subscribers.dec()
            return
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
        self._fields.pop(operation_id, None)
        await super().cleanup_operation(operation_id)

    async def send_message(self, message: Message) -> None:
        payload: Any = message.get("payload")
        if message["type"] in ("error", "next") and not shows_schema(self.rt.settings, self.context.actor):
            errors = payload if message["type"] == "error" else (payload or {}).get("errors")
            for error in errors or ():
                if isinstance(error, dict) and isinstance(error.get("message"), str):
                    error["message"] = without_suggestions(error["message"])
        await super().send_message(message)


@functools.cache
def _subscription_fields() -> frozenset[str]:
    subscription = schema._schema.subscription_type
    return frozenset(subscription.fields) if subscription is not None else frozenset()


def subscription_field(query: str | None, operation_name: object) -> str:
    """The root field a subscription document asks for (the metrics' label): one of the schema's,
    or "other", so a client cannot make up label values."""
    if not isinstance(query, str):
        return "other"
    # The text was analysed (and cached) by the admission just before.
    operation = limits.analyse(query).operation(operation_name if isinstance(operation_name, str) else None)
    if operation is None or not operation.root_fields:
        return "other"
    name = operation.root_fields[0][1]
    return name if name in _subscription_fields() else "other"


def connection_init_timeout() -> timedelta:
    return timedelta(seconds=CONNECTION_INIT_SECONDS)
