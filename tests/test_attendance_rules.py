"""Attendance rules (POLICY 2.3) on hand-built passage sequences: no server, no database.

`compute_days` turns one person's passages (stored in UTC, as the log keeps them) into one
row per day, judged against the person's shift in the site's time zone. Every sequence here
is built in the site's local time and converted to UTC, so a rule that forgets the time
zone puts a passage on the wrong day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from resolvers.attendance.attendance import (
    AttendanceDay,
    Correction,
    MonthSummary,
    Passage,
    Shift,
    compute_days,
    summarise,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZULU = ZoneInfo("UTC")
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
GRACE = timedelta(minutes=5)
DAY_SHIFT = Shift(WEEKDAYS, time(9, 0), time(18, 0), GRACE)
NIGHT_SHIFT = Shift(WEEKDAYS, time(22, 0), time(6, 0), GRACE)

MON = date(2026, 3, 2)  # a Monday
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=i) for i in range(1, 7))

ZONES = pytest.mark.parametrize("tz", [SHANGHAI, ZULU], ids=["Asia/Shanghai", "UTC"])


def local(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    """A site-local wall-clock moment, as the UTC instant the event log stores."""
    hh, mm = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)


def p(day: date, hhmm: str, direction: str, tz: ZoneInfo, method: str = "QR") -> Passage:
    return Passage(local(day, hhmm, tz), direction, method)


def only(rows: list[AttendanceDay], day: date) -> AttendanceDay:
    found = [r for r in rows if r.day == day]
    assert len(found) == 1, [r.day for r in rows]
    return found[0]


# --- a normal day ---------------------------------------------------------------------------


@ZONES
def test_a_normal_day(tz: ZoneInfo) -> None:
    rows = compute_days([p(MON, "08:55", "IN", tz), p(MON, "18:10", "OUT", tz)], DAY_SHIFT, tz, MON, MON)
    assert len(rows) == 1
    row = rows[0]
    assert row.day == MON
    assert row.first_in == local(MON, "08:55", tz)
    assert row.last_out == local(MON, "18:10", tz)
    assert row.inside == timedelta(hours=9, minutes=15)
    assert row.passages == 2
    assert row.workday is True
    assert (row.late, row.left_early, row.absent, row.missing_exit, row.corrected) == (False,) * 5
    assert row.shift_start == datetime(2026, 3, 2, 9, 0, tzinfo=tz)
    assert row.shift_end == datetime(2026, 3, 2, 18, 0, tzinfo=tz)
    assert row.flags == []


def test_an_early_entry_belongs_to_the_local_day_not_the_utc_day() -> None:
    """07:30 in Shanghai is 23:30 UTC the day before: the site's day counts."""
    entry = p(MON, "07:30", "IN", SHANGHAI)
    assert entry.at.date() == date(2026, 3, 1)  # the UTC date is Sunday
    rows = compute_days([entry, p(MON, "16:00", "OUT", SHANGHAI)], DAY_SHIFT, SHANGHAI, SUN - timedelta(7), MON)
    monday = only(rows, MON)
    assert monday.first_in == entry.at
    assert monday.inside == timedelta(hours=8, minutes=30)
    assert monday.absent is False
    assert [r.day for r in rows] == [MON]  # the Sunday before is neither a workday nor has passages


def test_passages_out_of_order_are_sorted_first() -> None:
    """Offline uploads arrive late: the rules sort by time, not by arrival."""
    tz = SHANGHAI
    rows = compute_days([p(MON, "18:00", "OUT", tz), p(MON, "09:00", "IN", tz)], DAY_SHIFT, tz, MON, MON)
    assert rows[0].inside == timedelta(hours=9)
    assert rows[0].flags == []
    assert rows[0].missing_exit is False


# --- late and left early, with grace --------------------------------------------------------


@ZONES
@pytest.mark.parametrize(
    ("entry", "leave", "late", "left_early"),
    [
        ("09:05", "17:55", False, False),  # exactly at the grace limits: on time
        ("09:06", "17:55", True, False),
        ("09:05", "17:54", False, True),
        ("10:30", "15:00", True, True),
        ("08:00", "20:00", False, False),
    ],
)
def test_late_and_left_early_with_grace(tz: ZoneInfo, entry: str, leave: str, late: bool, left_early: bool) -> None:
    rows = compute_days([p(MON, entry, "IN", tz), p(MON, leave, "OUT", tz)], DAY_SHIFT, tz, MON, MON)
    assert (rows[0].late, rows[0].left_early) == (late, left_early)
    assert rows[0].absent is False


