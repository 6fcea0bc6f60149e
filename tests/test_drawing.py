"""Files are drawn in a process of their own (api/drawing.py): a half-second PDF must not hold the
GIL of the worker that answers gate scans, and a flood of downloads is refused, not queued."""

from __future__ import annotations

import os

import pytest

from api import drawing


async def test_files_are_drawn_in_another_process() -> None:
    drawer = drawing._Drawer()
    try:
        assert await drawer.draw(os.getpid) != os.getpid()
        # The same process serves the next file: the font is found once, not per file.
        first = await drawer.draw(os.getpid)
        assert await drawer.draw(os.getpid) == first
    finally:
        drawer.stop()


async def test_a_dead_drawing_process_is_replaced() -> None:
    drawer = drawing._Drawer()
    try:
        pid = await drawer.draw(os.getpid)
        os.kill(pid, 9)
        assert await drawer.draw(os.getpid) not in (pid, os.getpid())
    finally:
        drawer.stop()


async def test_too_many_files_waiting_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drawing, "MAX_WAITING", 0)
    drawer = drawing._Drawer()
    with pytest.raises(drawing.DrawingBusy) as busy:
        await drawer.draw(os.getpid)
    answer = busy.value.response()
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
    assert drawer._helper._pool is None  # refused before a process was started
