"""Who is inside which zone, for anti-passback (and later muster lists).

An IN passage puts a person inside the gate's zone; an OUT passage takes them out
of it and its sub-zones. The live state sits in realtime.scan_state; when that
store is empty (first start, a restarted Redis) it is rebuilt from the event log. Passages
change it in one place only: resolvers/scan/writer.py, right after storing them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from gatehouse_gate import passtoken
from tortoise import connections

from realtime.scan_state import ScanState, Settle
from resolvers.access.topology import Topology, TopologyCache
from resolvers.core import clock
from resolvers.core.models import Credential, Decision, Direction, GateEvent
from resolvers.scan.reasons import Reason

log = logging.getLogger("gatehouse.presence")
REBUILD_LOCK_SECONDS = 60


def change(topo: Topology, zone_id: int, direction: Direction) -> tuple[int | None, set[int] | None]:
    """(zone entered, zones left) by a passage through a gate of `zone_id`."""
    if direction is Direction.IN:
        return zone_id, None
    return None, topo.subtree(zone_id)


def replay(topo: Topology, passages: list[tuple[int, int, str]]) -> dict[int, set[int]]:
    """Presence after the granted passages (person, zone, direction), oldest first."""
    inside: dict[int, set[int]] = {}
    for person_id, zone_id, direction in passages:
        zones = inside.setdefault(person_id, set())
        if direction == Direction.IN.value:
            zones.add(zone_id)
        else:
            zones.difference_update(topo.subtree(zone_id))
    return {p: z for p, z in inside.items() if z}


async def rebuild_presence_if_needed(state: ScanState, topology: TopologyCache) -> None:
    """At start-up (it takes the runtime's parts, not the runtime, which is built from this)."""
    if not await state.needs_presence_rebuild():
        return
    await _rebuild(state, topology)


async def everyone_inside(state: ScanState, topology: TopologyCache) -> dict[int, set[int]]:
    """person → zones they are inside now, for readers outside the scan path (the muster roll call).

    The shared state says so only while its marker is there: after Redis came back empty it
    says nobody is inside, the worst answer an evacuation roll call could give. So a lost state
    (no marker before the read, or gone by its end: a flush while reading) starts the rebuild
    the scans wait for, and this answer is worked out from the event log itself meanwhile,
    rather than waiting for the rebuild (which another worker may be doing)."""
    if not await state.needs_presence_rebuild():
        inside = await state.everyone_inside()
        if not await state.needs_presence_rebuild():
            return inside
    log.warning("presence was lost: answering from the event log while it is rebuilt")
    start_recovery(state, topology)
    inside, _ = await _inside_from_log(await topology.get())
    return inside


async def _inside_from_log(topo: Topology) -> tuple[dict[int, set[int]], int]:
    """Presence after every granted passage in the log, and how many passages that was."""
    rows = (
        await GateEvent.filter(decision=Decision.GRANTED, person_id__not_isnull=True, direction__not_isnull=True)
        .order_by("at", "id")  # by time: offline uploads arrive late but happened when they say
        .values_list("person_id", "zone_id", "direction")
    )
    return replay(topo, [(p, z, d) for p, z, d in rows]), len(rows)


async def _rebuild(state: ScanState, topology: TopologyCache) -> None:
    inside, passages = await _inside_from_log(await topology.get())
    tokens = await used_tokens()
    await state.load_presence(inside, tokens)
    log.info(
        "scan state rebuilt: %d passages (%d people inside somewhere), %d tokens still in use",
        passages,
        len(inside),
        len(tokens),
    )


async def used_tokens() -> list[Settle]:
    """The (credential, step)s online scans used that a gate could still be shown, from the event
    log (each scan that claimed a token stores its step), with what the scan was told."""
    conn = connections.get("default")
    longest = (await conn.execute_query_dict("SELECT MAX(period) AS longest FROM credential"))[0]["longest"]
    memory = int(longest or passtoken.DEFAULT_PERIOD) * (2 * passtoken.SKEW_STEPS + 2) + 5
    now = clock.now()
    rows = await GateEvent.filter(at__gte=now - timedelta(seconds=memory), credential_cid__not_isnull=True).values(
        "id", "at", "credential_cid", "payload", "gate_id", "device_id", "device_ref", "reason", "person__display_name"
    )
    rows = [r for r in rows if isinstance(r["payload"], dict) and isinstance(r["payload"].get("step"), int)]
    periods = dict(await Credential.filter(cid__in={r["credential_cid"] for r in rows}).values_list("cid", "period"))
    tokens: list[Settle] = []
    for r in rows:
        age = (now - r["at"]).total_seconds()
        ttl = int(periods.get(r["credential_cid"], passtoken.DEFAULT_PERIOD) * (2 * passtoken.SKEW_STEPS + 2) + 5 - age)
        if ttl <= 0:
            continue
        reason = Reason(r["reason"])
        decision = {
            "granted": reason.grants,
            "reason": reason.value,
            "person": r["person__display_name"],
            "gate": r["gate_id"],
            "event": r["id"],
        }
        step = r["payload"]["step"]
        tokens.append((r["credential_cid"], step, r["gate_id"], decision, ttl, r["device_id"], r["device_ref"]))
    return tokens


def start_recovery(state: ScanState, topology: TopologyCache) -> None:
    """The shared state was found lost: rebuild it from the event log in the background (once per
    process; one process at a time). Until it is rebuilt every claim fails and scans are refused
    `unavailable`: deciding on an empty state would admit a replayed token or a second entry."""
    task = state.rebuilding
    if task is None or task.done():
        state.rebuilding = asyncio.create_task(_recover(state, topology), name="scan-state-recovery")


async def _recover(state: ScanState, topology: TopologyCache) -> None:
    log.error("the shared scan state was lost (Redis restarted or was flushed): rebuilding it from the event log")
    try:
        while await state.needs_presence_rebuild():
            if await state.lock_rebuild(REBUILD_LOCK_SECONDS):
                try:
                    await _rebuild(state, topology)
                finally:
                    await state.unlock_rebuild()
                return
            await asyncio.sleep(0.2)  # another process is rebuilding it
    except Exception:
        log.exception("rebuilding the scan state failed; scans stay refused until the next try")
