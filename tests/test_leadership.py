"""Several workers agree (issue 17): the site-wide loops run in exactly one worker at a time.

Unit level: two `Leadership`s on one PostgreSQL database, one Redis and one SQLite file: exactly
one leads and runs the leader-only loop; when the leader goes (let go, its connection killed, its
process killed, its lease left to run out) the other takes over within a bounded time, and the
old one's loop is stopped (fenced). Then the issue's test: two real server processes on one
database, a visit due for a reminder and one overstaying: one reminder and one alert; the
leading process killed, the survivor takes over and raises a newly due alert once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from realtime.bus import RedisBus
from realtime.messages import VisitReminder
from resolvers.access.sites import ZONE_TREE_LOCK
from resolvers.core import leadership as leadership_module
from resolvers.core.commit_order import ALERT_LOG, GATE_EVENT_LOG
from resolvers.core.leadership import LeaderOnly, Leadership, still_leads
from resolvers.core.settings import Settings, SettingsError
from tests.harness import REDIS_URL, ServerProcess, Site, SiteTemplate, drop_postgres_database, eventually

TTL = 0.6  # the keeper checks every 0.2 s; a dead Redis holder's lease runs out in 0.6 s
TAKEOVER = 5.0  # bound on every takeover below (the design's bound is TTL + TTL/3; slack for a loaded machine)


class Probe:
    """A background loop that records whether it runs, and what `still_leads()` says inside its task."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0
        self._task: asyncio.Task[None] | None = None
        self._ask = asyncio.Queue[asyncio.Future[bool]]()

    async def start(self) -> None:
        self.running, self.starts = True, self.starts + 1
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self.running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            answer = await self._ask.get()
            answer.set_result(still_leads())

    async def leads_inside(self) -> bool:
        """`still_leads()` as the loop's own task sees it."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._ask.put_nowait(answer)
        return await asyncio.wait_for(answer, 5)


def settings(**env: str) -> Settings:
    return Settings.from_env({"GATEHOUSE_LEADER_TTL_SECONDS": str(TTL), **env})


@contextlib.asynccontextmanager
async def two(config: Settings) -> AsyncIterator[list[tuple[Leadership, LeaderOnly, Probe]]]:
    """Two workers' leaderships on one lock, each with a leader-only probe, started."""
    workers = []
    for n in (1, 2):
        lead = Leadership.for_settings(config, identity=f"worker-{n}:{n}")
        probe = Probe()
        loop = lead.only(probe)
        await loop.start()
        await lead.start()
        workers.append((lead, loop, probe))
    try:
        yield workers
    finally:
        for lead, loop, _ in workers:
            await loop.stop()
            await lead.stop()


def only_one(workers: list[tuple[Leadership, LeaderOnly, Probe]]) -> tuple[Leadership, Probe, Leadership, Probe]:
    leading = [(lead, probe) for lead, _, probe in workers if lead.is_leader]
    following = [(lead, probe) for lead, _, probe in workers if not lead.is_leader]
    assert len(leading) == 1, [lead.identity for lead, _ in leading]
    (leader, leader_probe), (follower, follower_probe) = leading[0], following[0]
    assert leader_probe.running and not follower_probe.running
    return leader, leader_probe, follower, follower_probe


async def takes_over(follower: Leadership, probe: Probe) -> float:
    began = time.monotonic()
    await eventually(lambda: follower.is_leader and probe.running, TAKEOVER, f"{follower.identity} to take over")
    assert await probe.leads_inside()
    return time.monotonic() - began


# --------------------------------------------------------------------------- settings


