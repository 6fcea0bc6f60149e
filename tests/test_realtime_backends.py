"""One contract, two backends: the event bus and the shared scan state, in memory and on Redis.

Every contract test runs against `MemoryBus` / `MemoryScanState` and against
`RedisBus` / `RedisScanState`. The Redis cases go through the `require_redis`
fixture (skipped on a laptop without Redis, failed under CI=true), use a key prefix
of their own, and delete their keys afterwards. Tests that need two processes
sharing one Redis use two instances on the same prefix.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from realtime.bus import SUBSCRIBER_QUEUE_SIZE, Bus, MemoryBus, Received, RedisBus, SubscriberOverflow, Subscription
from realtime.messages import AccessChanged, BusMessage, GateEventMessage, GateRef, PersonRef
from realtime.scan_state import MemoryScanState, RedisScanState, ScanState
from tests.harness import REDIS_URL, eventually

MEMORY = pytest.param("memory", id="memory")
REDIS = pytest.param("redis", id="redis", marks=pytest.mark.redis)
TTL = 60


class Backend:
    """Makes connected buses and scan states of one kind, and cleans up after them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.prefix = f"ghtest:rt:{uuid.uuid4().hex[:12]}:"
        self._opened: list[Bus | ScanState] = []

    async def bus(self, prefix: str | None = None) -> Bus:
        bus: Bus = MemoryBus() if self.kind == "memory" else RedisBus(REDIS_URL, prefix or self.prefix)
        await bus.connect()
        self._opened.append(bus)
        if isinstance(bus, RedisBus):
            await _wait_until_listening(bus)
        return bus

    async def state(self) -> ScanState:
        state: ScanState = MemoryScanState() if self.kind == "memory" else RedisScanState(REDIS_URL, self.prefix)
        await state.connect()
        self._opened.append(state)
        return state

    async def close(self) -> None:
        for opened in reversed(self._opened):
            await opened.disconnect()
        if self.kind == "redis":
            await delete_keys(self.prefix)


async def delete_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


async def _wait_until_listening(bus: RedisBus) -> None:
    """RedisBus.connect sends PSUBSCRIBE without waiting for Redis to confirm it: round-trip once."""
    async with bus.subscribe("__warmup__") as sub:
        for _ in range(100):
            bus.publish("__warmup__", {"ping": True})
            try:
                await asyncio.wait_for(sub.__anext__(), 0.1)
                return
            except TimeoutError:
                continue
    raise AssertionError("the Redis bus never received its own message")


@pytest.fixture(params=[MEMORY, REDIS])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "redis":
        request.getfixturevalue("require_redis")
    made = Backend(request.param)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def redis_backend(require_redis: None) -> AsyncIterator[Backend]:
    made = Backend("redis")
    try:
        yield made
    finally:
        await made.close()


async def next_message(sub: Subscription, timeout: float = 5) -> dict[str, Any]:
    return await asyncio.wait_for(sub.__anext__(), timeout)


async def publish_past_a_slow_subscriber(bus: Bus, total: int) -> None:
    """Publish `total` messages and return once every local subscriber has been handed all of them.

    A fast subscriber beside the slow one keeps up; fan-out hands each message to every
    subscriber at once, so when the fast one has the last message the slow one was offered all.
    """
    async with bus.subscribe("events") as fast:
        last = -1
        for i in range(total):
            bus.publish("events", {"n": i})
            while not fast.queue.empty():  # MemoryBus delivers at once: keep the fast one empty
                last = (await next_message(fast))["n"]
        while last != total - 1:
            last = (await next_message(fast, 30))["n"]


# --- the bus -------------------------------------------------------------------------------


