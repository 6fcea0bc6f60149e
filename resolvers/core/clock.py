"""One place to read the time, so tests and the pass-token step agree."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def unix() -> float:
    return time.time()
