"""Zones that need face and pass (two factors) at their gates."""

from __future__ import annotations

from resolvers.access.sites import find_zone
from resolvers.core.models import Zone
from resolvers.people import audit
from resolvers.runtime import Runtime


async def set_face_and_pass(rt: Runtime, zone_id: str, required: bool) -> Zone:
    zone = await find_zone(zone_id, "zoneId")
    if zone.face_and_pass != required:
        before = zone.face_and_pass
        zone.face_and_pass = required
        await zone.save(update_fields=["face_and_pass"])
        audit.note_change("zone", zone.id, {"faceAndPass": before}, {"faceAndPass": required})
        rt.topology_changed()
    return zone