async def test_publish_reaches_every_subscriber_of_the_channel_only(backend: Backend) -> None:
    bus = await backend.bus()
    async with bus.subscribe("events") as a, bus.subscribe("events") as b, bus.subscribe("other") as other:
        message = {"id": 1, "gate": "Lobby", "nested": {"ok": True}, "list": [1, "two", None]}
        bus.publish("events", message)
        assert await next_message(a) == message
        assert await next_message(b) == message
        bus.publish("other", {"id": 2})
        # Messages on one channel arrive in order, so "other" saw nothing of the first.
        assert await next_message(other) == {"id": 2}
        assert a.queue.empty() and b.queue.empty()


async def test_messages_arrive_in_the_order_published(backend: Backend) -> None:
    bus = await backend.bus()
    async with bus.subscribe("events") as sub:
        for i in range(200):
            bus.publish("events", {"n": i})
        assert [(await next_message(sub))["n"] for _ in range(200)] == list(range(200))


async def test_leaving_the_subscription_context_unsubscribes(backend: Backend) -> None:
    bus = await backend.bus()
    async with bus.subscribe("events") as stays:
        async with bus.subscribe("events") as leaves:
            bus.publish("events", {"n": 1})
            assert await next_message(leaves) == {"n": 1}
            assert await next_message(stays) == {"n": 1}
        bus.publish("events", {"n": 2})
        # Fan-out hands a message to all local subscribers at once: once `stays` has it, `leaves` would too.
        assert await next_message(stays) == {"n": 2}
        assert leaves.queue.empty()
    assert "events" not in bus._subscribers, "an empty channel's subscriber set is dropped"


async def test_a_subscriber_that_falls_behind_gets_an_error_not_a_silent_gap(backend: Backend) -> None:
    bus = await backend.bus()
    total = SUBSCRIBER_QUEUE_SIZE + 10
    async with bus.subscribe("events") as slow:
        await publish_past_a_slow_subscriber(bus, total)
        received: list[int] = []
        with pytest.raises(SubscriberOverflow):
            while True:
                received.append((await next_message(slow))["n"])
        assert received, "some messages arrive before the stream ends"
        assert received[-1] < total - 1, "the stream ended before the messages it could not hold"


@pytest.mark.parametrize("backend", [MEMORY, REDIS], indirect=True)
async def test_messages_before_an_overflow_are_a_gapless_prefix(backend: Backend) -> None:
    bus = await backend.bus()
    async with bus.subscribe("events") as slow:
        await publish_past_a_slow_subscriber(bus, SUBSCRIBER_QUEUE_SIZE + 10)
        received: list[int] = []
        with pytest.raises(SubscriberOverflow):
            while True:
                received.append((await next_message(slow))["n"])
        assert received == list(range(len(received))), (received[:3], len(received))


async def test_two_redis_buses_see_each_others_messages(redis_backend: Backend) -> None:
    first, second = await redis_backend.bus(), await redis_backend.bus()
    async with (
        first.subscribe("events") as on_first,
        second.subscribe("events") as on_second,
    ):
        first.publish("events", {"from": "first"})
        assert await next_message(on_second) == {"from": "first"}
        assert await next_message(on_first) == {"from": "first"}  # and its own subscribers too
        second.publish("events", {"from": "second"})
        assert await next_message(on_first) == {"from": "second"}
        assert await next_message(on_second) == {"from": "second"}


async def test_a_redis_bus_gives_its_own_messages_to_its_subscribers_once(redis_backend: Backend) -> None:
    """Delivered in the process, not again when its batch comes back from Redis."""
    ours, theirs = await redis_backend.bus(), await redis_backend.bus()
    async with ours.subscribe("events") as sub:
        for i in range(3):
            ours.publish("events", {"n": i})
        await ours._drain()  # type: ignore[attr-defined]  # the batch is in Redis, ahead of the next
        theirs.publish("events", {"n": "theirs"})
        received = [(await next_message(sub))["n"] for _ in range(4)]
        assert received == [0, 1, 2, "theirs"]


