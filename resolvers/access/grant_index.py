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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q

from resolvers.access import schedules
from resolvers.core import clock
from resolvers.core.cached_copy import CachedCopy
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
    def __init__(self, shared_version: Callable[[], Awaitable[int]]) -> None:
        """`shared_version`: the grants version every process shares (ScanState.grants_version)."""
        self._shared_version = shared_version
        self._copy: CachedCopy[GrantIndex] = CachedCopy("grant index", self._load, MAX_AGE_SECONDS)

    async def get(self, version: int | None = None) -> GrantIndex:
        """The index; with `version` (the shared grants version, read before this call), one read
        at that version or later: it then holds every grant change committed before `version` was
        bumped. Another value than the copy's (not only a higher one: a Redis that restarted empty
        starts counting again) means another process changed grants since the copy was read."""
        return await self._copy.get(lambda index: version is None or index.version == version)

    def invalidate(self) -> None:
        self._copy.invalidate()

    async def _load(self) -> GrantIndex:
        # The version read before the grants: the copy holds every change committed before it.
        try:
            version: int | None = await self._shared_version()
        except Exception:
            version = None  # unknown (the shared state is recovering): the next versioned read reads again
        index = await GrantIndex.load()
        index.version = version
        return index
