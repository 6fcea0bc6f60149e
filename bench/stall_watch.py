"""Where the server's event loop stalls: imported into a bench's server (GATEHOUSE_TEST_IMPORTS=bench.stall_watch).

A thread samples the main thread's Python stack every few milliseconds. One callback or task
step that runs long keeps the same outermost frame on the stack in every sample; when that lasts
longer than STALL_MS, the stall's innermost frames (counted over its samples) are written to
STALL_WATCH_LOG (default var/stalls.log) when it ends. A diagnostic for `make bench`'s
p99 tails, not part of the server.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import threading
import time
import traceback
from types import FrameType

SAMPLE_SECONDS = 0.002
STALL_MS = float(os.environ.get("STALL_WATCH_MS", "50"))
LOG = os.environ.get("STALL_WATCH_LOG", "var/stalls.log")


def _outermost_busy(frame: FrameType | None) -> tuple[FrameType | None, list[FrameType]]:
    """The stack's frames, outermost first, above the event loop's own run frames."""
    stack: list[FrameType] = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    stack.reverse()
    # uvloop's and asyncio's run loops are C below `run`/`run_forever`: the first frame after the
    # last loop-runner frame is what the loop is running now.
    runners = {"run", "run_until_complete", "run_forever", "_run_once", "serve", "main", "_serve"}
    start = 0
    for i, f in enumerate(stack):
        if f.f_code.co_name in runners and (
            "asyncio" in f.f_code.co_filename or "uvicorn" in f.f_code.co_filename or "uvloop" in f.f_code.co_filename
        ):
            start = i + 1
    busy = stack[start:]
    return (busy[0] if busy else None), busy


def _where(frames: list[FrameType], depth: int = 12) -> str:
    lines = traceback.format_list(traceback.extract_stack(frames[-1], limit=depth)) if frames else []
    return "".join(lines)


def _watch(main_ident: int) -> None:
    current: FrameType | None = None
    began = 0.0
    stacks: collections.Counter[str] = collections.Counter()
    while True:
        time.sleep(SAMPLE_SECONDS)
        frame = sys._current_frames().get(main_ident)
        outer, busy = _outermost_busy(frame)
        now = time.monotonic()
        if outer is not None and outer is current:
            stacks[_where(busy)] += 1
            continue
        if current is not None and (now - began) * 1000 >= STALL_MS:
            with open(LOG, "a") as out:
                out.write(
                    f"=== stall {1000 * (now - began):.0f} ms in {current.f_code.co_name} "
                    f"({current.f_code.co_filename}:{current.f_lineno}) at {time.time():.3f}\n"
                )
                for text, n in stacks.most_common(3):
                    out.write(f"--- {n} samples\n{text}")
        current, began = outer, now
        stacks = collections.Counter()
        if outer is not None:
            stacks[_where(busy)] += 1


threading.Thread(target=_watch, args=(threading.main_thread().ident,), daemon=True, name="stall-watch").start()


class _TimedLock(asyncio.Lock):
    """The ORM's SQLite connection lock, logging who held it longer than STALL_MS (and for how long)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self._since = 0.0
        self._holder = ""

    async def acquire(self) -> bool:
        result = await super().acquire()
        self._since = time.monotonic()
        self._holder = "".join(traceback.format_stack(limit=30)[:-1])
        return result

    def release(self) -> None:
        held = (time.monotonic() - self._since) * 1000
        if held >= STALL_MS:
            with open(LOG, "a") as out:
                out.write(f"=== ORM connection {self._name} held {held:.0f} ms at {time.time():.3f}\n{self._holder}")
        super().release()


def _watch_orm_lock() -> None:
    from tortoise.backends.sqlite.client import SqliteClient

    original = SqliteClient.__init__

    def __init__(self: SqliteClient, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self._lock = _TimedLock(str(getattr(self, "connection_name", "")))

    SqliteClient.__init__ = __init__  # type: ignore[method-assign]


_watch_orm_lock()