async def test_a_redis_bus_hears_a_single_message_published_on_its_channel(redis_backend: Backend) -> None:
    """What a worker of the release before batches sent: one PUBLISH per message, on the channel."""
    import redis.asyncio as aioredis

    bus = await redis_backend.bus()
    r = aioredis.from_url(REDIS_URL)
    try:
        async with bus.subscribe("events") as sub:
            await r.publish(f"{redis_backend.prefix}bus:events", '{"n": 1}')
            assert await next_message(sub) == {"n": 1}
    finally:
        await r.aclose()


async def test_redis_buses_with_other_prefixes_do_not_hear_each_other(redis_backend: Backend) -> None:
    other_prefix = f"ghtest:rt:{uuid.uuid4().hex[:12]}:"
    ours, theirs = await redis_backend.bus(), await redis_backend.bus(prefix=other_prefix)
    async with theirs.subscribe("events") as sub:
        ours.publish("events", {"site": "ours"})
        theirs.publish("events", {"site": "theirs"})
        assert await next_message(sub) == {"site": "theirs"}
        await asyncio.sleep(0.2)
        assert sub.queue.empty()


async def test_redis_bus_delivers_queued_messages_before_disconnecting(redis_backend: Backend) -> None:
    listener = await redis_backend.bus()
    sender = RedisBus(REDIS_URL, redis_backend.prefix)
    await sender.connect()
    async with listener.subscribe("events") as sub:
        for i in range(50):
            sender.publish("events", {"n": i})
        await sender.disconnect()
        assert [(await next_message(sub))["n"] for _ in range(50)] == list(range(50))


# --- typed messages on the bus ------------------------------------------------------------

EVENT = GateEventMessage(
    id=1,
    at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    gate=GateRef(3, "Lobby turnstile in", "IN"),
    zone_id=1,
    reason="ok",
    decision="GRANTED",
    method="QR",
    direction="IN",
    offline=False,
    person=PersonRef(5, "Alice Li"),
)


async def next_typed(messages: Received[Any], timeout: float = 5) -> BusMessage:
    message: BusMessage = await asyncio.wait_for(messages.__anext__(), timeout)
    return message


async def test_a_typed_message_arrives_as_sent_on_its_channel_only(backend: Backend) -> None:
    bus = await backend.bus()
    async with bus.receive(GateEventMessage) as events, bus.receive(AccessChanged) as access:
        bus.send(EVENT)
        bus.send(AccessChanged())
        assert await next_typed(events) == EVENT
        assert await next_typed(access) == AccessChanged()


