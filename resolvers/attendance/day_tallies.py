"""Passages summed up per person and attendance day, in SQL (issue 13: the monthly report).

Reading every passage of a month into Python (194,000 rows for 5,000 people) cost seconds in
row parsing alone; the database groups them into one row per person and day instead, with
what `attendance._one_day` needs of the passages: their number, the first IN, the last OUT,
the time inside (IN→OUT stretches), whether the day ends inside, and the exits before any
entry. The rules that follow (corrections, the shift: late, left early, absent) stay in Python.
tests/test_attendance_tallies.py holds the two to the same answers on both databases.

The day a passage belongs to is the site-local day of `Shift.workday_of`: the local wall-clock
time less the shift's `day_begins` minutes. SQLite has no time zones, so the site zone's UTC
offsets over the period are worked out here (zoneinfo, the same rules Python applies) and handed
to both dialects as a CASE on the instant; each person's `day_begins` comes in with the people
(the caller's shifts, so exactly Python's). Ties in time are ordered by event id.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any, cast
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.transactions import in_transaction

from resolvers.core.models import AttendanceDayTally, RetentionMark

# Search step for offset changes: no zone changes its offset twice within six hours.
_STEP = 6 * 3600


# One person's day: passages, first IN, last OUT, time inside, ends inside, exits before the
# first entry. A plain tuple: a hundred thousand of them are made for a month's report.
DayTally = tuple[int, datetime | None, datetime | None, timedelta, bool, int]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector held off while a synchronous loop (no await inside, so no
    other task runs meanwhile) makes a month's hundred thousand rows, none of them in a cycle:
    the collections the allocations set off cost a third of the report's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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

    def day(self, spans: list[tuple[datetime, int]]) -> str:
        """The attendance day of `e.at` for a person whose days begin `po.off` minutes after
        local midnight (see the module doc)."""
        zone = str(spans[-1][1])
        if len(spans) > 1:
            # Before the next change, the offset of the span it ends.
            whens = " ".join(
                f"WHEN e.at < {self(nxt[0], 'timestamptz')} THEN {span[1]}" for span, nxt in pairwise(spans)
            )
            zone = f"CASE {whens} ELSE {spans[-1][1]} END"
        if self.postgres:
            wall = f"(e.at AT TIME ZONE 'UTC') + ({zone}) * INTERVAL '1 second'"
            return f"CAST({wall} - po.off * INTERVAL '1 minute' AS DATE)"
        # Day boundaries fall on whole seconds, so dropping the fraction moves no passage's day.
        return f"date({self.whole_seconds('e.at')}, ({zone}) || ' seconds', (-po.off) || ' minutes')"


# Each passage knows the direction of the one before and after it that day and whether an IN
# came before it (the default frame: up to this row). A run of INs starts at an IN after an OUT
# (or first of the day) and is closed by the OUT right after an IN: the time inside is the
# closing OUTs' times less the runs' starts, plus the start of a last run still open at the
# day's end (which adds nothing).
_WALK = """w AS (
  SELECT ev.pid, ev.day, ev.at, ev.is_in, COALESCE(LAG(ev.is_in) OVER o, 0) AS prev_in,
         LEAD(ev.is_in) OVER o IS NULL AS is_last, MAX(ev.is_in) OVER o AS seen_in
  FROM {rows}
  WINDOW o AS (PARTITION BY ev.pid, ev.day ORDER BY ev.at, ev.eid)
), t AS (
  SELECT pid, day, COUNT(*) AS n, MIN(CASE WHEN is_in = 1 THEN at END) AS first_in,
         MAX(CASE WHEN is_in = 0 THEN at END) AS last_out,
         SUM(CASE WHEN is_in = 0 AND prev_in = 1 THEN {at} WHEN is_in = 1 AND prev_in = 0 THEN -{at} ELSE {zero} END)
           AS spans,
         MAX(CASE WHEN is_in = 1 AND is_last THEN 1 ELSE 0 END) AS ends_inside,
         MAX(CASE WHEN is_in = 1 AND prev_in = 0 THEN at END) AS last_start,
         SUM(CASE WHEN is_in = 0 AND seen_in = 0 THEN 1 ELSE 0 END) AS exits
  FROM w GROUP BY pid, day
)"""


async def day_tallies(
    tz: ZoneInfo, first: date, last: date, zone_ids: list[int], people: dict[int, int]
) -> dict[int, dict[date, DayTally]]:
    """Per person of `people` (person id → `Shift.day_begins` minutes, 0 without a schedule)
    and attendance day in [first, last]: their granted passages through the site's outermost
    zones (`zone_ids`) summed up."""
    if not zone_ids or not people:
        return {}
    conn = connections.get("default")
    sql = _Sql(conn.capabilities.dialect)
    # The passages that can fall on [first, last]: a day's bounds move at most a day either way.
    start = (datetime.combine(first, datetime.min.time(), tzinfo=tz) - timedelta(days=1)).astimezone(UTC)
    end = (datetime.combine(last, datetime.min.time(), tzinfo=tz) + timedelta(days=2)).astimezone(UTC)
    # The people come in as one parameter (an array pair; SQLite: JSON) joined to the log, so
    # their passages are found through the (person_id, at) index of migration 0017 and each
    # passage takes its person's day start without joining person and department per row.
    # (SQLite takes a CROSS JOIN's tables in the order written: the people, then their passages.)
    # Placeholders in the order the text has them (SQLite's `?` are positional).
    day = sql.day(offset_spans(tz, start, end))
    if sql.postgres:
        po = f"unnest({sql(list(people), 'bigint[]')}, {sql(list(people.values()), 'int[]')}) AS po(pid, off)"
    else:
        pairs = json.dumps([[pid, off] for pid, off in people.items()])
        pick = "json_extract(value, '$[0]') AS pid, json_extract(value, '$[1]') AS off"
        po = f"(SELECT {pick} FROM json_each({sql(pairs)})) AS po"
    zones = ", ".join(sql(z) for z in zone_ids)
    at_from, at_to = sql(start, "timestamptz"), sql(end, "timestamptz")
    day_from, day_to = sql(first, "date"), sql(last, "date")
    # decision and direction are literals so the partial index of migration 0017 applies
    # (SQLite: a bound parameter does not prove the index's WHERE).
    # SQLite reads ev twice (the GROUP BY, then the interleaved days): materialised once.
    # PostgreSQL reads it once, straight into the window's sort.
    ev = f"""ev AS {"" if sql.postgres else "MATERIALIZED"} (
  SELECT e.person_id AS pid, e.id AS eid, e.at AS at,
         CASE WHEN e.direction = 'IN' THEN 1 ELSE 0 END AS is_in, {day} AS day
  FROM {po} CROSS JOIN gate_event e
  WHERE e.person_id = po.pid AND e.decision = 'GRANTED' AND e.direction IS NOT NULL AND e.zone_id IN ({zones})
    AND e.at >= {at_from} AND e.at < {at_to}
)"""
    in_day = f"ev.day >= {day_from} AND ev.day <= {day_to}"
    if sql.postgres:
        # PostgreSQL walks every day in order: its window functions cost little next to the
        # sort, and one pass over the log plans the same with or without fresh statistics.
        # Times inside add up as intervals since 1970 (asyncpg hands back a timedelta).
        since = "({} - TIMESTAMPTZ '1970-01-01 00:00:00+00')"
        walk = _WALK.format(rows=f"ev WHERE {in_day}", at=since.format("at"), zero="INTERVAL '0'")
        query = f"""WITH {ev}, {walk}
