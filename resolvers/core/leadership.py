"""One worker leads: the site-wide background loops run in exactly one server process at a time.

The visit upkeep (reminders, overstay alerts, expiry, escalations, anonymisation, scheduled
summaries) and the fleet check (offline and below-target devices) act for the whole site; run by
every worker they did the same work N times, and the steps that are not claimed row by row (a
loan's daily reminder, a device's health alert) could be raised twice. Whatever talks to this
worker's own connections (command retries to its gates, the event writer, the device watchdog)
stays in every worker.

Which lock (GATEHOUSE_LEADER_LOCK=auto):
- PostgreSQL: a session advisory lock on a connection of its own (`pg_try_advisory_lock`). The
  database is what every worker must reach to do the work anyway, so leading does not depend on a
  second service; a holder that dies closes its connection and PostgreSQL frees the lock at once
  (a vanished host: after the TCP keepalives set on that connection, about the TTL). Chosen over
  Redis even when Redis is configured: no lease, so no clock, and no window where two hold it.
- SQLite in a file: `flock` on a file beside the database. Every process sharing a SQLite file is
  on this host, so the kernel's lock is enough and is freed the moment the holder dies. Chosen
  over Redis for the same reasons.
- Redis (GATEHOUSE_LEADER_LOCK=redis, e.g. PostgreSQL behind a transaction-pooling PgBouncer,
  where session advisory locks do not work): SET NX PX, extended by compare-and-extend, released
  by compare-and-delete; a dead holder's lease runs out after the TTL.
- SQLite in memory: every process has its own database, so each leads itself.

Fencing: a loop run through `LeaderOnly` is stopped (its task cancelled) the moment the lock is
lost, and `still_leads()` lets a loop check between side effects (a Redis lease that ran out
while the event loop was busy is not leading any more, even before the keeper notices).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import inspect
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from resolvers.core.settings import Settings

log = logging.getLogger("gatehouse.leadership")

# The leader's PostgreSQL advisory lock takes the two-key form (classid, objid): a key space of
# its own (pg_locks.objsubid = 2), apart from the single bigint keys the migrations, the commit
# order of the logs and zone moves take (714022, 714023, ... in resolvers/core/commit_order.py);
# sharing one made every gate event's transaction wait behind the leader for ever.
POSTGRES_LOCK_KEYS = (714022, 1)
APP_NAME_PREFIX = "gatehouse-leader "
HOLD_TIMEOUT = 2.0  # seconds a lock's answer may take at least, whatever the TTL (a loaded machine)


def worker_identity() -> str:
    """host:pid, what logs and /readyz show as the leader."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _Lock(Protocol):
    kind: str
    # Seconds the lock stays ours after a successful `hold` began (a lease), or None: until let go.
    lease: float | None

    async def hold(self) -> tuple[bool, str | None]:
        """Take the lock, or confirm it is still ours: (held, who holds it as far as seen)."""
        ...

    async def release(self) -> None: ...


class _LocalLock:
    """SQLite in memory: nothing is shared, so this process leads."""

    kind = "local"
    lease: float | None = None

    def __init__(self, identity: str) -> None:
        self._identity = identity

    async def hold(self) -> tuple[bool, str | None]:
        return True, self._identity

    async def release(self) -> None:
        return None


