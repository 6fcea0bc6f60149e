"""The gate event log: every passage, manual entry, remote open and door alarm.

`record` returns once the event is committed; only then is it published. Scans
arriving together are committed together (group commit): the writer takes
whatever is queued when it is free, so one commit carries one event when the
site is quiet and hundreds at the morning rush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from realtime.bus import Bus
from resolvers.core.models import GateEvent

log = logging.getLogger("gatehouse.events")

CHANNEL = "gate_events"
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    at: datetime
    gate_id: int
    zone_id: int
    person_id: int | None
    decision: str | None
    reason: str
    method: str | None
    direction: str | None
    offline: bool
    credential_cid: str | None = None

    def message(self, gate_name: str, person_name: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "gateId": self.gate_id,
            "gateName": gate_name,
            "zoneId": self.zone_id,
            "personId": self.person_id,
            "personName": person_name,
            "decision": self.decision,
            "reason": self.reason,
            "method": self.method,
            "direction": self.direction,
            "offline": self.offline,
        }


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    gate_name: str
    person_name: str | None
    done: asyncio.Future[StoredEvent]


class EventLog:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Called with each committed batch, off the scan path (anomaly rules, for one).
        self.listeners: list[Callable[[list[StoredEvent]], Awaitable[None]]] = []
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

    async def record(self, row: dict[str, Any], gate_name: str, person_name: str | None) -> StoredEvent:
        """Store one event (fields of resolvers.core.models.GateEvent); publish it after the commit."""
        if self._task is None:
            raise RuntimeError("the event log is not running")
        done: asyncio.Future[StoredEvent] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(row, gate_name, person_name, done))
        return await done

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
            except Exception:
                log.exception("storing %d gate events together failed; storing them one by one", len(batch))
                await self._write_one_by_one(batch)
                continue
            for item, event in zip(batch, stored, strict=True):
                if not item.done.done():
                    item.done.set_result(event)
                self._bus.publish(CHANNEL, event.message(item.gate_name, item.person_name))
            for _ in batch:
                self._queue.task_done()
            self.notify(stored)

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        """One bad row must not fail every scan committed with it."""
        stored = []
        for item in batch:
            try:
                [event] = await self._write([item])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("storing a gate event failed")
                if not item.done.done():
                    item.done.set_exception(exc)
            else:
                stored.append(event)
                if not item.done.done():
                    item.done.set_result(event)
                self._bus.publish(CHANNEL, event.message(item.gate_name, item.person_name))
            finally:
                self._queue.task_done()
        self.notify(stored)

    def notify(self, stored: list[StoredEvent]) -> None:
        for listener in self.listeners:
            task = asyncio.create_task(self._run_listener(listener, stored))
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)

    async def _run_listener(
        self, listener: Callable[[list[StoredEvent]], Awaitable[None]], stored: list[StoredEvent]
    ) -> None:
        try:
            await listener(stored)
        except Exception:
            log.exception("an event listener failed")

    async def _write(self, batch: list[_Pending]) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        async with in_transaction():
            for item in batch:
                ev = await GateEvent.create(**item.row)
                out.append(
                    StoredEvent(
                        id=ev.id,
                        at=ev.at,
                        gate_id=ev.gate_id,
                        zone_id=ev.zone_id,
                        person_id=ev.person_id,
                        decision=ev.decision.value if ev.decision else None,
                        reason=ev.reason,
                        method=ev.method.value if ev.method else None,
                        direction=ev.direction.value if ev.direction else None,
                        offline=ev.offline,
                        credential_cid=ev.credential_cid,
                    )
                )
        return out
