"""Failed device sign-ins (`hello`) limited per client address, and alerted.

An address may fail FREE_FAILURES hellos within WINDOW_SECONDS; past that it is in a refusal
window (WINDOW_SECONDS at first, doubling each time it is earned again, at most MAX_REFUSAL):
its hellos are refused with 4401 before any credential is looked up, except for device ids
that signed in successfully from that address before (a real gate behind the same NAT as the
attacker keeps working; its secret is still checked). Each address that enters a refusal
window raises one alert per window. The counts are this process's (one worker's) and expire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from resolvers.alerts.raising import raise_alert_throttled
from resolvers.runtime import Runtime

FREE_FAILURES = 10
WINDOW_SECONDS = 60.0
MAX_REFUSAL_SECONDS = 15 * 60.0
KNOWN_DEVICES_PER_ADDRESS = 1000
MAX_ADDRESSES = 50_000


@dataclass
class _Address:
    failures: list[float] = field(default_factory=list)
    refused_until: float = 0.0
    refusal: float = WINDOW_SECONDS
    known: set[str] = field(default_factory=set)


_addresses: dict[str, _Address] = {}


def _of(address: str) -> _Address:
    entry = _addresses.get(address)
    if entry is None:
        if len(_addresses) >= MAX_ADDRESSES:
            _addresses.clear()
        entry = _addresses[address] = _Address()
    return entry


def refused(address: str, device_id: object) -> bool:
    """Whether this hello is refused unchecked: the address is in a refusal window and the
    device never signed in from it."""
    entry = _addresses.get(address)
    if entry is None or time.monotonic() >= entry.refused_until:
        return False
    return not (isinstance(device_id, str) and device_id in entry.known)


def succeeded(address: str, device_id: str) -> None:
    entry = _of(address)
    if len(entry.known) < KNOWN_DEVICES_PER_ADDRESS:
        entry.known.add(device_id)


async def failed(rt: Runtime, address: str) -> None:
    """A refused hello from `address`: counted; past FREE_FAILURES in a window, the address is
    refused for a growing window and the guards hear of it once per window."""
    entry = _of(address)
    now = time.monotonic()
    entry.failures = [t for t in entry.failures if now - t < WINDOW_SECONDS]
    entry.failures.append(now)
    if now < entry.refused_until or len(entry.failures) <= FREE_FAILURES:
        return
    # Earned again soon after the last window ended: twice as long; after a quiet spell, reset.
    if now - entry.refused_until > MAX_REFUSAL_SECONDS:
        entry.refusal = WINDOW_SECONDS
    else:
        entry.refusal = min(MAX_REFUSAL_SECONDS, entry.refusal * 2) if entry.refused_until else entry.refusal
    entry.refused_until = now + entry.refusal
    entry.failures.clear()
    await raise_alert_throttled(
        rt,
        "hello_failures",
        f"more than {FREE_FAILURES} failed device sign-ins from {address[:64]} within {WINDOW_SECONDS:.0f} s: "
        f"refused for {entry.refusal:.0f} s",
        subject=address[:64],
        seconds=entry.refusal,
    )