def test_a_zero_grace_shift_is_late_one_minute_after_start() -> None:
    strict = Shift(WEEKDAYS, time(9, 0), time(18, 0), timedelta(0))
    tz = SHANGHAI
    on_time = compute_days([p(MON, "09:00", "IN", tz), p(MON, "18:00", "OUT", tz)], strict, tz, MON, MON)[0]
    late = compute_days([p(MON, "09:01", "IN", tz), p(MON, "17:59", "OUT", tz)], strict, tz, MON, MON)[0]
    assert (on_time.late, on_time.left_early) == (False, False)
    assert (late.late, late.left_early) == (True, True)


# --- absent on a workday, nothing on a non-workday ------------------------------------------


@ZONES
def test_absent_on_workdays_and_no_row_on_the_weekend(tz: ZoneInfo) -> None:
    rows = compute_days([], DAY_SHIFT, tz, MON, SUN)
    assert [r.day for r in rows] == [MON, TUE, WED, THU, FRI]
    assert all(r.workday and r.absent and not r.late and not r.left_early and not r.missing_exit for r in rows)
    assert all(r.first_in is None and r.last_out is None and r.inside == timedelta() for r in rows)


def test_weekend_passages_give_a_row_that_is_not_a_workday() -> None:
    tz = SHANGHAI
    rows = compute_days([p(SAT, "10:00", "IN", tz), p(SAT, "12:00", "OUT", tz)], DAY_SHIFT, tz, SAT, SUN)
    assert [r.day for r in rows] == [SAT]
    sat = rows[0]
    assert sat.workday is False
    assert sat.inside == timedelta(hours=2)
    # Not a workday: no shift to be late for, leave early from or be absent from.
    assert (sat.late, sat.left_early, sat.absent) == (False, False, False)
    assert sat.shift_start is None and sat.shift_end is None


def test_without_a_shift_days_are_only_those_with_passages() -> None:
    tz = SHANGHAI
    rows = compute_days([p(WED, "10:00", "IN", tz), p(WED, "11:00", "OUT", tz)], None, tz, MON, SUN)
    assert [r.day for r in rows] == [WED]
    assert rows[0].workday is False
    assert rows[0].inside == timedelta(hours=1)
    assert rows[0].absent is False


# --- missing exit ---------------------------------------------------------------------------


@ZONES
def test_missing_exit(tz: ZoneInfo) -> None:
    row = compute_days([p(MON, "09:00", "IN", tz)], DAY_SHIFT, tz, MON, MON)[0]
    assert row.missing_exit is True
    assert row.last_out is None
    assert row.inside == timedelta()
    assert row.left_early is False  # nobody knows when they left
    assert row.absent is False


def test_missing_exit_after_a_lunch_break_keeps_the_morning() -> None:
    tz = SHANGHAI
    passages = [p(MON, "09:00", "IN", tz), p(MON, "12:00", "OUT", tz), p(MON, "13:00", "IN", tz)]
    row = compute_days(passages, DAY_SHIFT, tz, MON, MON)[0]
    assert row.missing_exit is True
    assert row.inside == timedelta(hours=3)
    assert row.last_out == local(MON, "12:00", tz)
    assert row.left_early is False  # the 12:00 exit is not the day's end


def test_a_lunch_break_is_not_time_inside() -> None:
    tz = SHANGHAI
    passages = [
        p(MON, "09:00", "IN", tz),
        p(MON, "12:00", "OUT", tz),
        p(MON, "13:00", "IN", tz),
        p(MON, "18:00", "OUT", tz),
    ]
    row = compute_days(passages, DAY_SHIFT, tz, MON, MON)[0]
    assert row.inside == timedelta(hours=8)
    assert (row.first_in, row.last_out) == (local(MON, "09:00", tz), local(MON, "18:00", tz))
    assert (row.missing_exit, row.late, row.left_early) == (False, False, False)


# --- a night shift across midnight ----------------------------------------------------------


