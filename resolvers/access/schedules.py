"""Weekly time windows on grants: what an operator may store. The rule that reads them
(`allows`) is the gate agent's too, so it lives in `gatehouse_gate.schedules`."""

from __future__ import annotations

from typing import Any

from gatehouse_gate.schedules import allows, minutes

from resolvers.core.errors import ErrorCode, UserError

__all__ = ["MAX_WINDOWS", "allows", "minutes_of", "validate"]
MAX_WINDOWS = 14


def minutes_of(text: object, field: str) -> int:
    value = minutes(text)
    if value is None:
        raise UserError(ErrorCode.INVALID, "times are HH:MM, 00:00-23:59", field)
    return value


def validate(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalised windows: weekdays 1 (Monday) to 7, start/end HH:MM; end before start crosses midnight."""
    if len(windows) > MAX_WINDOWS:
        raise UserError(ErrorCode.INVALID, f"at most {MAX_WINDOWS} windows", "schedule")
    out = []
    for w in windows:
        days = w.get("weekdays")
        if not isinstance(days, list) or not days or any(not isinstance(d, int) or not 1 <= d <= 7 for d in days):
            raise UserError(ErrorCode.INVALID, "weekdays are 1 (Monday) to 7 (Sunday), at least one", "schedule")
        start, end = minutes_of(w.get("start"), "schedule"), minutes_of(w.get("end"), "schedule")
        if start == end:
            raise UserError(ErrorCode.INVALID, "a window's start and end differ", "schedule")
        out.append({"weekdays": sorted(set(days)), "start": w["start"], "end": w["end"]})
    return out
