"""The gate event writer (resolvers/scan/writer.py), in-process on a real SQLite database.

Every kind of event goes store → presence → publish. The order is observed on the real
parts: the event log, scan state and bus are the real classes, each noting when it did its
step (`Witness*`), so a writer that published first or moved presence before the commit fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from realtime.bus import MemoryBus, Received
from realtime.messages import GateEventMessage, PersonRef
from realtime.scan_state import MemoryScanState
from resolvers.access.topology import GateNode
from resolvers.core import clock, db
from resolvers.core.models import (
    AntiPassback,
    Decision,
    Device,
    DeviceKind,
    Direction,
    EntryMethod,
    GateDirection,
    GateEvent,
    Person,
    Zone,
)
from resolvers.core.models import Gate as GateRow
from resolvers.core.settings import Settings
from resolvers.runtime import Runtime
from resolvers.scan import writer
from resolvers.scan.event_log import EventLog
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.reasons import Reason


class WitnessLog(EventLog):
    def __init__(self, steps: list[str]) -> None:
        super().__init__()
        self.steps = steps

    async def _write(self, batch: Any) -> list[GateEventRecord]:
        stored = await super()._write(batch)
        self.steps.extend(f"store {e.id}" for e in stored)
        return stored


class WitnessState(MemoryScanState):
    def __init__(self, steps: list[str]) -> None:
        super().__init__()
        self.steps = steps

    async def finish(
        self,
        settle: tuple[str, int, int, dict[str, Any], int] | None,
        person_id: int | None,
        enter: int | None,
        leave: Iterable[int] | None,
    ) -> None:
        await super().finish(settle, person_id, enter, leave)
        event = settle[3]["event"] if settle is not None else None
        self.steps.append(f"presence {person_id} enter={enter} settle={event}")


class WitnessBus(MemoryBus):
    def __init__(self, steps: list[str]) -> None:
        super().__init__()
        self.steps = steps

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        if channel == GateEventMessage.CHANNEL:
            self.steps.append(f"publish {message['id']}")
        super().publish(channel, message)


@dataclass
class Site:
    rt: Runtime
    steps: list[str]
    lobby_in: GateNode
    lobby_out: GateNode
    device_id: int
    alice: PersonRef


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    await db.start(f"sqlite://{tmp_path / 'gh.sqlite3'}")
    steps: list[str] = []
    rt = Runtime.create(Settings.from_env({"GATEHOUSE_KEY_FILE": str(tmp_path / "k.key")}))
    rt.bus, rt.state, rt.events = WitnessBus(steps), WitnessState(steps), WitnessLog(steps)
    lobby = await Zone.create(name="Lobby", anti_passback=AntiPassback.HARD)
    gate_in = await GateRow.create(name="Lobby in", zone_id=lobby.id, direction=GateDirection.IN)
    gate_out = await GateRow.create(name="Lobby out", zone_id=lobby.id, direction=GateDirection.OUT)
    device = await Device.create(name="Lobby reader", kind=DeviceKind.QR_SCANNER, secret_hash="x")
    alice = await Person.create(display_name="Alice Li", roles=["EMPLOYEE"])
    await rt.start()
    try:
        topo = await rt.topology.get()
        yield Site(
            rt, steps, topo.gates[gate_in.id], topo.gates[gate_out.id], device.id, PersonRef(alice.id, "Alice Li")
        )
    finally:
        await rt.stop()
        await db.close()


def passage(site: Site, gate: GateNode, reason: Reason, **extra: Any) -> GateEventRecord:
    way = Direction(gate.direction.value)
    fields: dict[str, Any] = {"at": clock.now(), "method": EntryMethod.QR, "direction": way, "person": site.alice}
    return GateEventRecord(gate=gate, reason=reason, device_id=site.device_id, **{**fields, **extra})


async def next_message(messages: Received[GateEventMessage]) -> GateEventMessage:
    return await asyncio.wait_for(messages.__anext__(), 5)


async def test_a_scan_is_stored_then_moves_presence_and_settles_then_is_published(site: Site) -> None:
    rt = site.rt
    async with rt.bus.receive(GateEventMessage) as messages:
        token = writer.TokenUse("AAAAAAAAAAAAAAAA", 7, 60)
        stored = await writer.record(rt, passage(site, site.lobby_in, Reason.OK), token=token)
        message = await next_message(messages)
    assert stored.id is not None
    assert site.steps == [
        f"store {stored.id}",
        f"presence {site.alice.id} enter={site.lobby_in.zone_id} settle={stored.id}",
        f"publish {stored.id}",
    ]
    assert await rt.state.inside(site.alice.id) == {site.lobby_in.zone_id}
    claim = await rt.state.claim_token("AAAAAAAAAAAAAAAA", 7, site.lobby_in.id, 60)
    assert claim.decision == {
        "granted": True,
        "reason": "ok",
        "person": "Alice Li",
        "gate": site.lobby_in.id,
        "event": stored.id,
    }, "a retry of the scan gets the stored answer"

    row = await GateEvent.get(id=stored.id)
    assert (row.decision, row.reason, row.person_id, row.zone_id) == (
        Decision.GRANTED,
        "ok",
        site.alice.id,
        site.lobby_in.zone_id,
    )
    assert message == stored.message()
    assert (message.gate.name, message.gate.direction, message.zone_id) == ("Lobby in", "IN", site.lobby_in.zone_id)
    assert message.person == site.alice and message.decision == "GRANTED"


async def test_with_nobody_listening_on_this_process_the_message_is_not_built(site: Site) -> None:
    stored = await writer.record(site.rt, passage(site, site.lobby_in, Reason.OK))
    assert site.steps == [f"store {stored.id}", f"presence {site.alice.id} enter={site.lobby_in.zone_id} settle=None"]


async def test_a_denied_passage_names_the_person_but_moves_nobody(site: Site) -> None:
    rt = site.rt
    async with rt.bus.receive(GateEventMessage) as messages:
        stored = await writer.record(rt, passage(site, site.lobby_in, Reason.NO_ACCESS))
        message = await next_message(messages)
    assert site.steps == [f"store {stored.id}", f"publish {stored.id}"], "no presence step for a denial"
    assert await rt.state.inside(site.alice.id) == set()
    assert (message.decision, message.reason, message.person) == ("DENIED", "no_access", site.alice)


async def test_a_manual_exit_takes_the_person_out_before_guards_hear_of_it(site: Site) -> None:
    rt = site.rt
    await writer.record(rt, passage(site, site.lobby_in, Reason.OK, method=EntryMethod.MANUAL))
    assert await rt.state.inside(site.alice.id) == {site.lobby_in.zone_id}
    site.steps.clear()
    async with rt.bus.receive(GateEventMessage) as messages:
        stored = await writer.record(rt, passage(site, site.lobby_out, Reason.OK, method=EntryMethod.MANUAL))
        assert (await next_message(messages)).id == stored.id
    assert site.steps == [
        f"store {stored.id}",
        f"presence {site.alice.id} enter=None settle=None",
        f"publish {stored.id}",
    ]
    assert await rt.state.inside(site.alice.id) == set()


async def test_a_door_alarm_is_an_event_with_no_decision(site: Site) -> None:
    rt = site.rt
    at = clock.now() - timedelta(seconds=3)
    async with rt.bus.receive(GateEventMessage) as messages:
        assert await writer.record_door_alarm(rt, site.device_id, site.lobby_in, "opened", at) is None
        stored = await writer.record_door_alarm(rt, site.device_id, site.lobby_in, "forced", at)
        assert stored is not None
        message = await next_message(messages)
    assert site.steps == [f"store {stored.id}", f"publish {stored.id}"]
    assert (message.decision, message.method, message.direction, message.person) == (None, None, None, None)
    assert (message.reason, message.at) == ("forced", at)
    row = await GateEvent.get(id=stored.id)
    assert (row.decision, row.reason, row.payload, row.device_id) == (
        None,
        "forced",
        {"state": "forced"},
        site.device_id,
    )
    assert await GateEvent.all().count() == 1, "an opened door is a door report, not a gate event"


async def test_an_upload_arriving_twice_at_once_is_stored_and_published_once(site: Site) -> None:
    rt = site.rt
    earlier = clock.now() - timedelta(minutes=10)
    batch = [
        passage(site, site.lobby_in, Reason.OK, offline=True, device_seq=1, at=earlier),
        passage(site, site.lobby_in, Reason.REPLAYED, offline=True, device_seq=2, at=earlier + timedelta(seconds=1)),
        passage(site, site.lobby_out, Reason.OK, offline=True, device_seq=3, at=earlier + timedelta(seconds=2)),
    ]
    async with rt.bus.receive(GateEventMessage) as messages:
        first, second = await asyncio.gather(writer.record_uploaded(rt, batch), writer.record_uploaded(rt, batch))
        assert len(first) + len(second) == 3, (first, second)
        published = [await next_message(messages) for _ in range(3)]
    rows = await GateEvent.all().order_by("device_seq").values_list("device_seq", "offline", "reason")
    assert rows == [(1, True, "ok"), (2, True, "replayed"), (3, True, "ok")]
    assert sorted(m.id for m in published) == sorted(e.id for e in [*first, *second] if e.id is not None)
    assert all(m.offline for m in published)
    for stored in [*first, *second]:
        assert site.steps.index(f"store {stored.id}") < site.steps.index(f"publish {stored.id}")
    assert await rt.state.inside(site.alice.id) == set(), "in, then out: the upload leaves Alice outside"


async def test_an_uploaded_entry_older_than_a_stored_exit_does_not_put_the_person_inside(site: Site) -> None:
    rt = site.rt
    await writer.record(rt, passage(site, site.lobby_out, Reason.OK))
    old_entry = passage(site, site.lobby_in, Reason.OK, offline=True, device_seq=9, at=clock.now() - timedelta(hours=1))
    [stored] = await writer.record_uploaded(rt, [old_entry])
    assert stored.offline and stored.id is not None
    assert await rt.state.inside(site.alice.id) == set(), "the exit stored online is newer: it says where Alice is"
