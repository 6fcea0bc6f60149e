"""Repeats of an alert within its window (resolvers/alerts/raising.py `count_in_window`):
counted into the first, a new window after it, and a first alert that failed to store
leaves no window behind that would swallow the next."""

from __future__ import annotations

import pytest

from resolvers.alerts import raising


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(raising.time, "monotonic", fake)
    monkeypatch.setattr(raising, "_windows", {})
    return fake


def message(n: int) -> str:
    return "entry at night" if n == 1 else f"{n} entries at night"


async def test_repeats_within_the_window_are_counted_into_its_alert(clock: Clock) -> None:
    assert raising.count_in_window("night_entry", 7, message, seconds=600) is None  # opens: raise
    raising._window_raised("night_entry", 7, 41)
    clock.now += 599
    window = raising.count_in_window("night_entry", 7, message, seconds=600)
    assert window is not None and (window.alert_id, window.count) == (41, 2)
    assert window.message(window.count) == "2 entries at night"
    assert window.flush is not None  # the stored alert is rewritten within a second
    window.flush.cancel()
    # Another gate, or another kind, has a window of its own.
    assert raising.count_in_window("night_entry", 8, message, seconds=600) is None
    assert raising.count_in_window("forced", 7, message, seconds=600) is None
    clock.now += 1  # the window has ended: the next entry raises again
    assert raising.count_in_window("night_entry", 7, message, seconds=600) is None


async def test_a_first_alert_not_stored_leaves_no_window(clock: Clock) -> None:
    assert raising.count_in_window("night_entry", 7, message, seconds=600) is None
    raising._window_failed("night_entry", 7)
    assert raising.count_in_window("night_entry", 7, message, seconds=600) is None
    raising._window_raised("night_entry", 7, 5)
    raising._window_failed("night_entry", 7)  # stored after all: the window stays
    window = raising.count_in_window("night_entry", 7, message, seconds=600)
    assert window is not None and window.alert_id == 5
    assert window.flush is not None
    window.flush.cancel()
