"""The evacuation roll call: who is inside now, from the presence state the gates keep (or, while
that state is lost after a Redis restart, from the event log: resolvers/scan/presence.py).

Presence is per person and zone (an IN puts someone in a zone, an OUT takes them out of
it and its sub-zones), so the roll call of a zone is everyone in it or in a zone below it.
"""

from __future__ import annotations

from resolvers.runtime import Runtime
from resolvers.scan import presence


async def inside_now(rt: Runtime, zone_id: int | None) -> dict[int, list[int]]:
    """Person id → the zones they are in (ids ascending), by person id; with `zone_id`, only
    that zone's subtree counts."""
    # Not rt.state directly: after a Redis loss it would say nobody is inside (presence.py).
    inside = await presence.everyone_inside(rt.state, rt.topology)
    if zone_id is not None:
        wanted = (await rt.topology.get()).subtree(zone_id)
        inside = {person: zones & wanted for person, zones in inside.items() if zones & wanted}
    return {person: sorted(inside[person]) for person in sorted(inside)}