def test_the_lock_follows_the_database_and_bad_choices_are_refused(tmp_path: Path) -> None:
    file_url = f"sqlite://{tmp_path / 'g.sqlite3'}"
    assert Leadership.for_settings(settings(GATEHOUSE_DATABASE_URL=file_url)).kind == "file"
    # SQLite with Redis still takes the file lock: every process sharing the file is on this host.
    redis_too = settings(GATEHOUSE_DATABASE_URL=file_url, GATEHOUSE_REDIS_URL=REDIS_URL)
    assert Leadership.for_settings(redis_too).kind == "file"
    assert Leadership.for_settings(settings(GATEHOUSE_DATABASE_URL="sqlite://:memory:")).kind == "local"
    postgres = settings(GATEHOUSE_DATABASE_URL="postgres://u@h/db", GATEHOUSE_REDIS_URL=REDIS_URL)
    assert Leadership.for_settings(postgres).kind == "postgres"
    assert Settings.from_env({}).leader_ttl_seconds == 15.0
    for env, message in (
        ({"GATEHOUSE_LEADER_LOCK": "zookeeper"}, "GATEHOUSE_LEADER_LOCK must be"),
        ({"GATEHOUSE_LEADER_LOCK": "redis"}, "needs GATEHOUSE_REDIS_URL"),
        ({"GATEHOUSE_LEADER_LOCK": "postgres", "GATEHOUSE_DATABASE_URL": file_url}, "needs a PostgreSQL"),
        ({"GATEHOUSE_LEADER_LOCK": "file", "GATEHOUSE_DATABASE_URL": "postgres://u@h/db"}, "needs a SQLite"),
        ({"GATEHOUSE_LEADER_TTL_SECONDS": "0"}, "GATEHOUSE_LEADER_TTL_SECONDS"),
    ):
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)


# --------------------------------------------------------------------------- SQLite file


async def test_file_lock_one_leads_and_the_other_takes_over_when_it_lets_go(tmp_path: Path) -> None:
    config = settings(GATEHOUSE_DATABASE_URL=f"sqlite://{tmp_path / 'g.sqlite3'}")
    async with two(config) as workers:
        leader, _, follower, probe = only_one(workers)
        assert leader.identity == "worker-1:1"  # the first to start took it at once
        await eventually(lambda: follower.leader == leader.identity, TAKEOVER, "the follower to see who leads")
        seen = {"isLeader": False, "worker": "worker-2:2", "leader": "worker-1:1", "lock": "file"}
        assert follower.describe() == seen
        assert leader.describe()["isLeader"] is True
        await leader.stop()
        await takes_over(follower, probe)
        assert not leader.is_leader and not dict((lead, p) for lead, _, p in workers)[leader].running


async def test_file_lock_a_killed_holder_process_is_replaced(tmp_path: Path) -> None:
    lock_file = tmp_path / "g.sqlite3-leader"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import fcntl, os, sys\n"
        f"fd = os.open({str(lock_file)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, b'elsewhere:4242')\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and await holder.stdout.readline() == b"held\n"
        lead = Leadership.for_settings(settings(GATEHOUSE_DATABASE_URL=f"sqlite://{tmp_path / 'g.sqlite3'}"))
        probe = Probe()
        loop = lead.only(probe)
        await loop.start()
        await lead.start()
        try:
            assert not lead.is_leader and not probe.running
            assert lead.leader == "elsewhere:4242"
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            await takes_over(lead, probe)
            assert lock_file.read_text() == lead.identity == f"{os.uname().nodename}:{os.getpid()}"
        finally:
            await loop.stop()
            await lead.stop()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


# --------------------------------------------------------------------------- PostgreSQL


