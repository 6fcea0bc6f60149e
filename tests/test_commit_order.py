"""Resume cursors hold with two server processes writing one PostgreSQL log (issue 11, item 19).

A guard resumes `gateEvents` after the id of the last event it saw. With two workers the id a
row gets (a sequence, drawn at INSERT) and the moment it commits are apart: without
resolvers/core/commit_order.py, worker A draws 10, worker B draws 11 and commits first, the
guard sees 11, and 10, committed later, is never replayed after 11. The first test makes that
interleaving happen on purpose (a deferred trigger holds A's commit after its id is drawn) and
fails without the fix. The second runs both workers at full tilt while the guard keeps leaving
and resuming on either one, and checks it saw every stored event once, in order: live, one
worker's message can overtake the other's, and it fails (a few events lost at a resume) when the
stream sends them as they come instead of reading the gap from the log (schema/core/streams.py).

Cost of the lock (resolvers/core/commit_order.py), measured with asyncpg on this shared 2-core
machine against the local PostgreSQL (fsync and synchronous_commit on), the writer's statements
(BEGIN, lock, INSERT ... RETURNING id per event, COMMIT), medians of 5 runs, ±50% between runs:
- one writer: no measurable cost (0.60 ms per one-event transaction without, 0.47 with; 2.1 ms
  vs 1.9 ms for 20 events): the lock is one round trip to an uncontended lock;
- two writers at full tilt: their transactions now take turns, fsync included: one-event
  transactions 2,570 → 1,910 events/s in all, 20-event ones 12,800 → 7,000 events/s. The
  writer groups what queues up meanwhile into the next transaction (up to 500 events), so the
  turn-taking grows the batches rather than the queue; two workers' ~1,000 scans/s each stay
  well under the ceiling.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from tests.harness import Demo, GraphQLClient, GuardFeed, ServerProcess, Site, eventually
from tests.test_gate_events_resume import resume, stored_after
from tests.test_scale import connected, delete_redis_keys, login, register_device
from tests.test_scan_e2e import ENGINEERING, FINANCE, LOBBY_OUT, MAINTENANCE

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

NEWEST = "query { gateEvents(first: 1) { edges { cursor node { id } } } }"
HOLD = 4242  # the advisory lock the test's trigger waits on, at a held event's commit


@pytest.fixture
async def two_workers(scale_site: Site) -> AsyncIterator[Site]:
    """PostgreSQL + Redis behind two server processes; afterwards its Redis keys are deleted."""
    try:
        yield scale_site
    finally:
        scale_site.stop()
        await delete_redis_keys(scale_site.env["GATEHOUSE_REDIS_PREFIX"])


def demo_of(site: Site) -> Demo:
    assert site.demo is not None
    return site.demo


def dsn(site: Site) -> str:
    return site.database_url.replace("postgres://", "postgresql://", 1)


async def newest_cursor(guard: GraphQLClient) -> tuple[str, int]:
    edges = (await guard.ok(NEWEST))["gateEvents"]["edges"]
    if not edges:
        return base64.urlsafe_b64encode(b"ev:0").decode(), 0
    return edges[0]["cursor"], int(edges[0]["node"]["id"])


async def second_device(site: Site, gates: list[str]) -> tuple[str, str]:
    demo = demo_of(site)
    admin = await login(site.servers[0], demo, "admin")
    return await register_device(admin, "Second lobby reader", gates)


async def collect_until(feed: GuardFeed, last_id: int, got: list[dict[str, Any]]) -> None:
    """Events into `got` until the one with `last_id` (or a later one) arrives."""
    while not got or int(got[-1]["id"]) < last_id:
        got.append(await feed.next(lambda e: True, 20))


class HeldCommit:
    """Rows of `table` matching `condition` get their id at INSERT but wait at COMMIT until the
    test lets go (a deferred trigger waits for an advisory lock the test holds)."""

    def __init__(self, site: Site, table: str, condition: str) -> None:
        self.site, self.table, self.condition = site, table, condition

    async def __aenter__(self) -> HeldCommit:
        self.db = await asyncpg.connect(dsn(self.site))
        self.holder = await asyncpg.connect(dsn(self.site))
        await self.db.execute(
            "CREATE OR REPLACE FUNCTION test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_advisory_xact_lock({HOLD}); RETURN NULL; END $$"
        )
        await self.db.execute(
            f"CREATE CONSTRAINT TRIGGER test_hold_commit AFTER INSERT ON {self.table} "
            f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({self.condition}) EXECUTE FUNCTION test_hold_commit()"
        )
        await self.holder.execute("SELECT pg_advisory_lock($1)", HOLD)
        self.holder_pid = await self.holder.fetchval("SELECT pg_backend_pid()")
        return self

    async def waiting(self) -> int:
        """Sessions of the site's database waiting for a lock (the test's own aside)."""
        count: int = await self.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> $1 AND cardinality(pg_blocking_pids(pid)) > 0",
            self.holder_pid,
        )
        return count

    async def release(self) -> None:
        await self.holder.execute("SELECT pg_advisory_unlock_all()")

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.release()
        await self.holder.close()
        with contextlib.suppress(Exception):
            await self.db.execute(f"DROP TRIGGER IF EXISTS test_hold_commit ON {self.table}")
        await self.db.close()


async def drew_first_committed_last(
    held: HeldCommit, first: Awaitable[dict[str, Any]], second: Callable[[], Awaitable[dict[str, Any]]]
) -> tuple[asyncio.Future[dict[str, Any]], asyncio.Future[dict[str, Any]]]:
    """`first` (on worker 0) draws its id and is held at its commit; then `second` (worker 1)
    writes: without the fix it commits the later id at once, with it it queues behind the first."""
    held_first = asyncio.ensure_future(first)

    async def first_held() -> bool:
        return await held.waiting() >= 1

    await eventually(first_held, 30, "worker 0's row held at its commit")
    then_second = asyncio.ensure_future(second())

    async def second_settled() -> bool:
        return then_second.done() or await held.waiting() >= 2

    await eventually(second_settled, 30, "worker 1's row committed or queued behind worker 0's")
    return held_first, then_second


async def test_an_event_that_drew_its_id_first_but_committed_last_is_still_replayed(two_workers: Site) -> None:
    site = two_workers
    s0, s1 = site.servers
    demo = demo_of(site)
    maintenance, lobby_out = demo.gates[MAINTENANCE], demo.gates[LOBBY_OUT]
    guard = await login(s1, demo, "guard")
    other_id, other_secret = await second_device(site, [lobby_out])
    start_cursor, start_id = await newest_cursor(guard)  # after the device's commissioning test scan

    async with (
        HeldCommit(site, "gate_event", f"NEW.gate_id = {int(maintenance)}") as held,
        connected(s0, demo.device_id, demo.device_secret) as gate0,
        connected(s1, other_id, other_secret) as gate1,
    ):
        first, second = await drew_first_committed_last(
            held, gate0.scan(maintenance, GuardFeed.PROBE), lambda: gate1.scan(lobby_out, GuardFeed.PROBE)
        )
        seen: list[dict[str, Any]] = []
        if second.done():
            # A guard reads what is stored now and leaves with the newest cursor it saw.
            async with GuardFeed(s1, guard.token or "", resume(start_cursor)) as feed:
                seen.append(await feed.next(lambda e: True, 20))
        await held.release()
        replies = await asyncio.gather(first, second)
        assert [r["reason"] for r in replies] == ["malformed", "malformed"], replies

        cursor = seen[-1]["cursor"] if seen else start_cursor
        async with GuardFeed(s0, guard.token or "", resume(cursor)) as back:
            # A last event, live, closes the test's window.
            closing = await gate1.scan(lobby_out, GuardFeed.PROBE)
            assert closing["reason"] == "malformed", closing
            expected = await stored_after(guard, start_id)
            await collect_until(back, expected[-1], seen)
    got = [int(e["id"]) for e in seen]
    assert got == expected, "every event stored after the cursor, in id order, once"
    assert len(expected) == 3
    assert back.events.empty(), "nothing sent twice"


class AlertFeed(GuardFeed):
    """A guard's `deviceAlerts` subscription, read like GuardFeed's events."""

    async def __aenter__(self) -> AlertFeed:
        from gql import gql

        session = await asyncio.wait_for(self.client.connect_async(), 10)

        async def pump() -> None:
            async for result in session.subscribe(gql(self.document)):
                await self.events.put(result["deviceAlerts"])

        self._task = asyncio.create_task(pump())
        return self


def resume_alerts(cursor: str) -> str:
    return 'subscription { deviceAlerts(after: "' + cursor + '") { id cursor kind deviceId } }'


async def test_an_alert_that_drew_its_id_first_but_committed_last_is_still_replayed(two_workers: Site) -> None:
    site = two_workers
    s0, s1 = site.servers
    demo = demo_of(site)
    finance, engineering, lobby_out = demo.gates[FINANCE], demo.gates[ENGINEERING], demo.gates[LOBBY_OUT]
    guard = await login(s1, demo, "guard")
    newest = (await guard.ok("query { deviceAlerts(first: 1) { id cursor } }"))["deviceAlerts"]
    start_cursor = newest[0]["cursor"] if newest else base64.urlsafe_b64encode(b"alert:0").decode()
    start_id = int(newest[0]["id"]) if newest else 0
    admin = await login(s0, demo, "admin")
    finance_id, finance_secret = await register_device(admin, "Finance scanner", [finance])
    lobby_id, lobby_secret = await register_device(admin, "Lobby reader", [lobby_out])

    async with (
        HeldCommit(site, "device_alert", f"NEW.device_id = {int(finance_id)}") as held,
        connected(s0, finance_id, finance_secret) as gate0,
        connected(s1, lobby_id, lobby_secret) as gate1,
    ):
        # Each scan at a gate its device does not serve raises a `not_your_gate` alert.
        first, second = await drew_first_committed_last(
            held,
            gate0.scan(engineering, GuardFeed.PROBE, direction="IN"),
            lambda: gate1.scan(engineering, GuardFeed.PROBE, direction="IN"),
        )
        seen: list[dict[str, Any]] = []
        if second.done():
            async with AlertFeed(s1, guard.token or "", resume_alerts(start_cursor)) as feed:
                seen.append(await feed.next(lambda a: True, 20))
        await held.release()
        replies = await asyncio.gather(first, second)
        assert [r["reason"] for r in replies] == ["not_your_gate", "not_your_gate"], replies

        cursor = seen[-1]["cursor"] if seen else start_cursor
        async with AlertFeed(s0, guard.token or "", resume_alerts(cursor)) as back:
            closing = await gate1.scan(finance, GuardFeed.PROBE, direction="IN")
            assert closing["reason"] == "not_your_gate", closing
            stored = (await guard.ok("query { deviceAlerts(first: 100) { id kind } }"))["deviceAlerts"]
            later = [a for a in stored if int(a["id"]) > start_id]
            expected = sorted(int(a["id"]) for a in later)
            await collect_until(back, expected[-1], seen)
    got = [int(a["id"]) for a in seen]
    assert got == expected, "every alert stored after the cursor, in id order, once"
    # The three scans' alerts; on a busy machine the fleet check may add others (a device it
    # finds silent), which the order check above covers all the same.
    assert sum(a["kind"] == "not_your_gate" for a in later) == 3, later
    assert back.events.empty(), "nothing sent twice"


async def test_a_guard_hopping_between_workers_sees_every_event_once_while_both_write(two_workers: Site) -> None:
    site = two_workers
    s0, s1 = site.servers
    demo = demo_of(site)
    maintenance, lobby_out = demo.gates[MAINTENANCE], demo.gates[LOBBY_OUT]
    guard = await login(s0, demo, "guard")
    other_id, other_secret = await second_device(site, [lobby_out, maintenance])
    start_cursor, start_id = await newest_cursor(guard)  # after the device's commissioning test scan
    rng = random.Random(19)
    per_worker = 150
    stop = asyncio.Event()

    async def scan_on(server: ServerProcess, device_id: str, secret: str) -> int:
        stored = 0
        async with connected(server, device_id, secret) as gate:
            while stored < per_worker and not stop.is_set():
                reply = await gate.scan(rng.choice([maintenance, lobby_out]), GuardFeed.PROBE)
                assert reply["reason"] == "malformed", reply
                stored += 1
        return stored

    writers = [
        asyncio.ensure_future(scan_on(s0, demo.device_id, demo.device_secret)),
        asyncio.ensure_future(scan_on(s1, other_id, other_secret)),
    ]
    seen: list[dict[str, Any]] = []
    cursor = start_cursor
    hops = 0
    try:
        # The guard takes a few events, leaves, and comes back on either worker with its last cursor.
        while not all(w.done() for w in writers):
            server = site.servers[hops % 2]
            async with GuardFeed(server, guard.token or "", resume(cursor)) as feed:
                want = rng.randint(3, 25)
                for _ in range(want):
                    if all(w.done() for w in writers) and feed.events.empty():
                        break
                    with contextlib.suppress(TimeoutError):
                        seen.append(await feed.next(lambda e: True, 2))
            if seen:
                cursor = seen[-1]["cursor"]
            hops += 1
        counts = await asyncio.gather(*writers)
        assert counts == [per_worker, per_worker]
        expected = await stored_after(guard, start_id)
        assert len(expected) == 2 * per_worker
        async with GuardFeed(site.servers[hops % 2], guard.token or "", resume(cursor)) as feed:
            if not seen or int(seen[-1]["id"]) < expected[-1]:
                await collect_until(feed, expected[-1], seen)
    finally:
        stop.set()
        for w in writers:
            with contextlib.suppress(Exception):
                await w
    got = [int(e["id"]) for e in seen]
    assert len(set(got)) == len(got), "no event sent twice"
    assert got == expected, "every stored event, in id order"
    assert hops >= 3, "the guard left and came back several times"
