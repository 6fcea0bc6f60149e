"""Redis comes back empty: the server notices, fails closed, rebuilds from the event log (issue 11, item 6).

The machine's Redis is shared with other tests, so it is never restarted here: the test deletes
every key of its own prefix (what a restart leaves of this site's state: nothing) and kills the
server's own pooled connections to it (what a restart does to them), found by their client name.
A token used before the loss must still be `replayed`, a HARD anti-passback re-entry still
refused, nothing is granted on the empty state meanwhile, and the first GraphQL request after it
is answered without an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import REDIS_URL, Demo, GraphQLClient, ServerProcess, Site, SiteTemplate
from tests.test_scan_e2e import (
    ENGINEERING,
    LOBBY_IN,
    access_log,
    assert_denied,
    assert_granted,
    bound_phone,
    connected,
    login,
    settle_into_step,
)


@pytest.fixture
def redis_site(tmp_path: Path, demo_template: SiteTemplate, require_redis: None) -> Iterator[Site]:
    site = demo_template.sqlite_copy(tmp_path, REDIS_URL)
    try:
        yield site
    finally:
        site.stop()
        asyncio.run(forget_everything(site.env["GATEHOUSE_REDIS_PREFIX"], kill_clients=False))


async def forget_everything(prefix: str, kill_clients: bool = True) -> int:
    """Delete the prefix's keys and close the server's connections to Redis: returns how many
    connections were closed."""
    import redis.asyncio as aioredis

    r = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in r.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
        killed = 0
        if kill_clients:
            for client in await r.client_list():
                if client.get("name") == f"{prefix}state":
                    killed += int(await r.client_kill_filter(_id=client["id"]))
        return killed
    finally:
        await r.aclose()


async def scan_until_decided(gate: Any, gate_id: str, token: str, direction: str | None = None) -> dict[str, Any]:
    """Scan (new refs) while the server answers `unavailable`; the first other answer."""
    deadline = time.monotonic() + 20
    while True:
        reply = await gate.scan(gate_id, token, direction)
        assert reply["granted"] is False or reply["reason"] != "unavailable", reply
        if reply["reason"] != "unavailable":
            return reply
        assert time.monotonic() < deadline, "the scan state was not rebuilt within 20 s"
        await asyncio.sleep(0.05)


async def test_after_redis_comes_back_empty_used_tokens_and_presence_are_rebuilt_failing_closed(
    redis_site: Site,
) -> None:
    server: ServerProcess = redis_site.start_server()
    demo: Demo = redis_site.demo  # type: ignore[assignment]
    api = GraphQLClient(server)
    alice, phone = await bound_phone(api, demo, "alice")
    lobby_in, eng = demo.gates[LOBBY_IN], demo.gates[ENGINEERING]
    prefix = redis_site.env["GATEHOUSE_REDIS_PREFIX"]
    t0 = await settle_into_step()
    used = phone.token(at=t0)
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(lobby_in, used), lobby_in, "Alice Li")

        assert await forget_everything(prefix) >= 1, "the server's pooled connections were found and closed"

        # The first GraphQL request after the loss is answered (the roll call reads the shared state).
        security = await login(api, demo, "security")
        await security.ok("query { muster { person { id } } }")

        # The token used at the Lobby is still used; never granted at Engineering.
        assert_denied(await scan_until_decided(gate, eng, used, "IN"), "replayed")
        # Alice is still inside the HARD Lobby: a second entry is refused.
        assert_denied(await scan_until_decided(gate, lobby_in, phone.token(at=t0, step_offset=1)), "anti_passback")

    reasons = [e["reason"] for e in await access_log(alice)]
    assert reasons[-1] == "ok" and reasons.count("ok") == 1, reasons
    assert set(reasons[:-1]) <= {"unavailable", "replayed", "anti_passback"}, reasons


async def test_a_lost_marker_alone_is_noticed_and_the_state_reloaded(redis_site: Site) -> None:
    """Only the marker deleted (a Redis restored from an old snapshot keeps keys, not the marker's
    promise): the server rebuilds before deciding, and decides as before."""
    import redis.asyncio as aioredis

    server = redis_site.start_server()
    demo: Demo = redis_site.demo  # type: ignore[assignment]
    api = GraphQLClient(server)
    alice, phone = await bound_phone(api, demo, "alice")
    lobby_in = demo.gates[LOBBY_IN]
    prefix = redis_site.env["GATEHOUSE_REDIS_PREFIX"]
    t0 = await settle_into_step()
    async with connected(server, demo.device_id, demo.device_secret) as gate:
        assert_granted(await gate.scan(lobby_in, phone.token(at=t0)), lobby_in, "Alice Li")
        r = aioredis.from_url(REDIS_URL)
        try:
            assert await r.delete(f"{prefix}presence-loaded") == 1
        finally:
            await r.aclose()
        first = await gate.scan(lobby_in, phone.token(at=t0, step_offset=1))
        assert_denied(first, "unavailable")  # noticed at once: nothing is decided on it
        assert_denied(await scan_until_decided(gate, lobby_in, phone.token(at=t0, step_offset=1)), "anti_passback")
    assert [e["reason"] for e in await access_log(alice)][-1] == "ok"
