"""Face and pass (two factors) at the gates of a zone that needs both (`zone.face_and_pass`).

The first factor a person shows at such a gate (a face or a pass, either order) is held for
`WINDOW_SECONDS`; the other factor of the same person at the same gate within that time opens.
Any other person's factor at that gate in between takes its place (the first is cancelled).

Held per worker process, in memory: a gate's device keeps one WebSocket to one worker, and a face
terminal reads passes too, so both factors of one passage reach the same worker. A site whose
face terminal and pass scanner are separate devices on a multi-worker server should put them on
one device connection (README "Faces").
"""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.access.topology import GateNode, Topology
from resolvers.core import clock
from resolvers.core.models import Direction

WINDOW_SECONDS = 30.0
FACE = "face"
SCAN = "scan"


@dataclass(frozen=True, slots=True)
class _Held:
    person_id: int
    factor: str
    until: float


_held: dict[int, _Held] = {}


def needed(topo: Topology, gate: GateNode, way: Direction) -> bool:
    """Entries into a face-and-pass zone need both factors; leaving never waits on a second one."""
    zone = topo.zones.get(gate.zone_id)
    return zone is not None and zone.face_and_pass and way is Direction.IN


def complete(gate_id: int, person_id: int, factor: str) -> bool:
    """True when `factor` completes the other factor this person showed here within the window
    (both are then used up); else this factor is held, replacing whatever was waiting."""
    now = clock.unix()
    held = _held.pop(gate_id, None)
    if held is not None and held.until >= now and held.person_id == person_id and held.factor != factor:
        return True
    _held[gate_id] = _Held(person_id, factor, now + WINDOW_SECONDS)
    if len(_held) > 10_000:  # gates are few; expired entries go when the table grows
        for gid in [g for g, h in _held.items() if h.until < now]:
            del _held[gid]
    return False


def other(factor: str) -> str:
    return SCAN if factor == FACE else FACE


def interrupt(gate_id: int, person_id: int) -> None:
    """Someone else was recognised at this gate (even if refused): a factor held for another
    person is cancelled."""
    held = _held.get(gate_id)
    if held is not None and held.person_id != person_id:
        del _held[gate_id]
