"""Every live grant, in memory, for the scan path: the grant check costs no query.

Grants change rarely and every scan needs them. Each process keeps an index by person,
department and position, dropped whenever access changes here or on another process
(the `access_changed` bus message), and read again on the next scan.

The index also holds which gate devices are in service (a device opens doors only then:
contracts/README.md): a device's status decides who may pass as much as a grant does, so it
travels with the grants, is read again with them, and its changes bump the same version.

The bus is not what keeps a revoked grant from admitting: its message may arrive after the
next scan. The index also remembers the shared grants version it was read at
(`ScanState.grants_version`, bumped after every grant change commits), and a scan that sees
another version reads the grants again before it decides.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q

from resolvers.access import schedules
from resolvers.core import clock
from resolvers.core.models import Device, DeviceStatus, Grant
from resolvers.scan.reasons import Reason

# A commissioned device is in service (POLICY 5.2: installed, configured and tested); one under
# repair, retired or never commissioned is not.
SERVING = (DeviceStatus.COMMISSIONED, DeviceStatus.IN_SERVICE)

# Changes arrive on the bus at once; this bounds how long a lost message could keep a stale copy.
MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class LiveGrant:
    zone_id: int
    valid_from: datetime | None
    valid_until: datetime | None
    schedule: list[dict[str, Any]]

    def applies(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )


@dataclass
class GrantIndex:
    by_person: dict[int, list[LiveGrant]] = field(default_factory=dict)
    by_department: dict[int, list[LiveGrant]] = field(default_factory=dict)
    by_position: dict[str, list[LiveGrant]] = field(default_factory=dict)
    # The gate devices that may open doors (resolvers/devices/fleet.py moves them).
    devices_in_service: frozenset[int] = frozenset()
    # The shared grants version read before these grants were (None: not known).
    version: int | None = None

    @classmethod
    async def load(cls) -> GrantIndex:
        index = cls()
        rows = (
            await Grant.filter(revoked_at=None)
            .filter(Q(valid_until=None) | Q(valid_until__gt=clock.now()))
            .values("zone_id", "person_id", "department_id", "position", "valid_from", "valid_until", "schedule")
        )
        for r in rows:
            grant = LiveGrant(r["zone_id"], r["valid_from"], r["valid_until"], list(r["schedule"] or []))
            if r["person_id"] is not None:
                index.by_person.setdefault(r["person_id"], []).append(grant)
            elif r["department_id"] is not None:
                index.by_department.setdefault(r["department_id"], []).append(grant)
            elif r["position"]:
                index.by_position.setdefault(r["position"].lower(), []).append(grant)
        index.devices_in_service = frozenset(
            await Device.filter(status__in=SERVING).values_list("id", flat=True)  # type: ignore[arg-type]
        )
        return index

    def in_service(self, device_id: int) -> bool:
        return device_id in self.devices_in_service

    def verdict(
        self,
        person_id: int,
        department_id: int | None,
        position: str | None,
        zones: set[int],
        at: datetime,
        tz: ZoneInfo,
    ) -> Reason:
        """`OK`, `OUTSIDE_SCHEDULE` (a grant applies, but not at this hour) or `NO_ACCESS`."""
        candidates = [
            *self.by_person.get(person_id, ()),
            *(self.by_department.get(department_id, ()) if department_id is not None else ()),
            *(self.by_position.get(position.lower(), ()) if position else ()),
        ]
        live = [g for g in candidates if g.zone_id in zones and g.applies(at)]
        if not live:
            return Reason.NO_ACCESS
        return Reason.OK if any(schedules.allows(g.schedule, at, tz) for g in live) else Reason.OUTSIDE_SCHEDULE


class GrantCache:
    def __init__(self) -> None:
        self._current: GrantIndex | None = None
        self._generation = 0
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, version: int | None = None) -> GrantIndex:
        """The index; with `version` (the shared grants version, read before this call), one read
        at that version: it then holds every grant change committed before `version` was bumped."""
        while True:
            current = self._current
            if current is not None and time.monotonic() - self._loaded_at < MAX_AGE_SECONDS:
                if version is None or current.version == version:
                    return current
                # Another process changed grants since this copy was read (any other value, not
                # only a higher one: a Redis that restarted empty starts counting again).
                self.invalidate()
            elif current is not None:
                self.invalidate()  # a lost bus message must not keep an old copy for ever
            async with self._lock:
                held = self._current
                if held is not None and (version is None or held.version == version):
                    return held
                generation = self._generation
                loaded = await GrantIndex.load()
                loaded.version = version
                # A change announced while we were reading makes this copy stale: read again.
                if generation == self._generation:
                    self._current = loaded
                    self._loaded_at = time.monotonic()
                    return loaded

    def invalidate(self) -> None:
        self._generation += 1
        self._current = None
