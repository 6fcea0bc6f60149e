"""Weekly time windows on grants, in the site's time zone (nights may cross midnight)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from resolvers.errors import UserError

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
MAX_WINDOWS = 14


def _minutes(text: object, field: str) -> int:
    m = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise UserError("INVALID", "times are HH:MM, 00:00-23:59", field)
    return int(m.group(1)) * 60 + int(m.group(2))


def validate(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalised windows: weekdays 1 (Monday) to 7, start/end HH:MM; end before start crosses midnight."""
    if len(windows) > MAX_WINDOWS:
        raise UserError("INVALID", f"at most {MAX_WINDOWS} windows", "schedule")
    out = []
    for w in windows:
        days = w.get("weekdays")
        if not isinstance(days, list) or not days or any(not isinstance(d, int) or not 1 <= d <= 7 for d in days):
            raise UserError("INVALID", "weekdays are 1 (Monday) to 7 (Sunday), at least one", "schedule")
        start, end = _minutes(w.get("start"), "schedule"), _minutes(w.get("end"), "schedule")
        if start == end:
            raise UserError("INVALID", "a window's start and end differ", "schedule")
        out.append({"weekdays": sorted(set(days)), "start": w["start"], "end": w["end"]})
    return out


def allows(windows: list[dict[str, Any]], at: datetime, tz: ZoneInfo) -> bool:
    """True when `at` falls in a window; no windows means any time."""
    if not windows:
        return True
    local = at.astimezone(tz)
    minute = local.hour * 60 + local.minute
    today = local.isoweekday()
    yesterday = (local - timedelta(days=1)).isoweekday()
    for w in windows:
        start, end = _minutes(w["start"], "schedule"), _minutes(w["end"], "schedule")
        if start < end:
            if today in w["weekdays"] and start <= minute < end:
                return True
        # A night window belongs to the day it starts on.
        elif (today in w["weekdays"] and minute >= start) or (yesterday in w["weekdays"] and minute < end):
            return True
    return False
