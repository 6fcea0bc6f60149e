"""DateTime that refuses values without an offset (Strawberry's own accepts naive ones), and
Date/DateTime that refuse years the site cannot work with.

Python's calendar ends at 0001-01-01 and 9999-12-31, and the resolvers step a day, a week or a
time zone beyond what they are given: year 1 or 9999 overflowed deep inside them and answered
INTERNAL_SERVER_ERROR. An access-control site has no business before 1900 or after 2999 (a
birth date, a visit, an attendance day all fit), so the scalars refuse other years up front:
BAD_USER_INPUT naming the argument, nothing runs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import strawberry

FIRST_YEAR, LAST_YEAR = 1900, 2999


def _in_range(value: date, text: str) -> None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}")


def _parse(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string with an offset")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if "T" not in value or parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no time-zone offset (add Z or +08:00)")
    _in_range(parsed, value)
    return parsed.astimezone(UTC)


def _serialize(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


StrictDateTime = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 instant with an offset, e.g. 2026-11-27T08:00:00+08:00.",
    serialize=_serialize,
    parse_value=_parse,
)


def _parse_date(value: object) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("Date must be YYYY-MM-DD")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date") from None
    _in_range(parsed, value)
    return parsed


StrictDate = strawberry.scalar(
    name="Date",
    description="A day in the site's time zone, YYYY-MM-DD.",
    serialize=lambda value: value.isoformat(),
    parse_value=_parse_date,
)
