"""Batch reads behind the GraphQL loaders (see resolvers/people/batches.py): devices by id,
and which devices are online now."""

from __future__ import annotations

from collections.abc import Sequence

from realtime.scan_state import ScanState
from resolvers.core.models import Device


async def devices_by_ids(ids: Sequence[int]) -> list[Device | None]:
    found = {d.id: d for d in await Device.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]


async def devices_online(state: ScanState, ids: Sequence[int]) -> list[bool]:
    """Whether each device holds a live connection to some server process (a page's in one look-up)."""
    connected = await state.device_connections(ids)
    return [i in connected for i in ids]