@ZONES
def test_night_shift_belongs_to_the_day_it_starts(tz: ZoneInfo) -> None:
    passages = [p(MON, "21:55", "IN", tz), p(TUE, "06:05", "OUT", tz)]
    rows = compute_days(passages, NIGHT_SHIFT, tz, MON, TUE)
    mon, tue = only(rows, MON), only(rows, TUE)
    assert mon.first_in == local(MON, "21:55", tz)
    assert mon.last_out == local(TUE, "06:05", tz)
    assert mon.inside == timedelta(hours=8, minutes=10)
    assert (mon.late, mon.left_early, mon.absent, mon.missing_exit) == (False, False, False, False)
    assert mon.passages == 2
    assert mon.shift_start == datetime(2026, 3, 2, 22, 0, tzinfo=tz)
    assert mon.shift_end == datetime(2026, 3, 3, 6, 0, tzinfo=tz)
    # Tuesday's own shift (Tuesday 22:00 → Wednesday 06:00) has not been worked.
    assert tue.passages == 0
    assert tue.absent is True


@ZONES
def test_night_shift_late_and_left_early(tz: ZoneInfo) -> None:
    passages = [p(MON, "22:06", "IN", tz), p(TUE, "05:54", "OUT", tz)]
    mon = only(compute_days(passages, NIGHT_SHIFT, tz, MON, MON), MON)
    assert (mon.late, mon.left_early) == (True, True)
    assert mon.inside == timedelta(hours=7, minutes=48)


def test_friday_night_shift_ends_on_saturday_and_stays_friday() -> None:
    tz = SHANGHAI
    passages = [p(FRI, "21:50", "IN", tz), p(SAT, "06:10", "OUT", tz)]
    rows = compute_days(passages, NIGHT_SHIFT, tz, FRI, SUN)
    assert [r.day for r in rows] == [FRI]  # Saturday is no workday and has no passage of its own
    assert rows[0].inside == timedelta(hours=8, minutes=20)
    assert rows[0].missing_exit is False


def test_night_shift_missing_exit_does_not_leak_into_the_next_day() -> None:
    tz = SHANGHAI
    passages = [p(MON, "21:58", "IN", tz), p(TUE, "21:59", "IN", tz), p(WED, "06:01", "OUT", tz)]
    rows = compute_days(passages, NIGHT_SHIFT, tz, MON, TUE)
    mon, tue = only(rows, MON), only(rows, TUE)
    assert mon.missing_exit is True
    assert mon.inside == timedelta()
    assert tue.missing_exit is False
    assert tue.inside == timedelta(hours=8, minutes=2)


# --- duplicates, exits without entries, manual entries --------------------------------------


@ZONES
def test_duplicate_entries_do_not_double_time_inside(tz: ZoneInfo) -> None:
    """An offline re-upload repeats an IN; soft anti-passback lets a second IN through."""
    passages = [
        p(MON, "09:00", "IN", tz),
        p(MON, "09:00", "IN", tz),  # the same passage uploaded again
        p(MON, "09:30", "IN", tz),  # soft anti-passback: let in again while inside
        p(MON, "18:00", "OUT", tz),
    ]
    row = compute_days(passages, DAY_SHIFT, tz, MON, MON)[0]
    assert row.inside == timedelta(hours=9)
    assert row.first_in == local(MON, "09:00", tz)
    assert row.passages == 4
    assert (row.missing_exit, row.late, row.left_early) == (False, False, False)
    assert row.flags == []


@ZONES
def test_exit_without_entry_is_flagged(tz: ZoneInfo) -> None:
    row = compute_days([p(MON, "18:00", "OUT", tz)], DAY_SHIFT, tz, MON, MON)[0]
    assert row.flags == ["exit_without_entry"]
    assert row.last_out == local(MON, "18:00", tz)
    assert row.first_in is None
    assert row.inside == timedelta()
    assert row.missing_exit is False
    assert row.absent is True  # no entry was recorded on a workday


def test_an_exit_before_the_first_entry_is_flagged_and_the_day_still_counts() -> None:
    tz = SHANGHAI
    passages = [p(MON, "08:00", "OUT", tz), p(MON, "09:00", "IN", tz), p(MON, "18:00", "OUT", tz)]
    row = compute_days(passages, DAY_SHIFT, tz, MON, MON)[0]
    assert row.flags == ["exit_without_entry"]
    assert row.inside == timedelta(hours=9)
    assert row.first_in == local(MON, "09:00", tz)
    assert row.absent is False


