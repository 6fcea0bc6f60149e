"""What the finding sources share: names and departments read in one query for all the facts
found, an instant's site-local day, and the end of a period that has not come yet."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from resolvers.core import clock
from resolvers.core.models import Person
from resolvers.runtime import Runtime
from resolvers.supervision.proposals import Period


async def people(ids: Iterable[int | None]) -> dict[int, tuple[str, int | None]]:
    """Display name and department of each person named, one query however many."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await Person.filter(id__in=wanted).values_list("id", "display_name", "department_id")
    return {pid: (name, dept) for pid, name, dept in rows}


def local_day(rt: Runtime, at: datetime) -> date:
    return at.astimezone(rt.settings.tz).date()


def local_days(rt: Runtime, period: Period) -> tuple[date, date]:
    """The site-local days the half-open period touches, first and last inclusive."""
    return local_day(rt, period.start), local_day(rt, period.end - timedelta(microseconds=1))


def judged_at(period: Period) -> datetime:
    """The instant a "past due" is judged at: the period's end, or now if it has not come yet
    (an inspection of the current month must not call due tomorrow's dates)."""
    return min(period.end, clock.now())


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