async def test_postgres_one_leads_a_dropped_connection_hands_over_and_a_stop_hands_back(postgres_url: str) -> None:
    import asyncpg

    async with two(settings(GATEHOUSE_DATABASE_URL=postgres_url)) as workers:
        leader, leader_probe, follower, probe = only_one(workers)
        await eventually(lambda: follower.leader == leader.identity, TAKEOVER, "the follower to see who leads")
        # The leader's lock connection dies (a network cut, a PostgreSQL restart): the lock is freed,
        # the leader stops its loop at once and the other takes over.
        admin = await asyncpg.connect(postgres_url.replace("postgres://", "postgresql://", 1))
        try:
            # The other advisory locks (migrations, the logs' commit order, zone moves) are free
            # while a worker leads: a shared key held every gate event's transaction for ever.
            async with admin.transaction():
                for key in (714022, GATE_EVENT_LOG, ALERT_LOG, ZONE_TREE_LOCK):
                    assert await admin.fetchval("SELECT pg_try_advisory_xact_lock($1::bigint)", key) is True, key
            killed = await admin.fetchval(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                "gatehouse-leader " + leader.identity,
            )
            assert killed is True
        finally:
            await admin.close()
        await eventually(lambda: not leader_probe.running, TAKEOVER, "the old leader to stop its loop")
        await takes_over(follower, probe)
        # The old leader reconnects as a follower and sees who leads now.
        await eventually(lambda: leader.leader == follower.identity, TAKEOVER, "the old leader to follow")
        assert not leader.is_leader and not leader_probe.running
        # A leader that stops lets go: the other takes over at its next check, not after a timeout.
        await follower.stop()
        await takes_over(leader, leader_probe)


# --------------------------------------------------------------------------- Redis


@pytest.fixture
async def redis_settings(require_redis: None, tmp_path: Path) -> AsyncIterator[Settings]:
    import redis.asyncio as aioredis

    prefix = f"ghtest:{os.urandom(4).hex()}:"
    yield settings(
        GATEHOUSE_DATABASE_URL=f"sqlite://{tmp_path / 'g.sqlite3'}",
        GATEHOUSE_REDIS_URL=REDIS_URL,
        GATEHOUSE_REDIS_PREFIX=prefix,
        GATEHOUSE_LEADER_LOCK="redis",
    )
    r = aioredis.Redis.from_url(REDIS_URL)
    await r.delete(prefix + "leader")
    await r.aclose()


async def test_redis_a_dead_holders_lease_runs_out_and_the_other_takes_over(redis_settings: Settings) -> None:
    async with two(redis_settings) as workers:
        leader, leader_probe, follower, probe = only_one(workers)
        assert leader.kind == "redis"
        await eventually(lambda: follower.leader == leader.identity, TAKEOVER, "the follower to see who leads")
        # The leader's keeper dies without letting go (a frozen or killed process): nobody renews.
        assert leader._task is not None
        leader._task.cancel()
        # Fenced by its lease alone: inside its still-running loop, it no longer leads once the TTL is past.
        await eventually(lambda: not leader.is_leader, TTL + 1.0, "the lease to run out")
        assert not await leader_probe.leads_inside()
        took = await takes_over(follower, probe)
        assert took < TAKEOVER


async def test_redis_a_leader_that_finds_the_key_taken_stops_at_once(redis_settings: Settings) -> None:
    import redis.asyncio as aioredis

    async with two(redis_settings) as workers:
        leader, leader_probe, follower, probe = only_one(workers)
        r = aioredis.Redis.from_url(REDIS_URL)
        try:
            # Another holder (the lease lapsed while this worker stalled, and someone else took it).
            await r.set(redis_settings.redis_prefix + "leader", "intruder:1 x", px=60_000)
            await eventually(lambda: not leader_probe.running, TAKEOVER, "the leader to stop its loop")
            assert not leader.is_leader and not follower.is_leader and leader.leader == "intruder:1"
            await r.delete(redis_settings.redis_prefix + "leader")  # the intruder lets go
        finally:
            await r.aclose()
        await eventually(lambda: sum(lead.is_leader for lead, _, _ in workers) == 1, TAKEOVER, "a new leader")
        assert sum(p.running for _, _, p in workers) == 1
        assert probe.starts + leader_probe.starts == 2  # one start before, one after: never two at once


async def test_redis_clean_stop_releases_at_once(redis_settings: Settings) -> None:
    async with two(redis_settings) as workers:
        leader, _, follower, probe = only_one(workers)
        await leader.stop()
        # Released, not left to run out: taken within one check interval, not a whole TTL later.
        assert await takes_over(follower, probe) < TAKEOVER