def test_a_normal_day_has_no_flags() -> None:
    tz = SHANGHAI
    row = compute_days([p(MON, "09:00", "IN", tz), p(MON, "18:00", "OUT", tz)], DAY_SHIFT, tz, MON, MON)[0]
    assert row.flags == []


@ZONES
def test_manual_entries_count_like_scans(tz: ZoneInfo) -> None:
    """A guard registered the entry from an ID card (POLICY 3.1.3): it is a passage like any other."""
    manual = [p(MON, "09:10", "IN", tz, method="MANUAL"), p(MON, "17:40", "OUT", tz, method="MANUAL")]
    mixed = [p(MON, "09:10", "IN", tz, method="MANUAL"), p(MON, "17:40", "OUT", tz, method="QR")]
    scanned = [p(MON, "09:10", "IN", tz), p(MON, "17:40", "OUT", tz)]
    results = [compute_days(s, DAY_SHIFT, tz, MON, MON)[0] for s in (manual, mixed, scanned)]
    for row in results:
        assert row.first_in == local(MON, "09:10", tz)
        assert row.last_out == local(MON, "17:40", tz)
        assert row.inside == timedelta(hours=8, minutes=30)
        assert (row.late, row.left_early, row.absent) == (True, True, False)


# --- HR corrections -------------------------------------------------------------------------


@ZONES
def test_a_correction_fills_the_missing_exit(tz: ZoneInfo) -> None:
    fix = Correction(first_in=None, last_out=local(MON, "18:00", tz), reason="scanner at the exit was down")
    row = compute_days([p(MON, "09:00", "IN", tz)], DAY_SHIFT, tz, MON, MON, {MON: fix})[0]
    assert row.missing_exit is False
    assert row.last_out == local(MON, "18:00", tz)
    assert row.first_in == local(MON, "09:00", tz)
    assert row.inside == timedelta(hours=9)
    assert row.corrected is True
    assert row.correction_reason == "scanner at the exit was down"
    assert row.left_early is False


def test_a_correction_overrides_first_in_and_last_out() -> None:
    tz = SHANGHAI
    passages = [p(MON, "09:40", "IN", tz), p(MON, "16:00", "OUT", tz)]
    before = compute_days(passages, DAY_SHIFT, tz, MON, MON)[0]
    assert (before.late, before.left_early) == (True, True)
    fix = Correction(local(MON, "08:58", tz), local(MON, "18:02", tz), "badge printer broke; confirmed by head")
    row = compute_days(passages, DAY_SHIFT, tz, MON, MON, {MON: fix})[0]
    assert row.first_in == local(MON, "08:58", tz)
    assert row.last_out == local(MON, "18:02", tz)
    assert row.inside == timedelta(hours=9, minutes=4)
    assert (row.late, row.left_early, row.absent, row.missing_exit) == (False, False, False, False)
    assert row.corrected is True


def test_a_correction_of_an_absent_day_makes_it_present() -> None:
    tz = SHANGHAI
    fix = Correction(local(TUE, "09:00", tz), local(TUE, "18:00", tz), "worked at the client's site")
    rows = compute_days([], DAY_SHIFT, tz, MON, TUE, {TUE: fix})
    mon, tue = only(rows, MON), only(rows, TUE)
    assert mon.absent is True and mon.corrected is False
    assert tue.absent is False and tue.corrected is True
    assert tue.inside == timedelta(hours=9)


def test_a_correction_on_a_day_off_gives_a_row() -> None:
    tz = SHANGHAI
    fix = Correction(local(SAT, "10:00", tz), local(SAT, "14:00", tz), "weekend release")
    rows = compute_days([], DAY_SHIFT, tz, SAT, SUN, {SAT: fix})
    assert [r.day for r in rows] == [SAT]
    assert rows[0].workday is False
    assert rows[0].inside == timedelta(hours=4)
    assert rows[0].corrected is True


def test_a_correction_outside_the_range_is_ignored() -> None:
    tz = SHANGHAI
    fix = Correction(local(TUE, "09:00", tz), local(TUE, "18:00", tz), "other day")
    rows = compute_days([], DAY_SHIFT, tz, MON, MON, {TUE: fix})
    assert [r.day for r in rows] == [MON]
    assert rows[0].absent is True and rows[0].corrected is False


# --- summarise ------------------------------------------------------------------------------


