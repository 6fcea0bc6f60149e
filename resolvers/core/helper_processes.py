"""The server's helper processes (files drawn, faces read) and how they end.

Both run in a ProcessPoolExecutor on Python's forkserver: one clean process per server process
that forks the helpers, the heavy modules imported once. Python ends the forkserver when its
server ends, but a server that is killed (SIGKILL, out of memory, a test harness's kill) left its
forkserver and helpers running: measured here, 41 of them, 300 MB each, after a day of test runs.
So each of them asks the kernel to kill it when the process that started it dies
(PR_SET_PDEATHSIG): the forkserver when the server's event loop thread goes (the thread that
starts it), a helper when its forkserver goes.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import ForkServerContext
from typing import TypeVar

log = logging.getLogger("gatehouse.helpers")
R = TypeVar("R")

# Imported once in the forkserver: the module that arms it first, then what the helpers need.
FORKSERVER_PRELOAD = [
    "resolvers.core.forkserver_armed",
    "resolvers.core.fonts",
    "resolvers.visits.badges",
    "resolvers.items.catalogue",
    "resolvers.attendance.report_files",
    "resolvers.supervision.report",
]
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Be killed when the process (thread) that started this one dies; gone at once if it has."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request was made
        os._exit(0)


def context() -> ForkServerContext:
    """The forkserver context both pools use: one forkserver, the same preload whichever starts it."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
    return ctx


class HelperBusy(RuntimeError):
    """More calls are waiting for a helper process than it takes on."""


class HelperPool:
    """One helper process (started at the first call), at most `max_waiting` calls waiting for it:
    past that a call is refused at once (`busy`, a HelperBusy subclass) rather than queued, since
    what waits behind it is a gate or a person. A helper that dies (killed, out of memory) is
    replaced and the call tried once more."""

    def __init__(
        self,
        what: str,
        max_waiting: int,
        busy: Callable[[str], HelperBusy],
        busy_message: str,
        initializer: Callable[[], None] = die_with_parent,
    ) -> None:
        self._what = what
        self._max_waiting = max_waiting
        self._busy = busy
        self._busy_message = busy_message
        self._initializer = initializer
        self._pool: ProcessPoolExecutor | None = None
        self._waiting = 0

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context(), initializer=self._initializer)
        return self._pool

    async def run(self, fn: Callable[..., R], *args: object) -> R:
        if self._waiting >= self._max_waiting:
            raise self._busy(self._busy_message)
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self._executor(), fn, *args)
            except BrokenProcessPool:
                log.error("the %s process died; starting a new one", self._what)
                self._discard()
                return await loop.run_in_executor(self._executor(), fn, *args)
        finally:
            self._waiting -= 1

    @property
    def waiting(self) -> int:
        """Calls running or waiting their turn (the gatehouse_queue_depth metric)."""
        return self._waiting

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def stop(self) -> None:
        self._discard()
