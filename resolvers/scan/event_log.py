"""The gate event log's storage: group commit of `GateEventRecord`s.

`store` returns once the events are committed. Events arriving together are committed
together: the writer takes whatever is queued when it is free, so one commit carries one
event when the site is quiet and hundreds at the morning rush. Presence and publishing
come after, in resolvers/scan/writer.py: this module only stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from realtime import metrics
from resolvers.scan.event_rows import store_batch
from resolvers.scan.gate_event import GateEventRecord

log = logging.getLogger("gatehouse.events")

MAX_BATCH = 500
Listener = Callable[[list[GateEventRecord]], Awaitable[None]]


@dataclass(slots=True)
class _Pending:
    event: GateEventRecord
    done: asyncio.Future[GateEventRecord]


class EventLog:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Called with each committed batch, off the scan path (anomaly rules, for one).
        self.listeners: list[Listener] = []
        self._listener_tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_loop(), name="event-writer")

    async def stop(self) -> None:
        # Finish what is queued: a decision already promised must be stored.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=10)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def queued(self) -> int:
        """Events waiting for the next group commit (the gatehouse_queue_depth metric)."""
        return self._queue.qsize()

    async def store(self, event: GateEventRecord) -> GateEventRecord:
        """The event as stored (with its id); raises if it could not be stored."""
        return await self._enqueue(event)

    async def store_all(self, events: Sequence[GateEventRecord]) -> list[GateEventRecord | Exception]:
        """Each event as stored, or the error that kept it out (an IntegrityError for a duplicate)."""
        results = await asyncio.gather(*(self._enqueue(e) for e in events), return_exceptions=True)
        out: list[GateEventRecord | Exception] = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancelled: not ours to swallow
            out.append(result)
        return out

    def _enqueue(self, event: GateEventRecord) -> asyncio.Future[GateEventRecord]:
        if self._task is None:
            raise RuntimeError("the event log is not running")
        done: asyncio.Future[GateEventRecord] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(event, done))
        return done

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                stored = await self._write(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(RuntimeError("server stopping"))
                raise
            except Exception as exc:
                if not isinstance(exc, IntegrityError):
                    log.exception("storing %d gate events together failed; storing them one by one", len(batch))
                await self._write_one_by_one(batch)
                continue
            for item, event in zip(batch, stored, strict=True):
                if not item.done.done():
                    item.done.set_result(event)
            for _ in batch:
                self._queue.task_done()
            self._notify(stored)

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        """One bad row (or an upload stored twice at once) must not fail every event committed with it."""
        stored = []
        for item in batch:
            try:
                [event] = await self._write([item])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, IntegrityError):
                    log.warning("the database refused a gate event (an upload already stored?): %s", exc)
                else:
                    log.exception("storing a gate event failed")
                if not item.done.done():
                    item.done.set_exception(exc)
            else:
                stored.append(event)
                if not item.done.done():
                    item.done.set_result(event)
            finally:
                self._queue.task_done()
        self._notify(stored)

    def _notify(self, stored: list[GateEventRecord]) -> None:
        if not stored:
            return
        for listener in self.listeners:
            task = asyncio.create_task(self._run_listener(listener, stored))
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)

    async def _run_listener(self, listener: Listener, stored: list[GateEventRecord]) -> None:
        try:
            await listener(stored)
        except Exception:
            log.exception("an event listener failed")

    async def _write(self, batch: list[_Pending]) -> list[GateEventRecord]:
        events = [item.event for item in batch]
        started = time.perf_counter()
        # One statement, committed when it returns. Ids in commit order across workers (a guard's
        # resume cursor, resolvers/core/commit_order.py): the statement takes the lock before the
        # first id is drawn (resolvers/scan/event_rows.py).
        ids = await store_batch(events)
        # Once per commit, not per scan: at the rush one commit carries hundreds of events.
        metrics.DB_COMMIT_SECONDS.observe(time.perf_counter() - started)
        metrics.GROUP_COMMIT_ROWS.observe(len(events))
        return [event.stored_as(event_id) for event, event_id in zip(events, ids, strict=True)]
