"""Passages summed up per person and attendance day, in SQL (issue 13: the monthly report).

Reading every passage of a month into Python (194,000 rows for 5,000 people) cost seconds in
row parsing alone; the database groups them into one row per person and day instead, with
what `attendance._one_day` needs of the passages: their number, the first IN, the last OUT,
the time inside (IN→OUT stretches), whether the day ends inside, and the exits before any
entry. The rules that follow (corrections, the shift: late, left early, absent) stay in Python.

The day a passage belongs to is the site-local day of `Shift.workday_of`: the local wall-clock
time less the shift's `day_begins` minutes. SQLite has no time zones, so the site zone's UTC
offsets over the period are worked out here (zoneinfo, the same rules Python applies) and handed
to both dialects as a CASE on the instant; the shift's minutes come from the person's (or else
the department's) schedule, joined in SQL.

Time inside: the passages of a day are numbered into runs by the OUTs before them (a run is
the INs since the last OUT and the OUT that ends them); a run with an IN and an OUT adds
`OUT - its first IN`, as `_one_day` adds `p.at - open_since`. A day ends inside when its last
run has an IN and no OUT; the exits before the first entry are the runs before the first run
with an IN (each holds one OUT). Ties in time are ordered by event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.timezone import get_default_timezone

# Search step for offset changes: no zone changes its offset twice within six hours.
_STEP = 6 * 3600


@dataclass(frozen=True, slots=True)
class DayTally:
    passages: int
    first_in: datetime | None
    last_out: datetime | None
    inside: timedelta
    ends_inside: bool
    exits_before_entry: int


def offset_spans(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset (seconds) from each change on, over [start, end): [(from, offset)]."""

    def offset(ts: int) -> int:
        off = datetime.fromtimestamp(ts, UTC).astimezone(tz).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    t, stop = int(start.timestamp()), int(end.timestamp())
    spans = [(start, offset(t))]
    while t < stop:
        nxt = min(t + _STEP, stop)
        if offset(nxt) != spans[-1][1]:
            lo, hi = t, nxt  # the change is in (lo, hi]: find its second
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == spans[-1][1]:
                    lo = mid
                else:
                    hi = mid
            spans.append((datetime.fromtimestamp(hi, UTC), offset(hi)))
            nxt = hi
        t = nxt
    return spans


