"""The gate devices connected to this process, and the routes to them.

Commands published on the bus reach the process that holds the device's socket; a
device that connects again (anywhere) replaces its older connection (4409); a retired
device or a rotated secret closes the live connection (4401); revocations and fresh
offline snapshots go to every connected device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from devices.frames.outgoing import Revoke
from realtime.bus import Bus
from resolvers.devices.commands import CHANNEL as COMMANDS
from resolvers.devices.fleet import SESSIONS
from resolvers.people.people import REVOCATIONS
from resolvers.runtime import ACCESS_CHANNEL

log = logging.getLogger("gatehouse.devices")
SNAPSHOT_DEBOUNCE_SECONDS = 1.0


class DeviceLink(Protocol):
    device_id: int
    connection_id: str
    offline_capable: bool

    async def send(self, frame: Mapping[str, Any]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


SnapshotMaker = Callable[[int], Awaitable[dict[str, Any]]]


class DeviceHub:
    def __init__(self, bus: Bus, snapshot_for: SnapshotMaker | None = None) -> None:
        self._bus = bus
        self._snapshot_for = snapshot_for
        self._links: dict[int, DeviceLink] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.process_id = uuid.uuid4().hex[:12]

    async def start(self) -> None:
        routes = [
            (COMMANDS, self._on_command),
            (SESSIONS, self._on_session),
            (REVOCATIONS, self._on_revocation),
        ]
        ready = [asyncio.Event() for _ in routes]
        self._tasks = [
            asyncio.create_task(self._route(channel, handler, event), name=f"hub-{channel}")
            for (channel, handler), event in zip(routes, ready, strict=True)
        ]
        if self._snapshot_for is not None:
            snapshot_ready = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._route_access(snapshot_ready), name="hub-snapshots"))
            ready.append(snapshot_ready)
        for event in ready:
            await event.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for link in list(self._links.values()):
            with contextlib.suppress(Exception):
                await link.close(1001, "server stopping")

    def new_connection_id(self) -> str:
        return f"{self.process_id}:{uuid.uuid4().hex[:12]}"

    async def attach(self, link: DeviceLink) -> None:
        old = self._links.get(link.device_id)
        self._links[link.device_id] = link
        if old is not None and old is not link:
            with contextlib.suppress(Exception):
                await old.close(4409, "replaced by a newer connection of this device")
        self._bus.publish(SESSIONS, {"deviceId": link.device_id, "connection": link.connection_id})

    def detach(self, link: DeviceLink) -> None:
        if self._links.get(link.device_id) is link:
            del self._links[link.device_id]

    def local(self, device_id: int) -> DeviceLink | None:
        return self._links.get(device_id)

    @property
    def connected(self) -> int:
        return len(self._links)

    async def _route(
        self, channel: str, handler: Callable[[dict[str, Any]], Awaitable[None]], ready: asyncio.Event
    ) -> None:
        async with self._bus.subscribe(channel) as sub:
            ready.set()
            async for message in sub:
                try:
                    await handler(message)
                except Exception:
                    log.exception("handling %s failed", channel)

    async def _on_command(self, message: dict[str, Any]) -> None:
        link = self._links.get(message.get("deviceId"))  # type: ignore[arg-type]
        if link is not None:
            await link.send(message["frame"])

    async def _on_session(self, message: dict[str, Any]) -> None:
        link = self._links.get(message.get("deviceId"))  # type: ignore[arg-type]
        if link is None or link.connection_id == message.get("connection"):
            return
        self.detach(link)
        code = message.get("closeCode", 4409)
        reason = "device retired or secret rotated" if code == 4401 else "replaced by a newer connection"
        with contextlib.suppress(Exception):
            await link.close(int(code), reason)

    async def _on_revocation(self, message: dict[str, Any]) -> None:
        # A new frame type; firmware that does not know it ignores it.
        frame: Revoke = {"type": "revoke", "credentialIds": message.get("credentialIds", [])}
        for link in list(self._links.values()):
            if link.offline_capable:
                with contextlib.suppress(Exception):
                    await link.send(frame)

    async def _route_access(self, ready: asyncio.Event) -> None:
        """Access changed somewhere: after a short pause (changes come in bursts) resend snapshots."""
        assert self._snapshot_for is not None
        async with self._bus.subscribe(ACCESS_CHANNEL) as sub:
            ready.set()
            while True:
                await sub.__anext__()
                await asyncio.sleep(SNAPSHOT_DEBOUNCE_SECONDS)
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                await self.push_snapshots()

    async def push_snapshots(self) -> None:
        assert self._snapshot_for is not None
        for link in [x for x in self._links.values() if x.offline_capable]:
            try:
                await link.send(await self._snapshot_for(link.device_id))
            except Exception:
                log.warning("snapshot to device %s not delivered", link.device_id)
