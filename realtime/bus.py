"""The event bus: publish JSON messages on named channels, subscribe with an async iterator.

Two backends behind one contract (after encode/broadcaster): `MemoryBus` for one
process, `RedisBus` when GATEHOUSE_REDIS_URL is set so an event published by one
worker reaches subscribers on every worker. `publish` never waits on the network:
it queues the message and a background task sends it, so the scan path is never
held up by a slow subscriber or a slow Redis.

`send` and `receive` carry the typed messages of realtime/messages.py (one per channel);
`publish` and `subscribe` are the raw JSON layer underneath.

On Redis a worker's messages reach its own subscribers at once, in the process, and the other
workers through Redis: what the send loop has queued goes out as one Redis message (a batch,
on a channel naming the worker), which each worker unpacks, skipping its own. A gate event was
one PUBLISH and one message received back by the very worker that published it; at the rush
a batch carries hundreds (about a tenth of a PostgreSQL server's CPU per scan, issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Generic

from realtime.messages import BusMessage, M, MalformedMessage
from realtime.redis_pipe import PipelinedRedis

log = logging.getLogger("gatehouse.bus")

SUBSCRIBER_QUEUE_SIZE = 10_000
OUTBOX_SIZE = 100_000
BATCH_MAX = 500
# A batch's channel is this, then the publishing worker's origin id; no message channel starts so.
BATCH_CHANNEL = "~batch:"


class SubscriberOverflow(Exception):
    """A subscriber fell too far behind; its stream ends rather than silently skipping events."""


class Subscription:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        # One slot more than the limit, for the end-of-stream marker.
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE + 1)
        self.overflowed = False

    def deliver(self, message: dict[str, Any]) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= SUBSCRIBER_QUEUE_SIZE:
            # Everything already queued is kept; the stream then ends so the client knows.
            self.overflowed = True
            log.warning("subscriber on %s overflowed; closing its stream", self.channel)
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(message)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        message = await self.queue.get()
        if message is None:
            raise SubscriberOverflow(self.channel)
        return message


class Received(Generic[M]):
    """The messages of one channel, decoded; a malformed one is logged and skipped, never raised,
    so a bad publisher cannot end a subscriber's stream. An overflow still ends it."""

    def __init__(self, sub: Subscription, kind: type[M]) -> None:
        self._sub = sub
        self._kind = kind

    def __aiter__(self) -> Received[M]:
        return self

    async def __anext__(self) -> M:
        while True:
            raw = await self._sub.__anext__()
            # Every subscriber of a channel gets the same dict: it is decoded once for all of them
            # (50 guards on gateEvents were 50 decodes per event). Messages are frozen: sharing is safe.
            shared = _decoded.get(id(raw))
            if shared is not None and shared[0] is raw and type(shared[1]) is self._kind:
                return shared[1]
            try:
                message = self._kind.decode(raw)
            except MalformedMessage as exc:
                log.warning("dropped a malformed message: %s", exc)
                continue
            _decoded[id(raw)] = (raw, message)  # the raw dict is kept with it: its id is not reused meanwhile
            if len(_decoded) > DECODED_KEPT:
                del _decoded[next(iter(_decoded))]
            return message


DECODED_KEPT = 1024
_decoded: dict[int, tuple[dict[str, Any], BusMessage]] = {}


