"""The reference gate agent's reconnection waits: doubling to a bound, each drawn at random below it,
so a building's gates that lost the link together do not come back together."""

from __future__ import annotations

import random
from collections import Counter

from gatehouse_gate.agent import RECONNECT_MOST_SECONDS, reconnect_delay


def test_the_bound_doubles_from_half_a_second_to_ten() -> None:
    assert [reconnect_delay(n, lambda: 1.0) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert reconnect_delay(10_000, lambda: 1.0) == RECONNECT_MOST_SECONDS  # no overflow after days down
    assert reconnect_delay(3, lambda: 0.0) == 0.0


def test_a_campus_retrying_together_is_spread_over_the_whole_wait() -> None:
    draw = random.Random(7).random
    waits = [reconnect_delay(4, draw) for _ in range(10_000)]  # 10,000 gates, their fifth attempt
    assert 0 <= min(waits) and max(waits) < 8.0
    # Twenty slices of the eight seconds: each gets about 500 of them, none a crowd.
    slices = Counter(int(w / 0.4) for w in waits)
    assert len(slices) == 20
    assert max(slices.values()) < 650, slices
