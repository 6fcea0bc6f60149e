"""The services every domain function shares, built once per process by the app or the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from api.crypto import Keys, Sealer, load_master_key
from api.settings import Settings
from realtime.bus import Bus, make_bus
from realtime.scan_state import ScanState, make_scan_state
from resolvers import topology
from resolvers.event_log import EventLog
from resolvers.topology import TopologyCache

log = logging.getLogger("gatehouse.runtime")
ACCESS_CHANNEL = "access_changed"


@dataclass
class Runtime:
    settings: Settings
    keys: Keys
    sealer: Sealer
    bus: Bus
    state: ScanState
    topology: TopologyCache
    events: EventLog
    background: list[Any] = field(default_factory=list)

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
            events=EventLog(bus),
        )

    async def start(self) -> None:
        await self.bus.connect()
        await self.state.connect()
        self.events.start()
        self.background.append(_ListenTopology(self))
        await self.background[-1].start()
        from resolvers.presence import rebuild_presence_if_needed

        await rebuild_presence_if_needed(self)

    async def stop(self) -> None:
        for task in self.background:
            await task.stop()
        await self.events.stop()
        await self.state.disconnect()
        await self.bus.disconnect()

    def access_changed(self) -> None:
        """Who may pass where has changed: gates get a fresh offline snapshot."""
        self.bus.publish(ACCESS_CHANNEL, {"changed": True})

    def topology_changed(self) -> None:
        self.access_changed()
        self.topology.invalidate()
        self.bus.publish(topology.CHANNEL, {"changed": True})


class _ListenTopology:
    """Drops this process's copy of zones and gates when another process changes them."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._task: Any = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="topology-listener")
        await ready.wait()

    async def _run(self, ready: Any) -> None:
        async with self._rt.bus.subscribe(topology.CHANNEL) as sub:
            ready.set()
            async for _ in sub:
                self._rt.topology.invalidate()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
