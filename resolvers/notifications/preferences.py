"""Which channels a person takes each kind on, their quiet hours and language.

Quiet hours are "HH:MM" to "HH:MM" in the site's time zone (GATEHOUSE_TIME_ZONE), possibly across
midnight (22:00–07:00); a non-alarm falling in them waits until they end. Alarms never wait.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from resolvers.core.models import NotificationPreference
from resolvers.notifications.kinds import KINDS

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def parse_hhmm(value: str) -> time | None:
    match = _HHMM.fullmatch(value)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def quiet_until(now: datetime, start: str | None, end: str | None, tz: ZoneInfo) -> datetime | None:
    """When the quiet period `now` falls in ends (aware), or None when `now` is not in one."""
    if not start or not end:
        return None
    s, e = parse_hhmm(start), parse_hhmm(end)
    if s is None or e is None or s == e:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(second=0, microsecond=0)
    inside = s <= t < e if s < e else (t >= s or t < e)
    if not inside:
        return None
    end_day = local.date() if (s < e or t < e) else local.date() + timedelta(days=1)
    return datetime.combine(end_day, e, tzinfo=tz)


async def channels_for(person_id: int, kind: str, available: set[str], using_db: object = None) -> list[str]:
    """The person's channels for `kind` (their choice, else the kind's defaults), among those configured."""
    row = await NotificationPreference.get_or_none(person_id=person_id, kind=kind, using_db=using_db)  # type: ignore[arg-type]
    chosen = row.channels if row is not None else list(KINDS[kind].defaults)
    return [c for c in chosen if c in available]


async def chosen(person_id: int) -> dict[str, list[str]]:
    rows = await NotificationPreference.filter(person_id=person_id)
    return {r.kind: list(r.channels) for r in rows}


async def choose(person_id: int, kind: str, channels: list[str]) -> None:
    updated = await NotificationPreference.filter(person_id=person_id, kind=kind).update(channels=channels)
    if not updated:
        await NotificationPreference.create(person_id=person_id, kind=kind, channels=channels)