SELECT pid, day, CAST(n AS INTEGER), first_in, last_out,
       spans + CASE WHEN ends_inside = 1 THEN {since.format("last_start")} ELSE INTERVAL '0' END,
       ends_inside = 1, CAST(exits AS INTEGER)
FROM t"""
    else:
        # SQLite: most days are a plain GROUP BY. When every IN comes before every OUT (or every
        # OUT before every IN, or one kind only), the first and last passage of each kind say
        # it all; only days whose INs and OUTs interleave (a lunch break) or tie in time are
        # walked in order, window functions costing SQLite several times the GROUP BY.
        walk = _WALK.format(
            rows="ev JOIN mixed ON mixed.pid = ev.pid AND mixed.day = ev.day", at=sql.micros("at"), zero="0"
        )
        query = f"""WITH {ev}, g AS (
  SELECT pid, day, COUNT(*) AS n, SUM(is_in) AS n_in,
         MIN(CASE WHEN is_in = 1 THEN at END) AS first_in, MAX(CASE WHEN is_in = 1 THEN at END) AS last_in,
         MIN(CASE WHEN is_in = 0 THEN at END) AS first_out, MAX(CASE WHEN is_in = 0 THEN at END) AS last_out
  FROM ev WHERE {in_day}
  GROUP BY pid, day
), mixed AS (
  SELECT pid, day FROM g WHERE n_in > 0 AND n_in < n AND last_in >= first_out AND last_out >= first_in
), {walk}
SELECT g.pid, g.day, g.n, g.n_in, g.first_in, g.last_out, g.first_out,
       CASE WHEN g.last_in < g.first_out THEN 1 ELSE 0 END,
       t.spans + CASE WHEN t.ends_inside = 1 THEN {sql.micros("t.last_start")} ELSE 0 END,
       t.ends_inside, t.exits
