"""Who is inside which zone, for anti-passback (and later muster lists).

An IN passage puts a person inside the gate's zone; an OUT passage takes them out
of it and its sub-zones. The live state sits in realtime.scan_state; when that
store is empty (first start, a restarted Redis) it is rebuilt from the event log. Passages
change it in one place only: resolvers/scan/writer.py, right after storing them.
"""

from __future__ import annotations

import logging

from realtime.scan_state import ScanState
from resolvers.access.topology import Topology, TopologyCache
from resolvers.core.models import Decision, Direction, GateEvent

log = logging.getLogger("gatehouse.presence")


def change(topo: Topology, zone_id: int, direction: Direction) -> tuple[int | None, set[int] | None]:
    """(zone entered, zones left) by a passage through a gate of `zone_id`."""
    if direction is Direction.IN:
        return zone_id, None
    return None, topo.subtree(zone_id)


def replay(topo: Topology, passages: list[tuple[int, int, str]]) -> dict[int, set[int]]:
    """Presence after the granted passages (person, zone, direction), oldest first."""
    inside: dict[int, set[int]] = {}
    for person_id, zone_id, direction in passages:
        zones = inside.setdefault(person_id, set())
        if direction == Direction.IN.value:
            zones.add(zone_id)
        else:
            zones.difference_update(topo.subtree(zone_id))
    return {p: z for p, z in inside.items() if z}


async def rebuild_presence_if_needed(state: ScanState, topology: TopologyCache) -> None:
    """At start-up (it takes the runtime's parts, not the runtime, which is built from this)."""
    if not await state.needs_presence_rebuild():
        return
    topo = await topology.get()
    rows = (
        await GateEvent.filter(decision=Decision.GRANTED, person_id__not_isnull=True, direction__not_isnull=True)
        .order_by("at", "id")  # by time: offline uploads arrive late but happened when they say
        .values_list("person_id", "zone_id", "direction")
    )
    inside = replay(topo, [(p, z, d) for p, z, d in rows])
    await state.load_presence(inside)
    log.info("presence rebuilt from %d passages: %d people inside somewhere", len(rows), len(inside))
