"""One pipelined Redis connection for the scan path's few commands (its scripts).

Through redis-py every command takes a pooled connection, wraps itself in a retry and a timeout,
packs its arguments through several layers and writes on its own: 40–100 µs of the server's CPU a
command, a third of a PostgreSQL + Redis scan (README, "Scan path cost (issue 13)"). Here commands
share one connection, the way Redis is meant to be pipelined: each is packed once, the commands
issued in one turn of the event loop leave in one write, and the replies, which Redis sends in
the order of the commands, are parsed by hiredis as they arrive and handed to their callers in
that order. Redis runs commands one at a time whatever the number of connections, so one is enough.

A connection that fails (Redis restarted, the connection killed) fails the commands waiting on it
with `ConnectionError`; `call` then retries on a fresh connection, as the redis-py pool's retry did
(a command may thus run twice: the scan state's scripts allow for it, see realtime/scan_state.py).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
import time
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from realtime import metrics

RETRIES = 3
CONNECT_TIMEOUT = 5.0


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8")
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        if self.lost or self.transport is None:
            raise RedisConnectionError("the Redis connection is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(packed)
        self.waiting.append(future)
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not self.lost and self.transport is not None:
            self.transport.write(b"".join(pending))

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if future.done():  # its caller was cancelled; the reply is still Redis's next one
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        error = RedisConnectionError(f"the Redis connection was lost: {exc or 'closed by the server'}")
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


def pack(args: tuple[Any, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int | float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class PipelinedRedis:
    def __init__(self, url: str, client_name: str) -> None:
        self._options = parse_url(url)
        self._scheme = url.partition(":")[0]
        self._client_name = client_name
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._transport: asyncio.Transport | None = None

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # every caller waiting for a connection shares the one made
            protocol = self._protocol
            if protocol is not None and not protocol.lost:
                return protocol
            self._protocol = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT)
            return self._protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        options = self._options
        if "path" in options:
            transport, protocol = await loop.create_unix_connection(_Protocol, options["path"])
        else:
            tls = ssl.create_default_context() if self._scheme == "rediss" else None
            transport, protocol = await loop.create_connection(
                _Protocol, options.get("host", "localhost"), int(options.get("port", 6379)), ssl=tls
            )
        try:
            setup: list[tuple[Any, ...]] = []
            if options.get("password"):
                user = options.get("username")
                setup.append(("AUTH", user, options["password"]) if user else ("AUTH", options["password"]))
            if options.get("db"):
                setup.append(("SELECT", int(options["db"])))
            # Named as the pool's connections are, so an operator (or a test) can find and close them.
            setup.append(("CLIENT", "SETNAME", self._client_name))
            for reply in await asyncio.gather(*(protocol.send(pack(c)) for c in setup)):
                if reply != "OK":
                    raise RedisConnectionError(f"Redis refused the connection's setup: {reply!r}")
        except BaseException:
            transport.close()
            raise
        self._transport = transport
        return protocol

    async def call(self, *args: Any) -> Any:
        packed = pack(args)
        timer = metrics.redis_timer(str(args[0]))
        for attempt in range(RETRIES + 1):
            try:
                protocol = await self._connected()
                started = time.perf_counter()
                reply = await protocol.send(packed)
                timer.observe(time.perf_counter() - started)
                return reply
            except (RedisConnectionError, OSError):  # TimeoutError (connecting) is an OSError
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(min(0.5, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._protocol = None


class PipelinedScript:
    """A Lua script run by its SHA1, loaded by the EVAL of its first run on a Redis without it."""

    def __init__(self, redis: PipelinedRedis, source: str) -> None:
        self._redis = redis
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._redis.call("EVALSHA", self._sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self._redis.call("EVAL", self._source, len(keys), *keys, *args)
