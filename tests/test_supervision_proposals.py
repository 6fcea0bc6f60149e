"""The registry of finding sources (resolvers/supervision/proposals.py): areas, order, and one
failing source not hiding the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from resolvers.supervision import proposals
from resolvers.supervision.proposals import Period, Proposal, propose, source

PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture
def registry() -> Iterator[None]:
    saved = dict(proposals.SOURCES)
    proposals.SOURCES.clear()
    try:
        yield
    finally:
        proposals.SOURCES.clear()
        proposals.SOURCES.update(saved)


async def test_sources_are_asked_by_area_in_a_stable_order_and_a_failing_one_is_skipped(registry: None) -> None:
    seen: list[Period] = []

    @source("zz_devices", "devices", "Devices")
    async def devices(rt: Any, period: Period) -> list[Proposal]:
        seen.append(period)
        return [Proposal("zz_devices", "devices", "zz_devices:device:1", "门禁 1 被强行打开")]

    @source("broken", "entry", "Broken")
    async def broken(rt: Any, period: Period) -> list[Proposal]:
        raise RuntimeError("a query that fails")

    @source("aa_entry", "entry", "Entry")
    async def entry(rt: Any, period: Period) -> list[Proposal]:
        return [Proposal("aa_entry", "entry", "aa_entry:person:7", "Zoë came in behind 張偉")]

    found = await propose(None, PERIOD)  # type: ignore[arg-type]
    assert [p.key for p in found] == ["aa_entry:person:7", "zz_devices:device:1"]
    assert seen == [PERIOD]
    only_devices = await propose(None, PERIOD, {"devices"})  # type: ignore[arg-type]
    assert [p.source for p in only_devices] == ["zz_devices"]


def test_a_name_is_registered_once(registry: None) -> None:
    async def find(rt: Any, period: Period) -> list[Proposal]:
        return []

    source("twice", "data", "Twice")(find)
    with pytest.raises(ValueError, match="twice"):
        source("twice", "data", "Twice again")(find)
