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

import ctypes
import multiprocessing
import os
import signal
import sys
from multiprocessing.context import ForkServerContext

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
