"""The one writer of gate events: store → presence → publish, in that order, for every kind.

Online scans, offline uploads, manual entries, remote opens and door alarms all come here
as `GateEventRecord`s. Each is
1. stored (group commit: resolvers/scan/event_log.py) — nothing is pushed that is not kept;
2. applied to presence when it is a granted passage of a known person, in the same round
   trip that settles a scan's token claim (one Redis pipeline on the scan path);
3. published to guards as its typed bus message. Publishing only queues: a slow Redis or a
   slow guard never holds up the scan, and the device gets its answer after step 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from realtime.messages import GateEventMessage
from resolvers.access.topology import GateNode, Topology
from resolvers.core import clock
from resolvers.core.models import Decision, GateEvent
from resolvers.runtime import Runtime
from resolvers.scan import presence
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.outcome import ScanOutcome
from resolvers.scan.reasons import Reason


@dataclass(frozen=True, slots=True)
class TokenUse:
    """The (credential, step) a scan claimed: settled with the answer, for the device's retry."""

    cid: str
    step: int
    ttl: int
    # With the credential text and the frame's ref (as sent), the device's reply is remembered for
    # its retry (`remember_ref`) in the same round trip as the settlement.
    credential: str | None = None
    reply_ref: Any = None

    @property
    def remembers(self) -> bool:
        return self.credential is not None and self.reply_ref is not None


async def record(
    rt: Runtime, event: GateEventRecord, *, topo: Topology | None = None, token: TokenUse | None = None
) -> GateEventRecord:
    """Store one event, update presence (and settle the scan's token), publish it; returns it stored."""
    stored = await rt.events.store(event)
    await _presence(rt, stored, topo, token)
    _publish(rt, stored)
    return stored


async def record_uploaded(rt: Runtime, events: Sequence[GateEventRecord]) -> list[GateEventRecord]:
    """Events a gate decided offline: those stored now, in order. One the database already holds
    (the same upload arriving twice at once) is left out: (device, seq) is stored once."""
    stored: list[GateEventRecord] = []
    for result in await rt.events.store_all(events):
        if isinstance(result, IntegrityError):
            continue
        if isinstance(result, Exception):
            raise result
        stored.append(result)
    topo = await rt.topology.get()
    for event in stored:
        # An upload can arrive after newer passages: only the latest by time says where someone is.
        await _presence(rt, event, topo, None, unless_newer=True)
        _publish(rt, event)
    return stored


async def record_door_alarm(
    rt: Runtime, device_id: int, gate: GateNode, state: str, reported_at: datetime | None
) -> GateEventRecord | None:
    """A door forced or held open becomes a gate event (no decision, no method, no direction);
    other door states are not events and return None."""
    reason = Reason.parse(state)
    if reason is None or not reason.is_alarm:
        return None
    event = GateEventRecord(
        at=reported_at or clock.now(),
        gate=gate,
        reason=reason,
        device_id=device_id,
        payload={"state": state},
    )
    return await record(rt, event)


def _publish(rt: Runtime, event: GateEventRecord) -> None:
    # With nobody listening (one process, no guard watching) the message is not even built.
    if rt.bus.has_subscribers(GateEventMessage.CHANNEL):
        rt.bus.send(event.message())


async def _presence(
    rt: Runtime, event: GateEventRecord, topo: Topology | None, token: TokenUse | None, unless_newer: bool = False
) -> None:
    person_id = event.person_id
    enter: int | None = None
    leave: set[int] | None = None
    if event.moves_someone and not (unless_newer and await _newer_passage(event)):
        assert event.direction is not None and person_id is not None
        enter, leave = presence.change(topo or await rt.topology.get(), event.zone_id, event.direction)
    settle = None
    remember = None
    if token is not None:
        outcome = ScanOutcome.of(event)
        # The claim keeps naming the scan that used the token: only that device's retry of that ref
        # gets this answer again; anyone else showing the token is refused `replayed`.
        settle = (token.cid, token.step, event.gate_id, outcome.to_json(), token.ttl, event.device_id, event.device_ref)
        if token.remembers and event.device_id is not None and event.device_ref is not None:
            # The very frame devices/endpoint.py sends (ScanOutcome.frame of the same outcome).
            reply = outcome.frame(token.reply_ref, rt.settings.door_open_ms)
            remember = (event.device_id, event.device_ref, token.credential or "", reply)
    if settle is None and enter is None and leave is None:
        return
    if remember is None:
        await rt.state.finish(settle, person_id, enter, leave)
    else:
        await rt.state.finish(settle, person_id, enter, leave, remember)


async def _newer_passage(event: GateEventRecord) -> bool:
    return await GateEvent.filter(
        person_id=event.person_id, decision=Decision.GRANTED, direction__not_isnull=True, at__gt=event.at
    ).exists()