def _a_week(tz: ZoneInfo) -> list[Passage]:
    return [
        p(MON, "08:55", "IN", tz),  # Monday: on time, 9 h 05
        p(MON, "18:00", "OUT", tz),
        p(TUE, "09:20", "IN", tz),  # Tuesday: late, 8 h 40
        p(TUE, "18:00", "OUT", tz),
        p(WED, "09:00", "IN", tz),  # Wednesday: left early, 7 h
        p(WED, "16:00", "OUT", tz),
        # Thursday: absent
        p(FRI, "09:00", "IN", tz),  # Friday: missing exit
    ]


@ZONES
def test_summarise_counts_a_week(tz: ZoneInfo) -> None:
    days = compute_days(_a_week(tz), DAY_SHIFT, tz, MON, SUN)
    assert summarise(42, days) == MonthSummary(
        person_id=42,
        workdays=5,
        present=4,
        extra_days=0,
        late=1,
        left_early=1,
        absent=1,
        missing_exit=1,
        hours_inside=24.75,  # 9:05 + 8:40 + 7:00
    )


def test_summarise_of_nothing() -> None:
    assert summarise(7, []) == MonthSummary(7, 0, 0, 0, 0, 0, 0, 0, 0.0)


def test_summarise_rounds_hours_to_two_places() -> None:
    tz = SHANGHAI
    days = compute_days([p(MON, "09:00", "IN", tz), p(MON, "09:20", "OUT", tz)], None, tz, MON, MON)
    assert summarise(1, days).hours_inside == 0.33


def test_present_counts_workdays_only() -> None:
    tz = SHANGHAI
    passages = [*_a_week(tz), p(SAT, "10:00", "IN", tz), p(SAT, "12:00", "OUT", tz)]
    s = summarise(1, compute_days(passages, DAY_SHIFT, tz, MON, SUN))
    assert s.workdays == 5
    assert s.absent == 1
    assert s.present + s.absent == s.workdays


def test_a_shift_starting_at_midnight_keeps_the_arrival_before_it() -> None:
    tz = SHANGHAI
    third = Shift(frozenset(range(1, 8)), time(0, 0), time(8, 0), GRACE)
    passages = [p(SUN, "23:50", "IN", tz), p(SUN + timedelta(days=1), "08:05", "OUT", tz)]
    monday = SUN + timedelta(days=1)
    row = only(compute_days(passages, third, tz, monday, monday), monday)
    assert row.first_in == local(SUN, "23:50", tz)
    assert row.inside == timedelta(hours=8, minutes=15)
    assert (row.absent, row.late, row.missing_exit) == (False, False, False)
    assert row.flags == []


def test_days_without_a_schedule_are_counted_apart_with_no_rate() -> None:
    """A new hire with no schedule came on two days: not "2 present of 0 workdays", no rate."""
    tz = SHANGHAI
    passages = [p(MON, "10:00", "IN", tz), p(MON, "12:00", "OUT", tz), p(WED, "10:00", "IN", tz)]
    days = compute_days(passages, None, tz, MON, SUN)
    assert [(d.day, d.workday, d.scheduled) for d in days] == [(MON, False, False), (WED, False, False)]
    s = summarise(1, days, unscheduled_days=7)
    assert (s.workdays, s.present, s.extra_days, s.absent) == (0, 0, 0, 0)
    assert (s.unscheduled_days, s.unscheduled_present) == (7, 2)
    assert s.attendance_rate is None


def test_a_day_off_is_not_a_day_without_a_schedule() -> None:
    tz = SHANGHAI
    passages = [*_a_week(tz), p(SAT, "10:00", "IN", tz), p(SAT, "12:00", "OUT", tz)]
    s = summarise(1, compute_days(passages, DAY_SHIFT, tz, MON, SUN))
    assert (s.extra_days, s.unscheduled_days, s.unscheduled_present) == (1, 0, 0)
    assert s.attendance_rate == 80.0  # 4 of 5 workdays


def test_a_weekend_alone_has_no_rate_even_with_a_schedule() -> None:
    """Only days off in the period: the Saturday visit is an extra day, not 1 present of 0 due."""
    tz = SHANGHAI
    s = summarise(1, compute_days([p(SAT, "10:00", "IN", tz)], DAY_SHIFT, tz, SAT, SUN))
    assert (s.workdays, s.present, s.extra_days, s.unscheduled_present) == (0, 0, 1, 0)
    assert s.attendance_rate is None
