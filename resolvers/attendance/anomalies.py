"""Anomaly rules (POLICY 6.2 "anomalies spotted early"), run on every committed event off
the scan path, raising alerts that guards get live and the supervision team lists.

Repeated denials of one credential or at one gate, entries outside schedule or at night,
anti-passback violations, an exit with no entry, and a door opened with no decision
(tailgating). Forced and held-open doors, overstaying visitors and silent devices are
raised where they are seen (devices/endpoint.py, visit and fleet upkeep).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from datetime import datetime, timedelta

from resolvers.alerts.raising import AlertSpec, count_in_window, raise_alert, raise_alerts
from resolvers.core.models import Decision, Direction, GateEvent
from resolvers.runtime import Runtime
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.reasons import Reason

WINDOW = timedelta(minutes=5)
CREDENTIAL_DENIALS = 3
GATE_DENIALS = 10
NIGHT_START, NIGHT_END = 22, 6
# Entries at night at one gate within this long are one alert with a count: a night shift's change
# is dozens of entries, and an alert each buried the guards' list (and stored as many alerts as scans).
NIGHT_WINDOW_SECONDS = 600.0
NIGHT_COUNT_REWRITE_SECONDS = 15.0
TAILGATE_SECONDS = 10
THROTTLE_SECONDS = 600.0


class AnomalyDetector:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._denials_by_credential: dict[str, deque[datetime]] = defaultdict(deque)
        self._denials_by_gate: dict[int, deque[datetime]] = defaultdict(deque)
        self._raised: dict[tuple[str, object], float] = {}

    async def on_events(self, events: list[GateEventRecord]) -> None:
        """The batch's alerts are raised together."""
        pending: list[AlertSpec] = []  # this batch's (batches are judged concurrently)
        await self._judge(events, pending)
        if pending:
            await raise_alerts(self.rt, pending)

    async def _judge(self, events: list[GateEventRecord], pending: list[AlertSpec]) -> None:
        topo = await self.rt.topology.get()
        for e in events:
            if e.decision is Decision.DENIED:
                self._denied(e, pending)
            if e.reason in (Reason.ANTI_PASSBACK, Reason.ANTI_PASSBACK_SOFT):
                self._raise(pending, "anti_passback", e.person_id, e, f"anti-passback violation at gate {e.gate_id}")
            if e.reason is Reason.OUTSIDE_SCHEDULE:
                self._raise(pending, "outside_schedule", e.person_id, e, f"entry outside schedule at gate {e.gate_id}")
            if e.granted and e.direction is Direction.IN and self._at_night(e.at):
                self._night_entry(pending, e)
            zone = topo.zones.get(e.zone_id)
            if (
                e.granted
                and e.direction is Direction.OUT
                and e.person_id is not None
                and zone is not None
                and zone.parent_id is None
                and not await self._entered(e)
            ):
                self._raise(
                    pending,
                    "exit_without_entry",
                    e.person_id,
                    e,
                    f"person {e.person_id} left through gate {e.gate_id} with no entry recorded",
                )

    async def on_door_opened(self, device_id: int, gate_id: int, at: datetime) -> None:
        """A door that opened with no granted decision or remote open just before: tailgating or a fault."""
        since = at - timedelta(seconds=TAILGATE_SECONDS)
        until = at + timedelta(seconds=2)  # clock skew between the device and the server, no more
        if not await GateEvent.filter(
            gate_id=gate_id, decision=Decision.GRANTED, at__gte=since, at__lte=until
        ).exists():
            key = ("door_without_decision", gate_id)
            if self._fresh(key):
                await raise_alert(
                    self.rt,
                    "door_without_decision",
                    f"gate {gate_id} opened with no decision",
                    device_id=device_id,
                    gate_id=gate_id,
                )

    def _night_entry(self, pending: list[AlertSpec], e: GateEventRecord) -> None:
        what = f"entry at night at gate {e.gate_id}"

        def message(n: int) -> str:
            return what if n == 1 else f"{n} entries at night at gate {e.gate_id}"

        if (
            count_in_window("night_entry", e.gate_id, message, NIGHT_WINDOW_SECONDS, NIGHT_COUNT_REWRITE_SECONDS)
            is None
        ):
            payload = {"count": 1, "eventId": e.id, "personId": e.person_id, "reason": e.reason.value}
            pending.append(AlertSpec("night_entry", what, gate_id=e.gate_id, payload=payload, opens_window=True))

    def _at_night(self, at: datetime) -> bool:
        hour = at.astimezone(self.rt.settings.tz).hour
        return hour >= NIGHT_START or hour < NIGHT_END

    async def _entered(self, e: GateEventRecord) -> bool:
        since = e.at - timedelta(hours=24)
        return await GateEvent.filter(
            person_id=e.person_id,
            zone_id=e.zone_id,
            direction=Direction.IN,
            decision=Decision.GRANTED,
            at__gte=since,
            id__lt=e.id,
        ).exists()

    def _denied(self, e: GateEventRecord, pending: list[AlertSpec]) -> None:
        if e.credential_cid:
            recent = self._trim(self._denials_by_credential[e.credential_cid], e.at)
            recent.append(e.at)
            if len(recent) >= CREDENTIAL_DENIALS:
                self._raise(
                    pending,
                    "repeated_denials_credential",
                    e.credential_cid,
                    e,
                    f"{len(recent)} denials of credential {e.credential_cid} within 5 minutes",
                )
        recent = self._trim(self._denials_by_gate[e.gate_id], e.at)
        recent.append(e.at)
        if len(recent) >= GATE_DENIALS:
            self._raise(
                pending,
                "repeated_denials_gate",
                e.gate_id,
                e,
                f"{len(recent)} denials at gate {e.gate_id} within 5 minutes",
            )

    @staticmethod
    def _trim(times: deque[datetime], now: datetime) -> deque[datetime]:
        while times and now - times[0] > WINDOW:
            times.popleft()
        return times

    def _fresh(self, key: tuple[str, object]) -> bool:
        now = time.monotonic()
        if now - self._raised.get(key, -THROTTLE_SECONDS) < THROTTLE_SECONDS:
            return False
        self._raised[key] = now
        return True

    def _raise(self, pending: list[AlertSpec], kind: str, subject: object, e: GateEventRecord, message: str) -> None:
        if self._fresh((kind, subject)):
            payload = {"eventId": e.id, "personId": e.person_id, "reason": e.reason.value}
            pending.append(AlertSpec(kind, message, gate_id=e.gate_id, payload=payload))