FROM g LEFT JOIN t ON t.pid = g.pid AND t.day = g.day"""
    if sql.postgres:
        async with in_transaction() as tx:
            # A prepared statement run a sixth time may get PostgreSQL's generic plan, made
            # without the parameters' values: it joined the people array in a nested loop over
            # the log and took 40 s instead of 0.4 s. The sort of a month's passages fits in
            # 32 MB (4 MB, the default, spills it to disk).
            await tx.execute_script("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '32MB'")
            _, rows = await tx.execute_query(query, sql.params)
    else:
        _, rows = await conn.execute_query(query, sql.params)
    # Timestamps come back in UTC (asyncpg's timezone.utc; SQLite's stored "+00:00" text): equal
    # to the ORM's, which only differ in naming UTC by ZoneInfo("UTC"); both print "+00:00".
    parse = datetime.fromisoformat  # SQLite answers ISO text
    nothing = timedelta()
    out: dict[int, dict[date, DayTally]] = {}
    if sql.postgres:  # every day walked in order: a tally as it comes
        with gc_paused():
            for pid, d, n, first_in, last_out, inside, ends_inside, exits in rows:
                per = out.get(pid)
                if per is None:
                    per = out[pid] = {}
                per[d] = (n, first_in, last_out, inside, ends_inside, exits)
        return out
    with gc_paused():
        for pid, d, n, n_in, first_in, last_out, first_out, ins_first, inside, ends_inside, exits in rows:
            d = date.fromisoformat(d)
            first_in = parse(first_in) if first_in is not None else None
            last_out = parse(last_out) if last_out is not None else None
            first_out = parse(first_out) if ins_first == 1 else None
            if inside is not None:  # walked in order
                tally = (n, first_in, last_out, timedelta(microseconds=inside), ends_inside == 1, exits)
            elif n_in == 0:  # exits only
                tally = (n, None, last_out, nothing, False, n)
            elif n_in == n:  # entries only: inside since the first, and still there
                tally = (n, first_in, None, nothing, True, 0)
            elif ins_first == 1:  # IN… then OUT…: the first OUT closes the first IN
                tally = (n, first_in, last_out, cast(datetime, first_out) - cast(datetime, first_in), False, 0)
            else:  # OUT… then IN…: exits before any entry, and inside at the end
                tally = (n, first_in, last_out, nothing, True, n - n_in)
            per = out.get(pid)
            if per is None:
                per = out[pid] = {}
            per[d] = tally
    return out


# --- days whose passages retention purged (README "Retention and erasure") ----------------------

PASSAGES_MARK = "passages"


async def tallied_since() -> date | None:
    """Attendance days before this one are read from AttendanceDayTally, stored before their
    passages were purged; None while no passage has been purged."""
    rows = await RetentionMark.filter(kind=PASSAGES_MARK).values_list("since", flat=True)
    return cast(date, rows[0]) if rows else None


async def stored_tallies(person_ids: list[int], first: date, last: date) -> dict[int, dict[date, DayTally]]:
    """The stored days in [first, last] of these people, in the shape `day_tallies` answers."""
    out: dict[int, dict[date, DayTally]] = {}
    rows = await AttendanceDayTally.filter(person_id__in=person_ids, day__gte=first, day__lte=last).values_list(
        "person_id", "day", "passages", "first_in", "last_out", "inside_us", "ends_inside", "exits_before_entry"
    )
    for pid, d, n, first_in, last_out, inside_us, ends_inside, exits in rows:
        out.setdefault(pid, {})[d] = (n, first_in, last_out, timedelta(microseconds=inside_us), ends_inside, exits)
    return out