class _FileLock:
    kind = "file"
    lease: float | None = None

    def __init__(self, path: Path, identity: str) -> None:
        self.path = path
        self._identity = identity
        self._fd: int | None = None

    async def hold(self) -> tuple[bool, str | None]:
        if self._fd is not None:
            # Still ours while the file at the path is the one locked (not deleted and made anew).
            try:
                now, locked = os.stat(self.path), os.fstat(self._fd)
                if (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
                    return True, self._identity
            except FileNotFoundError:
                pass
            await self.release()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or None
            os.close(fd)
            return False, holder
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for the others' logs and /readyz (read by followers above).
        os.ftruncate(fd, 0)
        os.pwrite(fd, self._identity.encode(), 0)
        self._fd = fd
        return True, self._identity

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the only descriptor releases the flock


_REDIS_HOLD = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return ARGV[1] end
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return held
"""
_REDIS_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class _RedisLock:
    kind = "redis"

    def __init__(self, url: str, key: str, ttl: float, identity: str) -> None:
        import redis.asyncio as aioredis

        self.lease: float | None = ttl
        self.key = key
        # Unique to this instance (two in one process in the tests); the holder shown is before the space.
        self._token = f"{identity} {secrets.token_hex(8)}"
        self._r = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=max(ttl / 3, HOLD_TIMEOUT),
            socket_connect_timeout=max(ttl / 3, HOLD_TIMEOUT),
        )
        self._hold = self._r.register_script(_REDIS_HOLD)
        self._release = self._r.register_script(_REDIS_RELEASE)

    async def hold(self) -> tuple[bool, str | None]:
        held = await self._hold(keys=[self.key], args=[self._token, max(1, int((self.lease or 0) * 1000))])
        return held == self._token, (str(held).split(" ", 1)[0] if held else None)

    async def release(self) -> None:
        try:
            await self._release(keys=[self.key], args=[self._token])
        finally:
            await self._r.aclose()


class _PostgresLock:
    kind = "postgres"
    lease: float | None = None

    def __init__(self, url: str, ttl: float, identity: str, lost: Callable[[], None]) -> None:
        self._dsn = url.replace("postgres://", "postgresql://", 1).replace("asyncpg://", "postgresql://", 1)
        self._ttl = ttl
        self._identity = identity
        self._lost = lost
        self._conn: Any = None
        self._held = False

    async def _connect(self) -> Any:
        import asyncpg

        keepalive = max(1, math.ceil(self._ttl / 3))
        conn = await asyncpg.connect(
            self._dsn,
            timeout=max(self._ttl / 3, HOLD_TIMEOUT),
            server_settings={
                # Who holds the lock, as pg_stat_activity shows it to the other workers.
                "application_name": (APP_NAME_PREFIX + self._identity)[:63],
                # A holder whose host vanished (no FIN) is dropped, and its lock freed, after ~TTL.
                "tcp_keepalives_idle": str(keepalive),
                "tcp_keepalives_interval": str(keepalive),
                "tcp_keepalives_count": "2",
            },
        )
        conn.add_termination_listener(lambda _conn: self._lost())
        return conn

    async def hold(self) -> tuple[bool, str | None]:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn, self._held = None, False
                self._conn = await self._connect()
            conn = self._conn
            if self._held:
                # The lock lasts as long as the session; this round trip proves the session does.
                self._held = bool(
                    await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                        " AND pid = pg_backend_pid() AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted)",
                        *POSTGRES_LOCK_KEYS,
                    )
                )
            else:
                self._held = bool(
                    await conn.fetchval("SELECT pg_try_advisory_lock($1::int, $2::int)", *POSTGRES_LOCK_KEYS)
                )
            if self._held:
                return True, self._identity
            holder = await conn.fetchval(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                *POSTGRES_LOCK_KEYS,
            )
            return False, (holder.removeprefix(APP_NAME_PREFIX) if holder else None)
        except BaseException:
            # Unsure whether the session still holds it: end the session, which surely frees it.
            await self._drop()
            raise

    async def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def release(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), timeout=max(self._ttl / 3, 1.0))  # frees the lock
            except Exception:
                conn.terminate()


class Background(Protocol):
    """A background loop: `start()` creates its task, `stop()` cancels it (either may be async)."""

    def start(self) -> Any: ...

    def stop(self) -> Any: ...


async def _maybe_await(result: object) -> None:
    if inspect.isawaitable(result):
        await result


# The leadership a leader-only loop runs under: the loop's tasks are created in `LeaderOnly`'s
# call to its start(), so they carry it in their context, and `still_leads()` finds it.
_running_under: contextvars.ContextVar[Leadership | None] = contextvars.ContextVar("gatehouse_leader", default=None)


def still_leads() -> bool:
    """Fencing for leader-only loops: False once this worker no longer leads (check it before a
    side effect that must happen once). True outside leader-only loops."""
    leadership = _running_under.get()
    return leadership is None or leadership.is_leader


class Leadership:
    """This worker's part in choosing a leader: `start()` tries at once (a single worker leads
    before its first upkeep), then a keeper keeps the lock or keeps trying every TTL/3."""

    def __init__(self, lock: _Lock | None = None, ttl: float = 15.0, identity: str | None = None) -> None:
        self.identity = identity or worker_identity()
        self.ttl = ttl
        self._lock: _Lock = lock if lock is not None else _LocalLock(self.identity)
        self.kind = self._lock.kind
        self.leader: str | None = None  # who leads, as last seen; this worker's identity when it does
        self._leading = False
        self._valid_until = 0.0
        self._interval = ttl / 3
        self._followers: list[LeaderOnly] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._lost = False
        self._rest_until = 0.0

    @classmethod
    def for_settings(cls, settings: Settings, identity: str | None = None) -> Leadership:
        identity = identity or worker_identity()
        url = settings.database_url
        kind = settings.leader_lock
        sqlite_file = url.startswith("sqlite://") and not url.startswith("sqlite://:memory:")
        if kind == "auto":
            kind = "postgres" if not url.startswith("sqlite") else ("file" if sqlite_file else "local")
        leadership = cls(ttl=settings.leader_ttl_seconds, identity=identity)
        lock: _Lock
        if kind == "postgres":
            lock = _PostgresLock(url, settings.leader_ttl_seconds, identity, leadership._lock_lost)
        elif kind == "redis":
            assert settings.redis_url is not None  # Settings refuses redis without a URL
            key = settings.redis_prefix + "leader"
            lock = _RedisLock(settings.redis_url, key, settings.leader_ttl_seconds, identity)
        elif kind == "file":
            path = Path(url.removeprefix("sqlite://").split("?", 1)[0])
            lock = _FileLock(Path(f"{path}-leader"), identity)
        else:
            lock = _LocalLock(identity)
        leadership._lock = lock
        leadership.kind = lock.kind
        return leadership

    @property
    def is_leader(self) -> bool:
        return self._leading and time.monotonic() < self._valid_until

    def describe(self) -> dict[str, object]:
        """For a readiness endpoint: whether this worker leads, who it is, who leads as last seen."""
        return {"isLeader": self.is_leader, "worker": self.identity, "leader": self.leader, "lock": self.kind}

    def only(self, loop: Background) -> LeaderOnly:
        """`loop` run only while this worker leads: started when it becomes leader, stopped when it stops."""
        return LeaderOnly(self, loop)

    async def start(self) -> None:
        await self._round()
        self._task = asyncio.create_task(self._keep(), name="leadership")

    async def stop(self) -> None:
        """Stops leading (its loops first) and lets the lock go, so another worker takes over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._become(False, None, "this worker is stopping")
        try:
            await self._lock.release()
        except Exception:
            log.warning("could not release the leader lock (%s); it frees itself", self.kind, exc_info=True)

    def _lock_lost(self) -> None:
        """The lock's connection closed: not leading from this instant (fenced); the keeper stops
        the loops at once."""
        if self._leading:
            self._valid_until = 0.0
            self._lost = True
            self._wake.set()

    async def _keep(self) -> None:
        while True:
            wait = self._interval
            if self._leading and self._valid_until != math.inf:
                wait = min(wait, max(0.0, self._valid_until - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leadership round failed")

    async def _round(self) -> None:
        began = time.monotonic()
        if self._lost:
            # Stepped down at once; and this worker, whose connection just failed, lets the others
            # try first for two rounds rather than race them for the lock it has just lost.
            self._lost = False
            self._rest_until = began + 2 * self._interval
            await self._become(False, None, "the lock's connection was lost")
            return
        if began < self._rest_until:
            return
        try:
            # A slow answer is no danger (a lease counts from before the call), only a hung one.
            held, holder = await asyncio.wait_for(self._lock.hold(), max(self._interval, HOLD_TIMEOUT))
        except Exception as exc:
            if not self._failing:
                log.warning("leader lock (%s) unreachable: %s", self.kind, exc or type(exc).__name__)
            self._failing = True
            if self._lock.lease is not None and self.is_leader:
                return  # a lease still ours (Redis): keep leading until it runs out, unless renewed
            held, holder = False, None
        else:
            if self._failing:
                log.info("leader lock (%s) reachable again", self.kind)
            self._failing = False
        if held:
            self._valid_until = began + self._lock.lease if self._lock.lease is not None else math.inf
        await self._become(held, holder)

    async def _become(self, held: bool, holder: str | None, why: str | None = None) -> None:
        seen, self.leader = self.leader, holder
        if held == self._leading:
            if not held and holder and holder != seen:
                log.info("the leader is %s (%s lock)", holder, self.kind)
            return
        self._leading = held
        if held:
            log.info("this worker (%s) is now the leader (%s lock): site-wide loops run here", self.identity, self.kind)
            for follower in list(self._followers):
                await follower._lead()
        else:
            self._valid_until = 0.0
            for follower in list(self._followers):  # fenced first, then said
                await follower._follow()
            log.info(
                "this worker (%s) is no longer the leader: %s",
                self.identity,
                why or f"leader now: {holder or 'none (the lock is unreachable)'}",
            )


class LeaderOnly:
    """A background loop (async or plain start()/stop()) that runs only in the leading worker:
    `leadership.only(loop)` where the loop used to be started and stopped."""

    def __init__(self, leadership: Leadership, loop: Background) -> None:
        self.leadership = leadership
        self.loop = loop
        self.running = False
        self._busy: asyncio.Lock | None = None

    def _guard(self) -> asyncio.Lock:
        if self._busy is None:
            self._busy = asyncio.Lock()
        return self._busy

    async def start(self) -> None:
        self.leadership._followers.append(self)
        if self.leadership.is_leader:
            await self._lead()

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.leadership._followers.remove(self)
        await self._follow()

    async def _lead(self) -> None:
        async with self._guard():
            if self.running:
                return
            token = _running_under.set(self.leadership)
            try:
                await _maybe_await(self.loop.start())
            except Exception:
                log.exception("%s did not start", type(self.loop).__name__)
                return
            finally:
                _running_under.reset(token)
            self.running = True

    async def _follow(self) -> None:
        async with self._guard():
            if not self.running:
                return
            self.running = False
            try:
                await _maybe_await(self.loop.stop())
            except Exception:
                log.exception("%s did not stop cleanly", type(self.loop).__name__)