def test_outside_leader_only_loops_still_leads_is_true() -> None:
    assert still_leads() is True
    assert leadership_module._running_under.get() is None


# --------------------------------------------------------------------------- two server processes

SERVER_ENV = {"GATEHOUSE_UPKEEP_SECONDS": "1", "GATEHOUSE_LEADER_TTL_SECONDS": "0.9"}
VISIT_COLUMNS = (
    "visitor_name, company, purpose, expected_start, expected_end, status, emergency, emergency_reason,"
    " escorted, escort_ids, rejected_reason, site_entries, created_at, host_id, approval_level"
)


class Database:
    """The site's database, written and read from the test (SQLite through sqlite3, PostgreSQL
    through asyncpg: the ORM here is SQLite's, tests/dialects.py)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = not url.startswith("sqlite")
        self._conn: Any = None

    async def __aenter__(self) -> Database:
        if self.postgres:
            import asyncpg

            self._conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
        else:
            import sqlite3

            self._conn = sqlite3.connect(self.url.removeprefix("sqlite://"), timeout=10, isolation_level=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        result = self._conn.close()
        if asyncio.iscoroutine(result):
            await result

    async def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.postgres:
            return [tuple(r) for r in await self._conn.fetch(sql, *args)]
        return list(self._conn.execute(sql.replace("$1", "?").replace("$2", "?"), args).fetchall())

    async def add_visit(self, status: str, start: datetime, end: datetime) -> int:
        [(host,)] = await self.rows("SELECT id FROM person WHERE username = $1", "alice")
        if self.postgres:
            visit_id: int = await self._conn.fetchval(
                f"INSERT INTO visit ({VISIT_COLUMNS}) VALUES ('李娜', '', 'leader test', $1, $2, $3, false, '',"
                " false, '[]'::jsonb, '', 0, now(), $4, 0) RETURNING id",
                start,
                end,
                status,
                host,
            )
            return visit_id
        # As the ORM stores them (ISO text in UTC), so the upkeep's comparisons hold.
        cur = self._conn.execute(
            f"INSERT INTO visit ({VISIT_COLUMNS}) VALUES ('李娜', '', 'leader test', ?, ?, ?, 0, '', 0, '[]', '',"
            " 0, ?, ?, 0)",
            (_stored(start), _stored(end), status, _stored(datetime.now(UTC)), host),
        )
        return int(cur.lastrowid)

    async def overstay_alerts(self, visit_id: int) -> int:
        rows = await self.rows("SELECT payload FROM device_alert WHERE kind = $1", "overstay")
        payloads = [p if isinstance(p, dict) else json.loads(p) for (p,) in rows]
        return sum(p.get("visitId") == visit_id for p in payloads)

    async def reminded(self, visit_id: int) -> bool:
        [(at,)] = await self.rows("SELECT reminded_at FROM visit WHERE id = $1", visit_id)
        return at is not None


def _stored(moment: datetime) -> str:
    """A time as the ORM stores it in SQLite (tortoise/backends/sqlite/executor.py's adapter)."""
    return moment.astimezone(UTC).isoformat(" ")


def leader_of(servers: list[ServerProcess]) -> ServerProcess | None:
    leading = [s for s in servers if "is now the leader" in s.log() and s.proc is not None and s.proc.poll() is None]
    return leading[-1] if len(leading) == 1 else None


def statements(path: Path, needle: str) -> int:
    return path.read_text().count(needle) if path.exists() else 0


# What the visit upkeep's reminder step sends each round (its look-up of pending visits).
REMINDER_LOOKUP = '"reminded_at" IS NULL'


async def two_servers_agree(site: Site, bus: RedisBus) -> None:
    received: list[VisitReminder] = []

    async def collect(sub: Any) -> None:
        async for message in sub:
            received.append(VisitReminder.decode(message))

    def reminders_of(visit_id: int) -> list[int]:
        return [m.visit_id for m in received if m.visit_id == visit_id]

    async with bus.subscribe(VisitReminder.CHANNEL) as sub, Database(site.database_url) as database:
        collector = asyncio.create_task(collect(sub))
        # Due before either server starts: each is raised in the first round of whichever leads.
        now = site.clock.now()
        pending = await database.add_visit("PENDING_APPROVAL", now + timedelta(minutes=30), now + timedelta(hours=2))
        inside = await database.add_visit("CHECKED_IN", now - timedelta(hours=3), now - timedelta(minutes=1))
        sql_logs = [site.tmp / "sql-1.log", site.tmp / "sql-2.log"]
        servers = list(
            await asyncio.gather(
                *(asyncio.to_thread(site.start_server, **SERVER_ENV, GATEHOUSE_SQL_LOG=str(path)) for path in sql_logs)
            )
        )
        await eventually(lambda: leader_of(servers) is not None, TAKEOVER, "one server to lead")
        leader = leader_of(servers)
        assert leader is not None
        follower = servers[1 - servers.index(leader)]
        leader_log, follower_log = sql_logs[servers.index(leader)], sql_logs[servers.index(follower)]
        await eventually(lambda: "the leader is" in follower.log(), TAKEOVER, "the other to see who leads")
        assert "is now the leader" not in follower.log()

        await eventually(lambda: database.reminded(pending), 15, "the host to be reminded")
        await eventually(lambda: database.overstay_alerts(inside), 15, "the overstay alert")
        # Another round of the leader's upkeep after both were done: nothing raised again.
        rounds = statements(leader_log, REMINDER_LOOKUP)
        await eventually(lambda: statements(leader_log, REMINDER_LOOKUP) > rounds, 15, "another round")
        await eventually(lambda: bool(reminders_of(pending)), 5, "the reminder on the bus")
        assert await database.overstay_alerts(inside) == 1
        assert reminders_of(pending) == [pending]
        # The follower never ran the upkeep at all (not merely lost its races for the rows).
        assert statements(follower_log, REMINDER_LOOKUP) == 0, follower_log.read_text()[-2000:]

        # The leader dies without a word: the survivor takes over and raises a newly due alert once.
        assert leader.proc is not None
        leader.proc.kill()
        await asyncio.to_thread(leader.proc.wait, 15)
        began = time.monotonic()
        await eventually(lambda: "is now the leader" in follower.log(), TAKEOVER, "the survivor to take over")
        took_over = time.monotonic() - began
        late = await database.add_visit(
            "CHECKED_IN", site.clock.now() - timedelta(hours=2), site.clock.now() - timedelta(seconds=1)
        )
        await eventually(lambda: database.overstay_alerts(late), 15, "the survivor's overstay alert")
        assert statements(follower_log, REMINDER_LOOKUP) > 0  # its upkeep runs now
        assert await database.overstay_alerts(late) == 1
        assert await database.overstay_alerts(inside) == 1
        assert reminders_of(pending) == [pending]
        collector.cancel()
    assert took_over < TAKEOVER


async def test_two_servers_on_postgres_and_redis_remind_and_alert_once_and_the_survivor_takes_over(
    tmp_path: Path, postgres_template: SiteTemplate, require_redis: None
) -> None:
    """The realistic several-worker set-up. (Two servers on one SQLite file take the file lock,
    whose takeover after a killed holder is tested above without servers, to keep this module fast.)"""
    site = await postgres_template.postgres_copy(tmp_path, REDIS_URL)
    bus = RedisBus(REDIS_URL, site.env["GATEHOUSE_REDIS_PREFIX"])
    await bus.connect()
    try:
        await two_servers_agree(site, bus)
    finally:
        await bus.disconnect()
        # Killed, not stopped: nothing of the site is read again, and a clean shutdown costs ~1 s.
        for server in site.servers:
            if server.proc is not None and server.proc.poll() is None:
                server.proc.kill()
                await asyncio.to_thread(server.proc.wait, 15)
        with contextlib.suppress(Exception):
            await drop_postgres_database(site.database_url)
