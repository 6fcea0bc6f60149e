"""A heartbeat renews its connection's hold on the device (who routes its commands, whether it is
online) with the rest of its batch, in one call to the scan state: on Redis one round trip for a
campus's quarter-second of heartbeats instead of a SET each (resolvers/devices/fleet.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from realtime.scan_state import MemoryScanState
from resolvers.core.models import Device, DeviceKind, DeviceStatus
from resolvers.devices import fleet
from tests.dialects import database_param, run_on


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


class RecordedState(MemoryScanState):
    """The in-memory state, keeping each batch it was asked to renew."""

    def __init__(self) -> None:
        super().__init__()
        self.renewals: list[list[tuple[int, str, int]]] = []

    async def renew_device_connections(self, held: Sequence[tuple[int, str, int]]) -> None:
        self.renewals.append(list(held))
        await super().renew_device_connections(held)


class UnreachableState(MemoryScanState):
    """A state whose store is down (Redis gone): renewing fails."""

    async def renew_device_connections(self, held: Sequence[tuple[int, str, int]]) -> None:
        raise ConnectionError("redis unreachable")


async def _device(name: str) -> int:
    row = await Device.create(
        name=name, kind=DeviceKind.QR_SCANNER, secret_hash="x" * 64, status=DeviceStatus.IN_SERVICE
    )
    return row.id


async def test_a_batch_of_heartbeats_renews_its_holds_in_one_call(database: str) -> None:
    await run_on(database, _one_call_per_batch)


async def test_heartbeats_whose_holds_cannot_be_renewed_are_not_stored(database: str) -> None:
    await run_on(database, _renewal_fails)


async def _one_call_per_batch() -> None:
    state = RecordedState()
    ids = [await _device(name) for name in ("李娜's door", "Zoë gate", "張偉 turnstile")]
    holdings = {i: fleet.Holding(state, f"p0:{i}", 90) for i in ids}
    await asyncio.gather(
        *(fleet.record_heartbeat(i, {"scans": 3}, holdings[i]) for i in ids),
        fleet.record_heartbeat(ids[0], {"scans": 5}, holdings[ids[0]]),  # its next one, same batch
    )
    # Renewed before the heartbeats were stored, all in one call: each device, its connection, its TTL.
    assert len(state.renewals) == 1, state.renewals
    assert sorted(set(state.renewals[0])) == [(i, f"p0:{i}", 90) for i in sorted(ids)]
    assert await state.device_connections(ids) == {i: f"p0:{i}" for i in ids}
    seen = dict(await Device.filter(id__in=ids).values_list("id", "last_stats"))
    assert seen == {ids[0]: {"scans": 5}, ids[1]: {"scans": 3}, ids[2]: {"scans": 3}}
    # A connection's own "seen" (its hello) holds nothing: no renewal for it.
    fleet.note_seen(ids[1])
    await fleet.record_heartbeat(ids[2], {"scans": 4})
    assert len(state.renewals) == 1


async def _renewal_fails() -> None:
    state = UnreachableState()
    device_id = await _device("Gate with no Redis")
    with pytest.raises(ConnectionError):
        await fleet.record_heartbeat(device_id, {"scans": 1}, fleet.Holding(state, "p0:x", 90))
    # As when each heartbeat set its hold itself: the connection logs it, nothing is stored.
    assert (await Device.get(id=device_id)).last_seen_at is None
    await fleet.record_heartbeat(device_id, {"scans": 2})  # the store is fine otherwise
    assert (await Device.get(id=device_id)).last_stats == {"scans": 2}
