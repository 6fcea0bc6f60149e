"""The last module the fork server preloads (tests/server_child.py PRELOAD): everything the
servers need is imported by now, so it is collected once and frozen here.

Each server's start-up ends with `gc.collect(); gc.freeze()` (api/app.py). In a child forked
from a parent that froze nothing, that collection walks every object the parent imported
(0.2-0.4 s on the test machine, and a copy-on-write fault for each page it touches); with
them frozen in the parent, it walks only what the child made itself.
"""

from __future__ import annotations

import gc

gc.collect()
gc.freeze()
