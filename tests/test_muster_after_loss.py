"""An evacuation roll call right after Redis came back empty still lists the people inside.

The presence state lives in Redis; after a restart it holds nobody, and until it is rebuilt from
the event log the scans fail closed. The roll call (`muster`) must not read that empty state as
"nobody is on site": it notices the loss (the marker key is gone), answers from the event log,
and starts the rebuild itself (even when no gate scans to notice). The Redis loss is simulated
as in tests/test_scan_state_recovery.py: the site's keys deleted, the server's connections killed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from realtime.scan_state import RedisScanState, ScanStateLost
from tests.harness import REDIS_URL, Demo, GraphQLClient, ServerProcess, Site, eventually
from tests.test_scan_e2e import (
    ENGINEERING,
    LOBBY_IN,
    LOBBY_OUT,
    assert_granted,
    bound_phone,
    connected,
    login,
    settle_into_step,
)
from tests.test_scan_state_recovery import forget_everything, redis_site

__all__ = ["redis_site"]  # the fixture, shared with the scan path's recovery test

MUSTER = "query($z: ID) { muster(zoneId: $z) { person { displayName } zones { name } } }"


def lines(muster: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(line["person"]["displayName"], sorted(z["name"] for z in line["zones"])) for line in muster]


async def test_a_muster_right_after_redis_came_back_empty_still_lists_who_is_inside(redis_site: Site) -> None:
    server: ServerProcess = redis_site.start_server()
    demo: Demo = redis_site.demo  # type: ignore[assignment]
    api = GraphQLClient(server)
    prefix = redis_site.env["GATEHOUSE_REDIS_PREFIX"]
    lobby_in, lobby_out, eng = demo.gates[LOBBY_IN], demo.gates[LOBBY_OUT], demo.gates[ENGINEERING]
    _, alice = await bound_phone(api, demo, "alice")
    _, bob = await bound_phone(api, demo, "bob")
    guard = await login(api, demo, "guard")
    zones = {z["name"]: z["id"] for z in (await guard.ok("{ zones { id name } }"))["zones"]}

    async def muster(zone: str | None = None) -> list[tuple[str, list[str]]]:
        return lines((await guard.ok(MUSTER, {"z": zones[zone] if zone else None}))["muster"])

    t0 = await settle_into_step(server)
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(lobby_in, alice.token(at=t0)), lobby_in, "Alice Li")
        assert_granted(await gate.scan(eng, alice.token(at=t0, step_offset=1), "IN"), eng, "Alice Li")
        assert_granted(await gate.scan(lobby_in, bob.token(at=t0)), lobby_in, "Bob Wang")
        assert_granted(await gate.scan(lobby_out, bob.token(at=t0, step_offset=1)), lobby_out, "Bob Wang")
    inside = [("Alice Li", ["Engineering office", "Lobby"])]
    assert await muster() == inside

    assert await forget_everything(prefix) >= 1, "the server's pooled connections were found and closed"

    # Nobody has scanned since: the roll call alone notices the loss, and answers from the log.
    assert await muster() == inside
    assert await muster("Engineering office") == [("Alice Li", ["Engineering office"])]

    r = aioredis.from_url(REDIS_URL)
    try:

        async def rebuilt() -> bool:
            return bool(await r.exists(f"{prefix}presence-loaded"))

        await eventually(rebuilt, 20, "the presence rebuilt (started by the roll call)")
    finally:
        await r.aclose()
    assert await muster() == inside


async def test_a_soft_anti_passback_check_on_a_lost_state_fails_closed(require_redis: None) -> None:
    """The other reader of presence: a SOFT zone's check (`inside`, read by badge scans, which
    claim no token that would notice the loss first) raises ScanStateLost on a lost state, and
    the scan path then refuses `unavailable` and rebuilds, as for HARD zones."""
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:12]}:"
    state = RedisScanState(REDIS_URL, prefix)
    await state.connect()
    try:
        await state.load_presence({7: {3}})
        assert await state.inside(7) == {3}
        assert await state.inside(8) == set()
        await forget_everything(prefix, kill_clients=False)
        with pytest.raises(ScanStateLost):
            await state.inside(7)
    finally:
        await state.disconnect()
        await forget_everything(prefix, kill_clients=False)
