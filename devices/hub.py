"""The gate devices connected to this process, and the routes to them.

Commands published on the bus reach the process that holds the device's socket;
a device that connects again (anywhere) replaces its older connection (4409).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, Protocol

from realtime.bus import Bus
from resolvers.device_commands import CHANNEL as COMMANDS
from resolvers.people import REVOCATIONS

log = logging.getLogger("gatehouse.devices")
SESSIONS = "device_sessions"


class DeviceLink(Protocol):
    device_id: int
    connection_id: str

    async def send(self, frame: dict[str, Any]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class DeviceHub:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._links: dict[int, DeviceLink] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.process_id = uuid.uuid4().hex[:12]

    async def start(self) -> None:
        ready = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
        self._tasks = [
            asyncio.create_task(self._route_commands(ready[0]), name="device-commands"),
            asyncio.create_task(self._route_sessions(ready[1]), name="device-sessions"),
            asyncio.create_task(self._route_revocations(ready[2]), name="device-revocations"),
        ]
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
            await self._replace(old)
        self._bus.publish(SESSIONS, {"deviceId": link.device_id, "connection": link.connection_id})

    def detach(self, link: DeviceLink) -> None:
        if self._links.get(link.device_id) is link:
            del self._links[link.device_id]

    def local(self, device_id: int) -> DeviceLink | None:
        return self._links.get(device_id)

    @property
    def connected(self) -> int:
        return len(self._links)

    async def _replace(self, old: DeviceLink) -> None:
        with contextlib.suppress(Exception):
            await old.close(4409, "replaced by a newer connection of this device")

    async def _route_commands(self, ready: asyncio.Event) -> None:
        async with self._bus.subscribe(COMMANDS) as sub:
            ready.set()
            async for message in sub:
                link = self._links.get(message.get("deviceId"))  # type: ignore[arg-type]
                if link is not None:
                    try:
                        await link.send(message["frame"])
                    except Exception:
                        log.warning("command to device %s not delivered", link.device_id)

    async def _route_sessions(self, ready: asyncio.Event) -> None:
        async with self._bus.subscribe(SESSIONS) as sub:
            ready.set()
            async for message in sub:
                link = self._links.get(message.get("deviceId"))  # type: ignore[arg-type]
                if link is not None and link.connection_id != message.get("connection"):
                    self.detach(link)
                    await self._replace(link)

    async def _route_revocations(self, ready: asyncio.Event) -> None:
        """Revoked credentials go to every device (a new frame type; firmware ignores unknown ones)."""
        async with self._bus.subscribe(REVOCATIONS) as sub:
            ready.set()
            async for message in sub:
                frame = {"type": "revoke", "credentialIds": message.get("credentialIds", [])}
                for link in list(self._links.values()):
                    try:
                        await link.send(frame)
                    except Exception:
                        log.warning("revocation to device %s not delivered", link.device_id)
