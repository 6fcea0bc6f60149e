"""The scan state's pipelined Redis connection (realtime/redis_pipe.py): many commands in flight
on one connection each get their own reply, an error reply fails only its command, a script runs
whether or not Redis has it cached, and a connection Redis closed is replaced transparently."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ResponseError

from realtime.redis_pipe import PipelinedRedis, PipelinedScript, pack
from tests.harness import REDIS_URL

pytestmark = pytest.mark.redis


@pytest.fixture
async def pipe(require_redis: None) -> AsyncIterator[tuple[PipelinedRedis, str]]:
    prefix = f"ghtest:pipe:{uuid.uuid4().hex[:12]}:"
    redis = PipelinedRedis(REDIS_URL, client_name=f"{prefix}client")
    try:
        yield redis, prefix
    finally:
        keys = await redis.call("KEYS", prefix + "*")
        if keys:
            await redis.call("DEL", *keys)
        await redis.close()


def test_commands_are_packed_as_resp_arrays_of_bulk_strings() -> None:
    assert pack(("SET", "k", 5, "é")) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$2\r\n\xc3\xa9\r\n"
    with pytest.raises(TypeError):
        pack(("SET", "k", None))


async def test_commands_in_flight_together_each_get_their_own_reply(pipe: tuple[PipelinedRedis, str]) -> None:
    redis, prefix = pipe
    counts = await asyncio.gather(*(redis.call("INCR", prefix + "n") for _ in range(300)))
    assert sorted(counts) == list(range(1, 301))
    echoed = await asyncio.gather(*(redis.call("ECHO", f"m{i}") for i in range(300)))
    assert echoed == [f"m{i}" for i in range(300)]


async def test_an_error_reply_fails_its_command_only(pipe: tuple[PipelinedRedis, str]) -> None:
    redis, prefix = pipe
    await redis.call("SET", prefix + "text", "x")
    results = await asyncio.gather(
        redis.call("ECHO", "before"),
        redis.call("INCR", prefix + "text"),
        redis.call("ECHO", "after"),
        return_exceptions=True,
    )
    assert results[0] == "before" and results[2] == "after"
    assert isinstance(results[1], ResponseError)


async def test_a_script_runs_before_and_after_redis_caches_it(pipe: tuple[PipelinedRedis, str]) -> None:
    redis, prefix = pipe
    # A script Redis has never seen (its text is new): the first call loads it.
    script = PipelinedScript(redis, f"-- {uuid.uuid4().hex}\nreturn {{KEYS[1], ARGV[1]}}")
    assert await script(keys=[prefix + "a"], args=[7]) == [prefix + "a", "7"]
    assert await script(keys=[prefix + "b"], args=["x"]) == [prefix + "b", "x"]


async def test_a_connection_redis_closed_is_replaced(pipe: tuple[PipelinedRedis, str]) -> None:
    redis, prefix = pipe
    await redis.call("SET", prefix + "k", "v")
    name = f"{prefix}client"
    # Killed by name, as an operator (or tests/test_scan_state_recovery.py) finds it.
    killer = PipelinedRedis(REDIS_URL, client_name=f"{prefix}killer")
    try:
        clients = (await killer.call("CLIENT", "LIST")).splitlines()
        ids = [line.split()[0].removeprefix("id=") for line in clients if f"name={name} " in line + " "]
        assert ids, clients
        for client_id in ids:
            assert await killer.call("CLIENT", "KILL", "ID", client_id) == 1
    finally:
        await killer.close()
    assert await redis.call("GET", prefix + "k") == "v"
