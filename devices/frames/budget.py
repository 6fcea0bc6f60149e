"""Per-device frame budgets: what one connection may send per second before it is cut off.

A gate at its busiest sends tens of frames a second; a device past these budgets is broken or
hostile, and every frame it sends is work taken from the other gates. Each budget is a token
bucket: `rate` per second sustained, `burst` at once (an offline upload on reconnect, a queue of
scans after a network hiccup). A device over any budget is alerted and closed with
CLOSE_OVER_BUDGET; its next connection starts with full buckets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# 4429 ("too many requests" in the 4xxx application range, like 4401/4408/4409).
CLOSE_OVER_BUDGET = 4429
FRAMES_PER_SECOND, FRAMES_BURST = 500.0, 1000.0
BYTES_PER_SECOND, BYTES_BURST = 2.0 * 1024 * 1024, 8.0 * 1024 * 1024
# Refused frames (not JSON, wrong shape, oversized): a device sending these in a loop is cut sooner.
REFUSED_PER_SECOND, REFUSED_BURST = 5.0, 50.0
# Faces a terminal may have decided per second: a photo costs the server ~130 ms of CPU and an
# embedding a 1:N match, on cores the other gates' decisions share (bench/faces_bench.py: a terminal
# sending as fast as it was answered took a QR gate's p99 from 28 ms to 170-490 ms). A person
# shows their face about once a second at a terminal; past these, the face is answered
# `unavailable` at once, undecided, and the connection (and its QR scans) carries on.
FACE_PHOTOS_PER_SECOND, FACE_PHOTOS_BURST = 3.0, 10.0
FACE_EMBEDDINGS_PER_SECOND, FACE_EMBEDDINGS_BURST = 10.0, 20.0


@dataclass
class Bucket:
    rate: float
    burst: float
    level: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.level < 0:
            self.level = self.burst

    def take(self, amount: float, now: float) -> bool:
        """Spend `amount`; False when the bucket would go below empty (nothing is spent then)."""
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        if amount > self.level:
            return False
        self.level -= amount
        return True


class FrameBudget:
    """The budgets of one connection; `over` names the one a frame broke (None while within)."""

    def __init__(self) -> None:
        self.frames = Bucket(FRAMES_PER_SECOND, FRAMES_BURST)
        self.bytes = Bucket(BYTES_PER_SECOND, BYTES_BURST)
        self.refused = Bucket(REFUSED_PER_SECOND, REFUSED_BURST)
        self.face_photos = Bucket(FACE_PHOTOS_PER_SECOND, FACE_PHOTOS_BURST)
        self.face_embeddings = Bucket(FACE_EMBEDDINGS_PER_SECOND, FACE_EMBEDDINGS_BURST)

    def face_allowed(self, photo: bool) -> bool:
        """One more face to decide from this device (a photo or an embedding) is within its budget."""
        return (self.face_photos if photo else self.face_embeddings).take(1, time.monotonic())

    def over(self, size: int) -> str | None:
        now = time.monotonic()
        if not self.frames.take(1, now):
            return f"more than {FRAMES_PER_SECOND:.0f} frames a second"
        if not self.bytes.take(size, now):
            return f"more than {BYTES_PER_SECOND / 1024 / 1024:.0f} MiB a second"
        return None

    def over_on_refusal(self) -> str | None:
        if not self.refused.take(1, time.monotonic()):
            return f"more than {REFUSED_PER_SECOND:.0f} refused frames a second"
        return None
