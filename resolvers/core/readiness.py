"""Whether this process can serve: the checks behind `/readyz`, in one registry.

Each check is a small async function that returns when its part answers and raises (or times
out) when it does not. They run side by side, each within CHECK_SECONDS, so a database that
hangs makes `/readyz` answer "not ready" in bounded time rather than hang the load balancer's
probe with it. Features add their own checks (`Readiness.add`): a notifications outbox, say,
would add one that fails when its oldest message waits too long.

The built-in ones: the database answers a query; no migration is pending (a worker started on
an older schema than its code expects must not take traffic); Redis answers PING when the site
uses one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections

from resolvers.core import db

CHECK_SECONDS = 2.0

Check = Callable[[], Awaitable[object]]


class NotReady(Exception):
    """A check's part answers, but wrongly (what is wrong is its message)."""


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    seconds: float
    error: str | None = None
    detail: object = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "latencyMs": round(self.seconds * 1000, 3)}
        if self.error is not None:
            out["error"] = self.error
        if self.detail is not None:
            out["detail"] = self.detail
        return out


@dataclass
class Readiness:
    checks: dict[str, Check] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def add(self, name: str, check: Check, close: Callable[[], Awaitable[None]] | None = None) -> None:
        """Register `check` under `name` (replacing one of that name); `close` runs when the server stops."""
        self.checks[name] = check
        if close is not None:
            self._closers.append(close)

    async def run(self, seconds: float = CHECK_SECONDS) -> list[Result]:
        return list(await asyncio.gather(*(_run(name, check, seconds) for name, check in self.checks.items())))

    async def close(self) -> None:
        for close in self._closers:
            await close()
        self._closers.clear()


async def _run(name: str, check: Check, seconds: float) -> Result:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            detail = await check()
    except TimeoutError:
        return Result(name, False, time.perf_counter() - started, f"no answer within {seconds:g} s")
    except NotReady as exc:
        return Result(name, False, time.perf_counter() - started, str(exc))
    except Exception as exc:
        # The kind of failure only: messages can carry host names, users and database names, and
        # /readyz is open to whoever can reach the server.
        return Result(name, False, time.perf_counter() - started, f"unreachable ({type(exc).__name__})")
    return Result(name, True, time.perf_counter() - started, detail=detail)


async def database_answers() -> None:
    await connections.get("default").execute_query("SELECT 1")


def migrations_applied(database_url: str) -> Check:
    async def check() -> None:
        pending = await db.pending_migrations(database_url)
        if pending:
            raise NotReady("migrations pending: " + ", ".join(pending))

    return check


def redis_answers(redis_url: str) -> tuple[Check, Callable[[], Awaitable[None]]]:
    """A PING on a client of the check's own (with short timeouts), and how to close it."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # No retries: a Redis that is down is reported at once, the next probe asks again.
    client = aioredis.from_url(
        redis_url,
        socket_timeout=CHECK_SECONDS,
        socket_connect_timeout=CHECK_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )

    async def check() -> None:
        if not await client.ping():
            raise NotReady("Redis did not answer PONG")

    return check, client.aclose


def standard_checks(database_url: str, redis_url: str | None) -> Readiness:
    """The server's own checks: database, migrations, Redis (when the site has one)."""
    readiness = Readiness()
    readiness.add("database", database_answers)
    readiness.add("migrations", migrations_applied(database_url))
    if redis_url:
        check, close = redis_answers(redis_url)
        readiness.add("redis", check, close)
    return readiness
