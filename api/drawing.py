"""Files people print (badges, labels, charts, PDFs) are drawn in a process of their own.

With the CJK font a PDF or an SVG takes about half a second of pure-Python CPU (fontTools
subsetting, fpdf2). In a thread of the server it would hold the GIL half that time, and every gate
scan answered meanwhile would wait for it: one person downloading reports must not slow anyone's
door. One drawing process per worker, started at the first file (forkserver: a clean process,
not a copy of the running event loop), with the font modules preloaded and the face found once.
Files queue for it; past `MAX_WAITING` the caller hears "busy, retry" instead of queueing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.responses import JSONResponse

from resolvers.core import helper_processes

log = logging.getLogger("gatehouse.drawing")

P = ParamSpec("P")
R = TypeVar("R")

MAX_WAITING = 16


class DrawingBusy(helper_processes.HelperBusy):
    """More files are waiting to be drawn than this worker takes on."""

    def response(self) -> JSONResponse:
        """What every file route answers then: 503 with when to try again."""
        return JSONResponse(
            {"error": "BUSY", "message": str(self), "field": None}, status_code=503, headers={"Retry-After": "5"}
        )


class _Drawer:
    def __init__(self) -> None:
        self._helper = helper_processes.HelperPool(
            "drawing", MAX_WAITING, DrawingBusy, "too many files are being drawn: try again in a few seconds"
        )

    async def draw(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs:
            raise TypeError("drawing functions take positional arguments")
        return await self._helper.run(fn, *args)

    @property
    def waiting(self) -> int:
        """Files being drawn or waiting their turn (the gatehouse_queue_depth metric)."""
        return self._helper.waiting

    def stop(self) -> None:
        self._helper.stop()


drawer = _Drawer()
