"""Weekly time windows on grants, in the site's time zone (nights may cross midnight).

The gate decides by these windows while offline (snapshots carry them), so the rule lives
here, in the agent's distribution, and the server validates and stores windows with it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def minutes(text: object) -> int | None:
    """Minutes after midnight of an `HH:MM` text, or None when it is not one."""
    m = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    return int(m.group(1)) * 60 + int(m.group(2))


def allows(windows: list[dict[str, Any]], at: datetime, tz: ZoneInfo) -> bool:
    """True when `at` falls in a window; no windows means any time. A malformed window
    allows nothing (fail closed)."""
    if not windows:
        return True
    local = at.astimezone(tz)
    minute = local.hour * 60 + local.minute
    today = local.isoweekday()
    yesterday = (local - timedelta(days=1)).isoweekday()
    for w in windows:
        start, end = minutes(w.get("start")), minutes(w.get("end"))
        if start is None or end is None:
            continue
        if start < end:
            if today in w["weekdays"] and start <= minute < end:
                return True
        # A night window belongs to the day it starts on.
        elif (today in w["weekdays"] and minute >= start) or (yesterday in w["weekdays"] and minute < end):
            return True
    return False
