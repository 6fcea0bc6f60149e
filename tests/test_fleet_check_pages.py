"""The fleet check's offline alerts a page at a time (resolvers/devices/fleet.py `check_fleet`):
a campus's switch failing silences thousands of gates at once, and each must still be alerted
once, by name, while the connected ones, the unwatched ones and those heard from lately are not."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from tortoise.expressions import Q

from resolvers.core import clock
from resolvers.core.models import Device, DeviceAlert, DeviceKind, DeviceStatus
from resolvers.core.settings import Settings
from resolvers.devices import fleet
from resolvers.runtime import Runtime
from tests.dialects import database_param, run_on


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


async def _device(name: str, status: DeviceStatus = DeviceStatus.IN_SERVICE, **fields: object) -> int:
    row = await Device.create(name=name, kind=DeviceKind.QR_SCANNER, secret_hash="x" * 64, status=status, **fields)
    return row.id


async def test_silent_devices_are_alerted_offline_once_each_across_pages(database: str) -> None:
    await run_on(database, _offline_across_pages)


async def test_a_device_heard_from_after_the_query_is_not_marked(database: str) -> None:
    await run_on(database, _heard_from_after_the_query)


async def _offline_across_pages() -> None:
    page, fleet.HEALTH_PAGE = fleet.HEALTH_PAGE, 3  # eight offline devices: three pages
    keys = tempfile.TemporaryDirectory()
    rt = Runtime.create(Settings.from_env({"GATEHOUSE_KEY_FILE": str(Path(keys.name) / "k.key")}))
    await rt.start()
    try:
        now = clock.now()
        silent = [await _device(name) for name in ("门禁 1", "Zoë's door", "張偉 gate", "D4", "D5", "D6", "D7")]
        connected = [await _device("Connected A"), await _device("Connected B")]
        for device_id in connected:
            await rt.state.set_device_connection(device_id, f"here:{device_id}", ttl=60)
        recent = await _device("Heard lately", last_seen_at=now - timedelta(seconds=5))
        retired = await _device("Retired", status=DeviceStatus.RETIRED)
        long_ago = now - timedelta(hours=2)
        seen_long_ago = await _device("Seen long ago", status=DeviceStatus.COMMISSIONED, last_seen_at=long_ago)
        offline = [*silent, seen_long_ago]

        await fleet.check_fleet(rt)
        await fleet.check_fleet(rt)  # one alert per episode: the second check adds none

        alerts = await DeviceAlert.filter(kind="offline").order_by("device_id").values_list("device_id", "message")
        names = dict(await Device.all().values_list("id", "name"))
        assert alerts == [(i, f"device {names[i]} is offline") for i in sorted(offline)]
        marked = set(await Device.filter(offline_alerted_at__not_isnull=True).values_list("id", flat=True))
        assert marked == set(offline)
        for untouched in (*connected, recent, retired):
            assert untouched not in marked
    finally:
        await rt.stop()
        fleet.HEALTH_PAGE = page
        keys.cleanup()


async def _heard_from_after_the_query() -> None:
    now = clock.now()
    quiet = Q(offline_alerted_at=None) & (Q(last_seen_at=None) | Q(last_seen_at__lt=now - timedelta(seconds=90)))
    back, gone, alerted = await _device("Back"), await _device("Gone"), await _device("Alerted")
    # Between the check's query and its mark: one device heartbeats, another was alerted.
    await Device.filter(id=back).update(last_seen_at=now)
    await Device.filter(id=alerted).update(offline_alerted_at=now - timedelta(minutes=1))

    assert await fleet._mark_alerted([back, gone, alerted], quiet, {"offline_alerted_at": now}) == [gone]
    assert (await Device.get(id=back)).offline_alerted_at is None
    assert await fleet._mark_alerted([], quiet, {"offline_alerted_at": now}) == []
