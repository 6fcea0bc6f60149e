"""Repeats of an alert within its window (resolvers/alerts/raising.py `count_in_window`):
counted into the first, a new window after it, a first alert that failed to store
leaves no window behind that would swallow the next, and the stored alert's rewritten count
keeps what its first alert said (its event, its person)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolvers.alerts import raising
from resolvers.core import db
from resolvers.core.models import DeviceAlert
from resolvers.core.settings import Settings
from resolvers.runtime import Runtime
from tests.harness import eventually


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


async def test_the_rewritten_count_keeps_the_first_alerts_event_and_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The machine's clock (the event loop's timers need it): the window is ten minutes long.
    monkeypatch.setattr(raising, "_windows", {})
    monkeypatch.setattr(raising, "AGGREGATE_FLUSH_SECONDS", 0.01)
    await db.start(f"sqlite://{tmp_path / 'gh.sqlite3'}")
    rt = Runtime.create(Settings.from_env({"GATEHOUSE_KEY_FILE": str(tmp_path / "k.key")}))
    await rt.start()
    try:
        first = {"count": 1, "eventId": 17, "personId": 3, "reason": "ok"}
        assert raising.count_in_window("night_entry", 7, message, seconds=600) is None
        [alert] = await raising.raise_alerts(
            rt, [raising.AlertSpec("night_entry", message(1), gate_id=7, payload=first, opens_window=True)]
        )
        assert raising.count_in_window("night_entry", 7, message, seconds=600) is not None

        async def rewritten() -> bool:
            return (await DeviceAlert.get(id=alert.id)).message == "2 entries at night"

        await eventually(rewritten, 10, "the count rewritten")
        stored = await DeviceAlert.get(id=alert.id)
        assert stored.payload == {**first, "count": 2}
    finally:
        await rt.stop()
        await db.close()