class _Sql:
    """Placeholders in the dialect's style, numbered in the order they are written."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgres"
        self.params: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.params.append(value)
        if self.postgres:
            return f"${len(self.params)}" + (f"::{cast}" if cast else "")
        return "?"

    @staticmethod
    def whole_seconds(column: str) -> str:
        """SQLite: the ISO text without its fraction of a second. SQLite's date functions round
        to the millisecond, so 23:59:59.9999 would be the next day (and the next second)."""
        return (
            f"(substr({column}, 1, 19) || CASE WHEN substr({column}, 20, 1) = '.'"
            f" THEN substr({column}, 27) ELSE substr({column}, 20) END)"
        )

    def micros(self, column: str) -> str:
        """A timestamp as integer microseconds since 1970, exact on both dialects (SQLite keeps
        Python's isoformat text: six fraction digits when there are any)."""
        if self.postgres:
            return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
        return (
            f"(CAST(strftime('%s', {self.whole_seconds(column)}) AS INTEGER) * 1000000"
            f" + CASE WHEN substr({column}, 20, 1) = '.' THEN CAST(substr({column}, 21, 6) AS INTEGER) ELSE 0 END)"
        )

    def day(self, spans: list[tuple[datetime, int]], day_begins: dict[int, int]) -> str:
        """The attendance day of `e.at` for the person's schedule `sid` (see the module doc)."""
        zone = str(spans[-1][1])
        if len(spans) > 1:
            # Before the next change, the offset of the span it ends.
            whens = " ".join(
                f"WHEN e.at < {self(nxt[0], 'timestamptz')} THEN {span[1]}"
                for span, nxt in pairwise(spans)
            )
            zone = f"CASE {whens} ELSE {spans[-1][1]} END"
        shift = "0"
        if day_begins:
            whens = " ".join(f"WHEN {int(sid)} THEN {int(minutes)}" for sid, minutes in sorted(day_begins.items()))
            shift = f"CASE COALESCE(p.work_schedule_id, d.work_schedule_id) {whens} ELSE 0 END"
        if self.postgres:
            wall = f"(e.at AT TIME ZONE 'UTC') + ({zone}) * INTERVAL '1 second'"
            return f"CAST({wall} - ({shift}) * INTERVAL '1 minute' AS DATE)"
        # Day boundaries fall on whole seconds, so dropping the fraction moves no passage's day.
        return f"date({self.whole_seconds('e.at')}, ({zone}) || ' seconds', (-({shift})) || ' minutes')"


async def day_tallies(
    tz: ZoneInfo,
    first: date,
    last: date,
    zone_ids: list[int],
    day_begins: dict[int, int],
    person_ids: list[int] | None,
    department_id: int | None,
) -> dict[int, dict[date, DayTally]]:
    """Per employee (the same people `Person.filter(kind=EMPLOYEE)`, narrowed by `person_ids`
    and `department_id`, gives) and attendance day in [first, last]: their granted passages
    through the site's outermost zones (`zone_ids`) summed up. `day_begins`: schedule id →
    `Shift.day_begins` minutes (people without a schedule, or with one not listed, use 0)."""
    if not zone_ids or person_ids == []:
        return {}
    conn = connections.get("default")
    sql = _Sql(conn.capabilities.dialect)
    # The passages that can fall on [first, last]: a day's bounds move at most a day either way.
    start = (datetime.combine(first, datetime.min.time(), tzinfo=tz) - timedelta(days=1)).astimezone(UTC)
    end = (datetime.combine(last, datetime.min.time(), tzinfo=tz) + timedelta(days=2)).astimezone(UTC)
    day = sql.day(offset_spans(tz, start, end), day_begins)
    # Placeholders in the order the text has them (SQLite's `?` are positional).
    zones = ", ".join(sql(z) for z in zone_ids)
    at_from, at_to = sql(start, "timestamptz"), sql(end, "timestamptz")
    people = ""
    if department_id is not None:
        people += f" AND p.department_id = {sql(department_id)}"
    if person_ids is not None:
        people += f" AND p.id IN ({', '.join(sql(pid) for pid in person_ids)})"
    day_from, day_to = sql(first, "date"), sql(last, "date")
    entered, left = sql.micros("entered"), sql.micros("left_at")
    # decision and direction are written as literals so SQLite can use the partial index of
    # migration 0017 (a bound parameter does not prove the index's WHERE).
    query = f"""
WITH ev AS (
  SELECT e.person_id AS pid, e.id AS eid, e.at AS at,
         CASE WHEN e.direction = 'IN' THEN 1 ELSE 0 END AS is_in, {day} AS day
  FROM gate_event e
  JOIN person p ON p.id = e.person_id
  LEFT JOIN department d ON d.id = p.department_id
  WHERE e.decision = 'GRANTED' AND e.direction IS NOT NULL AND e.zone_id IN ({zones})
    AND e.at >= {at_from} AND e.at < {at_to} AND p.kind = 'EMPLOYEE'{people}
), runs AS (
  SELECT pid, day, at, is_in,
         SUM(1 - is_in) OVER (PARTITION BY pid, day ORDER BY at, eid ROWS UNBOUNDED PRECEDING) - (1 - is_in) AS run
  FROM ev WHERE day >= {day_from} AND day <= {day_to}
), seg AS (
  SELECT pid, day, run, COUNT(*) AS n,
         MIN(CASE WHEN is_in = 1 THEN at END) AS entered,
         MAX(CASE WHEN is_in = 0 THEN at END) AS left_at
  FROM runs GROUP BY pid, day, run
)
SELECT pid, day, CAST(SUM(n) AS INTEGER), MIN(entered), MAX(left_at),
       CAST(SUM(CASE WHEN entered IS NOT NULL AND left_at IS NOT NULL THEN {left} - {entered} ELSE 0 END) AS BIGINT),
       MAX(CASE WHEN entered IS NOT NULL AND left_at IS NULL THEN 1 ELSE 0 END),
       CAST(COALESCE(MIN(CASE WHEN entered IS NOT NULL THEN run END), SUM(n)) AS INTEGER)
FROM seg GROUP BY pid, day"""
    _, rows = await conn.execute_query(query, sql.params)
    utc = get_default_timezone()  # what the ORM hands back for a datetime field
    text = not sql.postgres  # SQLite returns dates and timestamps as ISO text
    out: dict[int, dict[date, DayTally]] = {}
    for pid, d, n, first_in, last_out, inside, ends_inside, exits in rows:
        if text:
            d = date.fromisoformat(d)
            first_in = datetime.fromisoformat(first_in) if first_in is not None else None
            last_out = datetime.fromisoformat(last_out) if last_out is not None else None
        per = out.get(pid)
        if per is None:
            per = out[pid] = {}
        per[d] = DayTally(
            n,
            first_in.astimezone(utc) if first_in is not None else None,
            last_out.astimezone(utc) if last_out is not None else None,
            timedelta(microseconds=inside),
            bool(ends_inside),
            exits,
        )
    return out
