"""The services every domain function shares, built once per process by the app or the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realtime.bus import Bus, make_bus
from realtime.messages import AccessChanged, BusMessage, TopologyChanged
from realtime.scan_state import ScanState, make_scan_state
from resolvers.access.grant_index import GrantCache
from resolvers.access.topology import TopologyCache
from resolvers.core.crypto import Keys, Sealer, load_master_key
from resolvers.core.readiness import Readiness, standard_checks
from resolvers.core.settings import Settings
from resolvers.scan.event_log import EventLog
from resolvers.scan.presence import rebuild_presence_if_needed

log = logging.getLogger("gatehouse.runtime")


@dataclass
class Runtime:
    settings: Settings
    keys: Keys
    sealer: Sealer
    bus: Bus
    state: ScanState
    topology: TopologyCache
    events: EventLog
    grant_index: GrantCache
    background: list[Any] = field(default_factory=list)
    # What /readyz asks (resolvers/core/readiness.py); features add their own checks to it.
    readiness: Readiness = field(default_factory=Readiness)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        keys = Keys.from_master(load_master_key(settings.secret_key, settings.key_file))
        bus = make_bus(settings.redis_url, settings.redis_prefix)
        return cls(
            settings=settings,
            keys=keys,
            sealer=Sealer(keys),
            bus=bus,
            state=make_scan_state(settings.redis_url, settings.redis_prefix),
            topology=TopologyCache(),
            events=EventLog(),
            grant_index=GrantCache(),
            readiness=standard_checks(settings.database_url, settings.redis_url),
        )

    async def start(self) -> None:
        await self.bus.connect()
        await self.state.connect()
        self.events.start()
        for listener in (
            _DropOnMessage(self.bus, TopologyChanged, self.topology.invalidate),
            _DropOnMessage(self.bus, AccessChanged, self.grant_index.invalidate),
        ):
            await listener.start()
            self.background.append(listener)
        await rebuild_presence_if_needed(self.state, self.topology)

    async def stop(self) -> None:
        for task in self.background:
            await task.stop()
        await self.events.stop()
        await self.state.disconnect()
        await self.bus.disconnect()
        await self.readiness.close()

    def access_changed(self) -> None:
        """Who may pass where has changed: this process reads grants again at once, other
        processes when the bus tells them, and gates get a fresh offline snapshot."""
        self.grant_index.invalidate()
        self.bus.send(AccessChanged())

    async def grants_changed(self) -> None:
        """Grants changed and the change has committed: `access_changed`, and first the shared
        grants version is bumped, so a scan on any process that starts after this returns reads
        the grants again (resolvers/access/grant_index.py) rather than wait for the bus."""
        await self.state.bump_grants_version()
        self.access_changed()

    def topology_changed(self) -> None:
        self.access_changed()
        self.topology.invalidate()
        self.bus.send(TopologyChanged())


class _DropOnMessage:
    """Drops one of this process's in-memory copies when another process announces a change.

    These messages carry no fields, so any of them decodes, a newer release's too (its news
    is ignored); only one without a version is refused (logged and dropped by the bus)."""

    def __init__(self, bus: Bus, kind: type[BusMessage], drop: Callable[[], None]) -> None:
        self._bus = bus
        self._kind = kind
        self._drop = drop
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name=f"listen-{self._kind.CHANNEL}")
        await ready.wait()

    async def _run(self, ready: asyncio.Event) -> None:
        async with self._bus.receive(self._kind) as changes:
            ready.set()
            async for _ in changes:
                self._drop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
