"""A copy of rarely changing site data held in memory for the scan path (the topology, the grant
index): kept until a change is announced on the bus, and read again now and then in case an
announcement was lost.

That periodic read used to drop the copy, so every scan arriving during the read waited for it:
with a campus of 10,000 gates the two reads took 0.1-0.4 s every 30 s, the campus scan p99
(bench/guards_and_campus.py). Now a copy past `max_age` is still served while one background read
replaces it; only an announced change (`invalidate`), or a copy past twice `max_age` (the
background reads keep failing), makes callers wait for a fresh read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("gatehouse.cache")


class CachedCopy(Generic[T]):
    def __init__(
        self,
        what: str,
        load: Callable[[], Awaitable[T]],
        max_age: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what
        self._load = load
        self.max_age = max_age
        self._monotonic = monotonic
        self._current: T | None = None
        self._generation = 0
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    def _servable(self) -> T | None:
        """The copy if it may be served now (None: read it with `get`). Past `max_age` this
        starts the background read that replaces it."""
        current = self._current
        if current is None:
            return None
        age = self._monotonic() - self._loaded_at
        if age < self.max_age:
            return current
        if age >= 2 * self.max_age:
            self.invalidate()
            return None
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._read_again(), name=f"read the {self._what} again")
        return current

    async def get(self, accept: Callable[[T], bool] | None = None) -> T:
        """The copy; read now if there is none or `accept` refuses it (a copy read now is taken as it is)."""
        while True:
            current = self._servable()
            if current is not None:
                if accept is None or accept(current):
                    return current
                self.invalidate()
            async with self._lock:
                held = self._current
                if held is not None and (accept is None or accept(held)):
                    return held
                loaded = await self._read()
                if loaded is not None:
                    return loaded

    def invalidate(self) -> None:
        """A change was announced: the copy goes, and a read under way will not install its result."""
        self._generation += 1
        self._current = None

    async def _read(self) -> T | None:
        """Read and install a copy; None when a change was announced meanwhile (read again)."""
        generation = self._generation
        loaded = await self._load()
        if generation != self._generation:
            return None
        self._current = loaded
        self._loaded_at = self._monotonic()
        return loaded

    async def _read_again(self) -> None:
        try:
            async with self._lock:
                if self._current is None:
                    return  # a change was announced meanwhile: the next caller reads it
                await self._read()
        except Exception:
            log.exception("reading the %s again failed; the copy in use stays for now", self._what)