async def test_a_malformed_message_is_dropped_and_the_stream_goes_on(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await backend.bus()
    async with bus.receive(GateEventMessage) as events:
        with caplog.at_level(logging.WARNING, logger="gatehouse.bus"):
            bus.publish(GateEventMessage.CHANNEL, {"id": 2})  # no version
            bus.publish(GateEventMessage.CHANNEL, {**EVENT.encode(), "id": "two"})
            bus.publish(GateEventMessage.CHANNEL, {**EVENT.encode(), "gate": None})
            bus.send(EVENT)
            assert await next_typed(events) == EVENT, "the good message after three bad ones"
        dropped = [r.getMessage() for r in caplog.records if r.name == "gatehouse.bus"]
        assert len(dropped) == 3 and all("malformed" in d and "gate_events" in d for d in dropped), dropped


async def test_a_message_from_a_newer_release_is_read_without_its_new_fields(backend: Backend) -> None:
    bus = await backend.bus()
    async with bus.receive(GateEventMessage) as events:
        bus.publish(GateEventMessage.CHANNEL, {**EVENT.encode(), "version": 2, "temperature": 36.6})
        assert await next_typed(events) == EVENT


# --- the scan state ------------------------------------------------------------------------


async def test_claim_token_fresh_then_held_by_the_first_gate(backend: Backend) -> None:
    state = await backend.state()
    first = await state.claim_token("AAAAAAAAAAAAAAAA", 100, gate_id=7, ttl=TTL)
    assert first.fresh is True

    same_gate_unsettled = await state.claim_token("AAAAAAAAAAAAAAAA", 100, gate_id=7, ttl=TTL)
    assert (same_gate_unsettled.fresh, same_gate_unsettled.gate_id, same_gate_unsettled.decision) == (False, 7, None)

    decision = {"granted": True, "reason": "ok", "person": "Alice Li", "gate": 7, "event": 42}
    await state.settle_token("AAAAAAAAAAAAAAAA", 100, 7, decision, TTL)
    same_gate_settled = await state.claim_token("AAAAAAAAAAAAAAAA", 100, gate_id=7, ttl=TTL)
    assert (same_gate_settled.fresh, same_gate_settled.gate_id, same_gate_settled.decision) == (False, 7, decision)

    other_gate = await state.claim_token("AAAAAAAAAAAAAAAA", 100, gate_id=9, ttl=TTL)
    assert (other_gate.fresh, other_gate.gate_id) == (False, 7), "the claim names the gate that used it first"

    # The key is the (credential, step) pair: another step or credential is fresh.
    assert (await state.claim_token("AAAAAAAAAAAAAAAA", 101, gate_id=9, ttl=TTL)).fresh is True
    assert (await state.claim_token("BBBBBBBBBBBBBBBB", 100, gate_id=9, ttl=TTL)).fresh is True


async def test_claim_token_other_gate_while_unsettled(backend: Backend) -> None:
    state = await backend.state()
    assert (await state.claim_token("CCCCCCCCCCCCCCCC", 5, gate_id=1, ttl=TTL)).fresh is True
    other = await state.claim_token("CCCCCCCCCCCCCCCC", 5, gate_id=2, ttl=TTL)
    assert (other.fresh, other.gate_id, other.decision) == (False, 1, None)
    # A later claim by the other gate does not take the token over.
    again = await state.claim_token("CCCCCCCCCCCCCCCC", 5, gate_id=1, ttl=TTL)
    assert (again.fresh, again.gate_id) == (False, 1)


async def test_token_claims_and_device_connections_expire_after_their_ttl(backend: Backend) -> None:
    state = await backend.state()
    assert (await state.claim_token("DDDDDDDDDDDDDDDD", 1, gate_id=1, ttl=1)).fresh is True
    await state.set_device_connection(3, "proc:conn", ttl=1)
    assert await state.device_connection(3) == "proc:conn"
    assert await state.device_connections([3]) == {3: "proc:conn"}
    await asyncio.sleep(1.3)
    assert (await state.claim_token("DDDDDDDDDDDDDDDD", 1, gate_id=2, ttl=TTL)).fresh is True
    assert await state.device_connection(3) is None
    assert await state.device_connections([3]) == {}


async def test_presence_enter_leave_inside(backend: Backend) -> None:
    state = await backend.state()
    assert await state.inside(1) == set(), "someone never seen is outside"
    await state.enter(1, 10)
    await state.enter(1, 11)
    await state.enter(1, 10)  # entering twice is still one zone
    await state.enter(2, 10)
    assert await state.inside(1) == {10, 11}
    await state.leave(1, [10, 99])
    assert await state.inside(1) == {11}
    assert await state.inside(2) == {10}, "one person's passage leaves another's presence alone"
    await state.leave(1, [])
    assert await state.inside(1) == {11}
    await state.leave(1, iter([11]))  # any iterable of zone ids, as Topology.subtree gives
    assert await state.inside(1) == set()
    await state.leave(3, [10])  # never seen: nothing to do, no error
    assert await state.inside(3) == set()


async def test_recall_and_remember_ref(backend: Backend) -> None:
    state = await backend.state()
    assert await state.recall_ref(1, "d1-000001", "GH1:A") is None
    reply = {"type": "decision", "ref": "d1-000001", "granted": False, "reason": "no_access"}
    await state.remember_ref(1, "d1-000001", "GH1:A", reply)
    assert await state.recall_ref(1, "d1-000001", "GH1:A") == reply
    assert await state.recall_ref(2, "d1-000001", "GH1:A") is None, "refs are per device"
    assert await state.recall_ref(1, "d1-000002", "GH1:A") is None
    # Keys must not collide when a ref contains the separator.
    await state.remember_ref(1, "2:x", "GH1:A", {"n": 1})
    await state.remember_ref(12, ":x", "GH1:A", {"n": 2})
    assert await state.recall_ref(1, "2:x", "GH1:A") == {"n": 1}
    assert await state.recall_ref(12, ":x", "GH1:A") == {"n": 2}


async def test_a_remembered_answer_is_recalled_only_for_its_credential(backend: Backend) -> None:
    # DEVICE_PROTOCOL.md: an answer is repeated only when ref AND credential both match.
    state = await backend.state()
    granted = {"type": "decision", "ref": "7", "granted": True, "reason": "ok"}
    await state.remember_ref(1, "7", "GH1:ALICE", granted)
    assert await state.recall_ref(1, "7", "GH1:MALLORY") is None, "a reused ref with another credential"
    assert await state.recall_ref(1, "7", "GH1:ALICE ") is None, "the credential text must match exactly"
    assert await state.recall_ref(1, "7", "GH1:ALICE") == granted
    denied = {"type": "decision", "ref": "7", "granted": False, "reason": "no_access"}
    await state.remember_ref(1, "7", "GH1:MALLORY", denied)  # the ref decided afresh for the new credential
    assert await state.recall_ref(1, "7", "GH1:MALLORY") == denied
    assert await state.recall_ref(1, "7", "GH1:ALICE") is None


async def test_a_token_claim_names_the_scan_that_used_it(backend: Backend) -> None:
    state = await backend.state()
    assert (await state.claim_token("HHHHHHHHHHHHHHHH", 9, gate_id=7, ttl=TTL, device_id=3, ref="r-1")).fresh
    held = await state.claim_token("HHHHHHHHHHHHHHHH", 9, gate_id=7, ttl=TTL, device_id=3, ref="r-2")
    assert (held.fresh, held.gate_id, held.device_id, held.ref, held.decision) == (False, 7, 3, "r-1", None)
    decision = {"granted": True, "reason": "ok", "person": "Alice Li", "gate": 7, "event": 1}
    await state.finish(("HHHHHHHHHHHHHHHH", 9, 7, decision, TTL, 3, "r-1"), None, None, None)
    settled = await state.claim_token("HHHHHHHHHHHHHHHH", 9, gate_id=7, ttl=TTL, device_id=4, ref="x")
    assert (settled.device_id, settled.ref, settled.decision) == (3, "r-1", decision)


async def test_a_claim_naming_the_credential_finds_the_answer_remembered_for_the_scan(backend: Backend) -> None:
    # The scan path looks the retry's answer up in the claim's round trip, and remembers the answer
    # in the settlement's (resolvers/scan/decision.py): a scan costs two round trips, not four.
    state = await backend.state()
    cid = "RRRRRRRRRRRRRRRR"
    first = await state.claim_token(cid, 9, gate_id=7, ttl=TTL, device_id=3, ref="r-1", credential="GH1:ALICE")
    assert first.fresh and first.remembered is None
    reply = {"type": "decision", "ref": "r-1", "granted": True, "reason": "ok"}
    decision = {"granted": True, "reason": "ok", "person": "Alice Li", "gate": 7, "event": 1}
    await state.finish((cid, 9, 7, decision, TTL, 3, "r-1"), None, None, None, (3, "r-1", "GH1:ALICE", reply))
    assert await state.recall_ref(3, "r-1", "GH1:ALICE") == reply
    again = await state.claim_token(cid, 9, gate_id=7, ttl=TTL, device_id=3, ref="r-1", credential="GH1:ALICE")
    assert (again.fresh, again.remembered) == (False, reply)
    # Another credential under the same ref, or another device: no remembered answer, a real claim.
    other = await state.claim_token(cid, 9, gate_id=7, ttl=TTL, device_id=3, ref="r-1", credential="GH1:MALLORY")
    assert (other.remembered, other.decision, other.device_id) == (None, decision, 3)
    elsewhere = await state.claim_token("SSSSSSSSSSSSSSSS", 9, 7, TTL, device_id=4, ref="r-1", credential="GH1:ALICE")
    assert elsewhere.fresh and elsewhere.remembered is None


async def test_finish_settles_moves_and_remembers_in_one_step(backend: Backend) -> None:
    state = await backend.state()
    await state.enter(5, 10)
    await state.enter(5, 11)
    decision = {"granted": True, "reason": "ok", "person": "Eve", "gate": 7, "event": 2}
    reply = {"type": "decision", "ref": "r-5", "granted": True, "reason": "ok"}
    settle = ("FFFFFFFFFFFFFFFF", 3, 7, decision, TTL, 3, "r-5")
    await state.finish(settle, 5, 12, {10, 11}, (3, "r-5", "GH1:EVE", reply))
    assert await state.inside(5) == {12}
    assert (await state.claim_token("FFFFFFFFFFFFFFFF", 3, 7, TTL, 4, "x")).decision == decision
    assert await state.recall_ref(3, "r-5", "GH1:EVE") == reply
    await state.finish(None, 5, None, [12])  # presence alone: out of the last zone
    assert await state.inside(5) == set()
    await state.finish(None, 6, 10, None)  # in alone
    assert await state.inside(6) == {10}
    await state.finish(None, None, None, None)  # nothing to do


async def test_claim_entry_lets_exactly_one_of_fifty_concurrent_entries_in(backend: Backend) -> None:
    first, second = await backend.state(), await backend.state()
    # On Redis two states share one prefix (two workers); in memory one process has one state.
    states = [first, second] if backend.kind != "memory" else [first]
    claims = await asyncio.gather(*(states[i % len(states)].claim_entry(8, 80) for i in range(50)))
    assert sum(claims) == 1, claims
    assert await first.inside(8) == {80}
    assert await first.claim_entry(8, 81) is True, "another zone is another claim"
    await first.leave(8, [80])
    assert await first.claim_entry(8, 80) is True, "after leaving, the next entry is claimed again"


async def test_device_connection_is_cleared_only_by_its_owner(backend: Backend) -> None:
    state = await backend.state()
    assert await state.device_connection(5) is None
    await state.set_device_connection(5, "p0:old", ttl=TTL)
    assert await state.device_connection(5) == "p0:old"
    await state.clear_device_connection(5, "p1:someone-else")
    assert await state.device_connection(5) == "p0:old"
    await state.set_device_connection(5, "p1:new", ttl=TTL)  # the device reconnected elsewhere
    await state.clear_device_connection(5, "p0:old")  # the old connection's clean-up comes late
    assert await state.device_connection(5) == "p1:new"
    await state.clear_device_connection(5, "p1:new")
    assert await state.device_connection(5) is None
    await state.clear_device_connection(5, "p1:new")  # clearing again is harmless
    assert await state.device_connection(6) is None


async def test_connections_of_many_devices_in_one_look_up(backend: Backend) -> None:
    state = await backend.state()
    assert await state.device_connections([]) == {}
    for device_id in (11, 13, 14):
        await state.set_device_connection(device_id, f"p0:{device_id}", ttl=TTL)
    await state.clear_device_connection(14, "p0:14")
    assert await state.device_connections([10, 11, 12, 13, 14]) == {11: "p0:11", 13: "p0:13"}


async def test_holds_of_many_devices_renewed_in_one_call(backend: Backend) -> None:
    state = await backend.state()
    await state.renew_device_connections([])  # nothing to renew: no round trip
    await state.set_device_connection(21, "p0:21", ttl=1)
    await state.set_device_connection(24, "p1:new", ttl=TTL)  # the device reconnected elsewhere since
    await state.renew_device_connections(
        [(21, "p0:21", TTL), (22, "p0:22", TTL), (23, "p0:23", 1), (24, "p0:old", TTL)]
    )
    expected = {21: "p0:21", 22: "p0:22", 23: "p0:23", 24: "p1:new"}  # the newer connection keeps 24
    assert await state.device_connections([20, 21, 22, 23, 24]) == expected

    # Each keeps its own lifetime: the one-second hold lapses, the renewed one (set for a second) stays.
    async def lapsed() -> bool:
        return await state.device_connection(23) is None

    await eventually(lapsed, 10, "the one-second hold lapsed")
    assert await state.device_connections([21, 22, 23, 24]) == {21: "p0:21", 22: "p0:22", 24: "p1:new"}
    # A hold that lapsed is taken again by its connection's next heartbeat.
    await state.renew_device_connections([(23, "p0:23", TTL)])
    assert await state.device_connection(23) == "p0:23"


async def test_load_presence_and_needs_presence_rebuild(backend: Backend) -> None:
    state = await backend.state()
    assert await state.needs_presence_rebuild() is True
    await state.enter(1, 99)  # state from before the rebuild
    await state.load_presence({1: {10, 11}, 2: {20}, 3: set()})
    assert await state.needs_presence_rebuild() is False
    assert await state.inside(1) == {10, 11}, "the loaded presence replaces what was there"
    assert await state.inside(2) == {20}
    assert await state.inside(3) == set()
    await state.enter(2, 21)
    assert await state.inside(2) == {20, 21}
    assert await state.needs_presence_rebuild() is False


@pytest.mark.parametrize(
    "backend",
    [
        MEMORY,
        pytest.param(
            "redis",
            id="redis",
            marks=[
                pytest.mark.redis,
            ],
        ),
    ],
    indirect=True,
)
async def test_load_presence_forgets_people_missing_from_the_snapshot(backend: Backend) -> None:
    state = await backend.state()
    await state.enter(7, 70)  # inside before the rebuild; the event log says they left since
    await state.load_presence({1: {10}})
    assert await state.inside(1) == {10}
    assert await state.inside(7) == set(), "a rebuild must not keep presence the snapshot does not have"


async def test_redis_scan_state_is_shared_between_processes(redis_backend: Backend) -> None:
    first, second = await redis_backend.state(), await redis_backend.state()
    assert await second.needs_presence_rebuild() is True
    await first.load_presence({})
    assert await second.needs_presence_rebuild() is False
    await first.enter(1, 10)
    assert await second.inside(1) == {10}
    assert (await first.claim_token("EEEEEEEEEEEEEEEE", 1, gate_id=3, ttl=TTL)).fresh is True
    claim = await second.claim_token("EEEEEEEEEEEEEEEE", 1, gate_id=4, ttl=TTL)
    assert (claim.fresh, claim.gate_id) == (False, 3)
    await first.remember_ref(1, "r", "GH1:A", {"ok": True})
    assert await second.recall_ref(1, "r", "GH1:A") == {"ok": True}
    await first.set_device_connection(1, "p0:c", ttl=TTL)
    assert await second.device_connection(1) == "p0:c"


async def test_fifty_concurrent_claims_on_two_redis_states_have_exactly_one_winner(redis_backend: Backend) -> None:
    first, second = await redis_backend.state(), await redis_backend.state()
    states = [first, second]
    claims = await asyncio.gather(
        *(states[i % 2].claim_token("FFFFFFFFFFFFFFFF", 42, gate_id=100 + i, ttl=TTL) for i in range(50))
    )
    winners = [i for i, claim in enumerate(claims) if claim.fresh]
    assert len(winners) == 1, winners
    winner_gate = 100 + winners[0]
    assert all(c.gate_id == winner_gate for c in claims if not c.fresh), "every loser names the winner's gate"


async def test_fifty_concurrent_claims_on_one_state_have_exactly_one_winner(backend: Backend) -> None:
    state = await backend.state()
    claims = await asyncio.gather(
        *(state.claim_token("GGGGGGGGGGGGGGGG", 42, gate_id=100 + i, ttl=TTL) for i in range(50))
    )
    assert sum(c.fresh for c in claims) == 1
