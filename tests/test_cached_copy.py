"""The scan path's in-memory copies (topology, grant index: resolvers/core/cached_copy.py).

A copy past its age is served while one background read replaces it (a campus's scans used to
wait 0.1-0.4 s for that read every 30 s); an announced change, or a copy past twice its age,
makes callers wait for a fresh read; a read that a change overtook is not kept.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from resolvers.core.cached_copy import CachedCopy


class Source:
    """What the copy is read from: each read returns the next number; a read can be held open."""

    def __init__(self) -> None:
        self.reads = 0
        self.value = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.fail = False

    async def load(self) -> int:
        self.reads += 1
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("the database is away")
        self.value += 1
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def read_once() -> tuple[Source, Clock, CachedCopy[int]]:
    """A copy (30 s old at most) and its first read."""
    source, clock = Source(), Clock()
    copy = CachedCopy("test copy", source.load, 30.0, monotonic=clock)
    assert await copy.get() == 1
    return source, clock, copy


async def test_a_copy_is_read_once_and_served_until_its_age() -> None:
    source, clock, copy = await read_once()
    clock.now += 29.9
    assert [await copy.get() for _ in range(5)] == [1] * 5
    assert source.reads == 1


async def test_past_its_age_the_copy_is_served_while_one_background_read_replaces_it() -> None:
    source, clock, copy = await read_once()
    clock.now += 31
    source.gate.clear()
    source.started.clear()
    # Callers get the old copy at once, however many come while the read is held open.
    assert [await copy.get() for _ in range(20)] == [1] * 20
    await asyncio.wait_for(source.started.wait(), 5)
    assert source.reads == 2
    source.gate.set()

    for _ in range(1000):  # the background read installs its copy within a few loop turns
        if await copy.get() == 2:
            break
        await asyncio.sleep(0)
    assert await copy.get() == 2
    assert source.reads == 2


async def test_an_announced_change_makes_callers_wait_for_a_fresh_read() -> None:
    _source, _clock, copy = await read_once()
    copy.invalidate()
    assert await copy.get() == 2


async def test_a_copy_past_twice_its_age_is_not_served() -> None:
    _source, clock, copy = await read_once()
    clock.now += 60
    assert await copy.get() == 2


async def test_a_read_overtaken_by_a_change_is_not_kept() -> None:
    source, clock, copy = await read_once()
    clock.now += 31
    source.gate.clear()
    source.started.clear()
    assert await copy.get() == 1  # starts the background read, held open
    await asyncio.wait_for(source.started.wait(), 5)
    copy.invalidate()  # a change announced while it reads: its result is stale
    source.gate.set()
    assert await copy.get() == 3  # the held read (2) was dropped; this caller read again
    assert source.reads == 3


async def test_a_failed_background_read_keeps_the_copy_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    source, clock, copy = await read_once()
    clock.now += 31
    source.fail = True
    source.started.clear()
    with caplog.at_level(logging.ERROR, logger="gatehouse.cache"):
        assert await copy.get() == 1
        await asyncio.wait_for(source.started.wait(), 5)
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0)
    assert any("reading the test copy again failed" in r.getMessage() for r in caplog.records)
    assert await copy.get() == 1  # still served (a new background read is tried)
    source.fail = False
    clock.now += 30  # past twice its age: no longer served; read now
    assert await copy.get() >= 2


async def test_a_copy_the_caller_refuses_is_read_again() -> None:
    source, _clock, copy = await read_once()
    assert await copy.get(accept=lambda value: value >= 2) == 2
    assert await copy.get(accept=lambda value: value >= 2) == 2
    assert source.reads == 2