class Bus:
    """Local fan-out shared by both backends; subclasses say how a message travels."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def send(self, message: BusMessage) -> None:
        """Publish a typed message on its channel (never waits, like `publish`)."""
        self.publish(message.CHANNEL, message.encode())

    def has_subscribers(self, channel: str) -> bool:
        """Whether a message on `channel` could reach anyone: on Redis, always (other workers)."""
        return True

    @property
    def queued(self) -> int:
        """Messages waiting to leave this process (the gatehouse_queue_depth metric); none in memory."""
        return 0

    @contextlib.asynccontextmanager
    async def receive(self, kind: type[M]) -> AsyncIterator[Received[M]]:
        """Subscribe to `kind`'s channel and iterate its decoded messages."""
        async with self.subscribe(kind.CHANNEL) as sub:
            yield Received(sub, kind)

    def _fan_out(self, channel: str, message: dict[str, Any]) -> None:
        for sub in list(self._subscribers.get(channel, ())):
            sub.deliver(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        sub = Subscription(channel)
        self._subscribers[channel].add(sub)
        try:
            yield sub
        finally:
            self._subscribers[channel].discard(sub)
            if not self._subscribers[channel]:
                del self._subscribers[channel]


class MemoryBus(Bus):
    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._fan_out(channel, message)

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._subscribers


class RedisBus(Bus):
    def __init__(self, url: str, prefix: str = "gatehouse:") -> None:
        super().__init__()
        self._url = url
        self.PREFIX = prefix + "bus:"
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(OUTBOX_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Any = None
        # This bus's batches go out on their own channel: it skips them on the way back.
        self._own_channel = f"{self.PREFIX}{BATCH_CHANNEL}{secrets.token_hex(8)}"
        self._own_channel_bytes = self._own_channel.encode()

    async def connect(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self._url)
        await self._redis.ping()
        # Batches go out on a pipelined connection (realtime/redis_pipe.py): at a quiet site a batch
        # is one event, and redis-py's cost per command was then a gate event's.
        self._pipe = PipelinedRedis(self._url, client_name=f"{self.PREFIX}send")
        await self._pipe.call("PING")
        pubsub = self._redis.pubsub()  # confirmations too (the receive loop takes pmessages only)
        await pubsub.psubscribe(self.PREFIX + "*")
        # Listening once connected: Redis's confirmation read before anything is published (a
        # worker's own messages no longer come back through Redis to show it is listening).
        confirmed = await pubsub.get_message(timeout=5)
        if confirmed is None or confirmed.get("type") != "psubscribe":
            raise ConnectionError(f"Redis did not confirm the bus's subscription: {confirmed!r}")
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="bus-send"),
            asyncio.create_task(self._receive_loop(pubsub), name="bus-receive"),
        ]

    async def disconnect(self) -> None:
        # Let queued messages go out before closing.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drain(), timeout=2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._redis is not None:
            await self._pipe.close()
            await self._redis.aclose()

    async def _drain(self) -> None:
        await self._outbox.join()

    @property
    def queued(self) -> int:
        return self._outbox.qsize()

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        # This process's subscribers now; the message is JSON already (realtime/messages.py), so
        # they get what another worker's would after the trip through Redis.
        self._fan_out(channel, message)
        try:
            self._outbox.put_nowait((channel, message))
        except asyncio.QueueFull:
            log.error("bus outbox full; dropped a message on %s (it is stored, not pushed)", channel)

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < BATCH_MAX:
                batch.append(self._outbox.get_nowait())
            try:
                await self._pipe.call("PUBLISH", self._own_channel, json.dumps(batch, default=str))
            except Exception:
                log.exception("publishing %d messages to Redis failed", len(batch))
                await asyncio.sleep(0.5)
            finally:
                for _ in batch:
                    self._outbox.task_done()

    async def _receive_loop(self, pubsub: Any) -> None:
        while True:
            try:
                async for raw in pubsub.listen():
                    if raw.get("type") != "pmessage" or raw["channel"] == self._own_channel_bytes:
                        continue
                    self._received(raw["channel"].decode().removeprefix(self.PREFIX), raw["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Redis subscription failed; reconnecting")
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    await pubsub.psubscribe(self.PREFIX + "*")

    def _received(self, channel: str, data: bytes) -> None:
        try:
            decoded = json.loads(data)
        except ValueError:
            log.warning("ignored a non-JSON message on %s", channel)
            return
        if not channel.startswith(BATCH_CHANNEL):
            self._fan_out(channel, decoded)  # one message, as a single publish sends it
            return
        if not isinstance(decoded, list):
            log.warning("ignored a batch that is not a list on %s", channel)
            return
        for item in decoded:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                self._fan_out(item[0], item[1])
            else:
                log.warning("ignored a malformed item of a batch on %s", channel)


def make_bus(redis_url: str | None, prefix: str = "gatehouse:") -> Bus:
    return RedisBus(redis_url, prefix) if redis_url else MemoryBus()
