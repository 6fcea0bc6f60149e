"""The services every domain function shares, built once per process by the app or the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from realtime.bus import Bus, make_bus
from realtime.messages import AccessChanged, BusMessage, FacesChanged, TopologyChanged
from realtime.scan_state import ScanState, make_scan_state
from resolvers.access.grant_index import GrantCache
from resolvers.access.topology import TopologyCache
from resolvers.core import clock, key_store
from resolvers.core.crypto import KeyRing, Keys, KeySource, Sealer
from resolvers.core.readiness import Readiness, standard_checks
from resolvers.core.settings import Settings
from resolvers.faces.matcher import gallery_cache
from resolvers.scan.event_log import EventLog
from resolvers.scan.presence import rebuild_presence_if_needed

log = logging.getLogger("gatehouse.runtime")


@dataclass
class Runtime:
    settings: Settings
    ring: KeyRing
    sealer: Sealer
    bus: Bus
    state: ScanState
    topology: TopologyCache
    events: EventLog
    grant_index: GrantCache
    background: list[Any] = field(default_factory=list)
    _keys_read_at: float = 0.0
    _keys_read_for: frozenset[str] = frozenset()
    # What /readyz asks (resolvers/core/readiness.py); features add their own checks to it.
    readiness: Readiness = field(default_factory=Readiness)
    # Draws a file in the drawing process (api/drawing.py `drawer.draw`, set by the app); None in
    # the CLI and in-process tests, where a file is drawn in a thread instead.
    draw: Callable[..., Awaitable[Any]] | None = None

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        ring = KeyRing.from_source(KeySource(settings.secret_key, settings.key_file, settings.previous_secret_key))
        bus = make_bus(settings.redis_url, settings.redis_prefix)
        state = make_scan_state(settings.redis_url, settings.redis_prefix)
        return cls(
            settings=settings,
            ring=ring,
            sealer=Sealer(ring),
            bus=bus,
            state=state,
            topology=TopologyCache(),
            events=EventLog(),
            grant_index=GrantCache(state.grants_version),
            readiness=standard_checks(settings.database_url, settings.redis_url),
        )

    @property
    def keys(self) -> Keys:
        """The current keys: the current master key's, with the stable ones from the database."""
        return self.ring.keys

    @property
    def jwt_grace(self) -> timedelta:
        """How long a retired JWT key is still accepted: an access token's lifetime, and a minute
        for the servers to notice the new key."""
        return timedelta(minutes=self.settings.access_token_minutes + 1)

    async def load_keys(self) -> None:
        """The keys kept in the database (the database must be started)."""
        held = frozenset(self.ring.masters)
        await key_store.load(self.ring, clock.now(), self.jwt_grace)
        self._keys_read_at = time.monotonic()
        self._keys_read_for = held

    def keys_changed(self) -> bool:
        """The master keys held differ from those the database's keys were last read for."""
        self.ring.reload_if_changed()
        return frozenset(self.ring.masters) != self._keys_read_for

    async def refresh_keys(self) -> bool:
        """Look again (at most once a second) after meeting a key id this process does not hold:
        a rotation may have begun in another process. True when it looked."""
        if not self.keys_changed() and time.monotonic() - self._keys_read_at < 1.0:
            return False
        await self.load_keys()
        return True

    async def start(self) -> None:
        await self.load_keys()
        await self.bus.connect()
        await self.state.connect()
        self.events.start()
        for listener in (
            _DropOnMessage(self.bus, TopologyChanged, self.topology.invalidate),
            _DropOnMessage(self.bus, AccessChanged, self.grant_index.invalidate),
            _DropOnMessage(self.bus, FacesChanged, gallery_cache.invalidate),
        ):
            await listener.start()
            self.background.append(listener)
        watcher = _KeyWatcher(self)
        watcher.start()
        self.background.append(watcher)
        await rebuild_presence_if_needed(self.state, self.topology)
        # Read now, not by the first scans (with a campus's 10,000 gates, 0.1-0.4 s each).
        await self.topology.get()
        await self.grant_index.get()

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


class _KeyWatcher:
    """Picks up a new key file without a restart (README "Keys"): every GATEHOUSE_KEY_RELOAD_SECONDS
    it looks whether the key files changed and, if so, reads them and the database's keys again;
    it also ends JWT grace periods that are over."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="key-watcher")

    async def _run(self) -> None:
        rt = self._rt
        while True:
            await asyncio.sleep(rt.settings.key_reload_seconds)
            try:
                now = clock.now()
                over = any(until <= now for _, until in rt.ring.grace_jwt.values())
                if rt.keys_changed() or over:
                    await rt.load_keys()
                    log.info("keys read again (current master key %s)", rt.ring.current_id)
            except Exception:
                log.exception("reading the keys again failed; the keys in use stay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
