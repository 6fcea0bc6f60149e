"""Zones, gates and which device serves which gate, held in memory for the scan path.

They change rarely and every scan needs them; each process keeps a copy and drops
it when any process announces a change on the bus (realtime/messages.py `TopologyChanged`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from resolvers.core.cached_copy import CachedCopy
from resolvers.core.models import AntiPassback, DeviceGate, Gate, GateDirection, Lockdown, Zone, ZoneKind

# Changes arrive on the bus at once; this bounds how long a lost message could keep a stale copy.
MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ZoneNode:
    id: int
    name: str
    parent_id: int | None
    anti_passback: AntiPassback
    kind: ZoneKind = ZoneKind.OFFICE
    department_id: int | None = None
    responsible_id: int | None = None
    face_and_pass: bool = False  # two factors at its gates (resolvers/faces/gate.py)


@dataclass(frozen=True, slots=True)
class GateNode:
    id: int
    name: str
    zone_id: int
    direction: GateDirection


@dataclass
class Topology:
    zones: dict[int, ZoneNode] = field(default_factory=dict)
    gates: dict[int, GateNode] = field(default_factory=dict)
    device_gates: dict[int, frozenset[int]] = field(default_factory=dict)
    gate_devices: dict[int, frozenset[int]] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)
    # Active lockdowns and evacuations: (zone id or None, gate id or None, mode).
    lockdowns: list[tuple[int | None, int | None, str]] = field(default_factory=list)

    def lockdown_mode(self, gate: GateNode) -> str | None:
        """LOCKDOWN, EVACUATION or None for a gate: its own, its zone's or an ancestor's, or site-wide."""
        zones = {gate.zone_id, *self.ancestors(gate.zone_id)}
        modes = {
            mode
            for zone_id, gate_id, mode in self.lockdowns
            if (gate_id is not None and gate_id == gate.id)
            or (gate_id is None and (zone_id is None or zone_id in zones))
        }
        if "LOCKDOWN" in modes:
            return "LOCKDOWN"
        return "EVACUATION" if modes else None

    def ancestors(self, zone_id: int) -> list[int]:
        """Parents up to the root, nearest first."""
        out: list[int] = []
        current = self.zones.get(zone_id)
        while current is not None and current.parent_id is not None and current.parent_id not in out:
            out.append(current.parent_id)
            current = self.zones.get(current.parent_id)
        return out

    def subtree(self, zone_id: int) -> set[int]:
        """The zone and all its descendants."""
        seen = {zone_id}
        stack = [zone_id]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def owner_department(self, zone_id: int) -> int | None:
        """The department owning the zone: its own, else the nearest ancestor's."""
        for zid in [zone_id, *self.ancestors(zone_id)]:
            zone = self.zones.get(zid)
            if zone is not None and zone.department_id is not None:
                return zone.department_id
        return None

    def zones_opening(self, zone_id: int) -> set[int]:
        """Zones whose grant opens a gate of `zone_id`: itself, its ancestors' ... see contract.

        Access to zone Z opens gates of Z, of its descendants and of its ancestors; so a
        gate in zone G opens for grants on G, on any ancestor of G, and on any descendant of G.
        """
        return self.subtree(zone_id) | set(self.ancestors(zone_id))


async def load_topology() -> Topology:
    topo = Topology()
    for z in await Zone.all().values(
        "id", "name", "parent_id", "anti_passback", "kind", "department_id", "responsible_id", "face_and_pass"
    ):
        topo.zones[z["id"]] = ZoneNode(
            z["id"],
            z["name"],
            z["parent_id"],
            AntiPassback(z["anti_passback"]),
            ZoneKind(z["kind"]),
            z["department_id"],
            z["responsible_id"],
            bool(z["face_and_pass"]),
        )
        if z["parent_id"] is not None:
            topo.children.setdefault(z["parent_id"], []).append(z["id"])
    for g in await Gate.all().values("id", "name", "zone_id", "direction"):
        topo.gates[g["id"]] = GateNode(g["id"], g["name"], g["zone_id"], GateDirection(g["direction"]))
    by_device: dict[int, set[int]] = {}
    by_gate: dict[int, set[int]] = {}
    for link in await DeviceGate.all().values("device_id", "gate_id"):
        by_device.setdefault(link["device_id"], set()).add(link["gate_id"])
        by_gate.setdefault(link["gate_id"], set()).add(link["device_id"])
    topo.lockdowns = [
        (row["zone_id"], row["gate_id"], row["mode"])
        for row in await Lockdown.filter(released_at=None).values("zone_id", "gate_id", "mode")
    ]
    topo.device_gates = {d: frozenset(g) for d, g in by_device.items()}
    topo.gate_devices = {g: frozenset(d) for g, d in by_gate.items()}
    return topo


class TopologyCache:
    def __init__(self) -> None:
        self._copy: CachedCopy[Topology] = CachedCopy("site topology", load_topology, MAX_AGE_SECONDS)
        self._last_forced = 0.0

    async def get(self) -> Topology:
        return await self._copy.get()

    def invalidate(self) -> None:
        self._copy.invalidate()

    async def reload(self) -> Topology:
        self.invalidate()
        return await self.get()

    async def reload_if_older(self, seconds: float) -> Topology:
        """Read the site again, unless that was done within `seconds` (a misconfigured or hostile
        device scanning unknown gates must not turn every scan into a full reload)."""
        now = time.monotonic()
        if now - self._last_forced < seconds:
            return await self.get()
        self._last_forced = now
        return await self.reload()
