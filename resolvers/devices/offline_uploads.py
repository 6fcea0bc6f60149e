"""Events a gate decided while its link was down, uploaded on reconnect.

Each carries the device's sequence number; (device, seq) is stored once, however often
the batch arrives. The events are marked `offline` and go through the one gate event writer
(resolvers/scan/writer.py) like any other: stored, then presence, then published to guards.

The server does not take the gate's word for a passage. Each event is checked again:
1. its time lies within the validity of a snapshot the device was given (from its issue,
   less `CLOCK_TOLERANCE`, to its end; never in the future) — else `offline_mismatch`,
   stored at the upload's time with the claimed time in its payload;
2. the token parses, its credential exists, its signature verifies with the credential's
   key, and its step is the one valid at the claimed time (± the online skew) — else
   `malformed`, `unknown_credential`, `bad_signature` or `offline_mismatch`;
3. a passage uses its (credential, step) up: one already used — by an online scan, another
   upload, another gate — makes it `replayed`. The shared scan state is claimed as an online
   scan claims it (so an online scan after the upload is refused too), and the event carries
   the step, UNIQUE with the credential in the database (across server processes, for good).
A granted claim that fails any of these is stored as a DENIED attempt that names nobody (unless
it is a genuine token's replay), never moves presence, and raises one device alert per batch:
the gate opened its door for it. A claim the gate itself denied keeps its reason.

A face the terminal matched offline (method FACE: the person, the distance, the liveness verdict)
carries no token to verify: it is held to the same time rule, its person must exist, and a passage
must have a distance within the server's GATEHOUSE_FACE_MATCH_DISTANCE and no failed liveness —
else it is stored refused (`face_unknown`, `liveness_failed`, `offline_mismatch`) and alerted as
above. It is stored once per (device, seq) like any upload, with method FACE, the distance and
the liveness verdict.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gatehouse_gate import passtoken

from realtime.messages import PersonRef
from realtime.scan_state import ScanStateLost
from resolvers.access.topology import Topology
from resolvers.alerts.raising import raise_alert
from resolvers.core import clock
from resolvers.core.errors import is_id
from resolvers.core.models import Credential, DeviceSnapshot, Direction, EntryMethod, GateEvent, Person
from resolvers.runtime import Runtime
from resolvers.scan import writer
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.presence import start_recovery
from resolvers.scan.reasons import Reason

log = logging.getLogger("gatehouse.offline")
MAX_BATCH = 1000
# A gate's clock is set from the server's at each welcome and may drift while offline.
CLOCK_TOLERANCE = timedelta(minutes=15)
FUTURE_TOLERANCE = timedelta(minutes=5)
ALERT_KIND = "offline_unverified"


class BadBatch(ValueError):
    pass


@dataclass(frozen=True)
class OfflineEvent:
    seq: int
    gate_id: int
    at: datetime | None  # None: a time the server cannot even represent in UTC (refused)
    credential: str
    granted: bool
    reason: Reason
    direction: Direction
    ref: str | None = None  # the online scan's ref, when the gate gave up waiting for its answer
    at_text: str = ""  # as the gate sent it
    method: EntryMethod = EntryMethod.QR
    person_id: int | None = None  # FACE: the person the terminal matched
    distance: float | None = None  # FACE: the match distance the terminal computed
    liveness: bool | None = None  # FACE: the terminal's verdict; None: it did not check


@dataclass(frozen=True)
class _Owner:
    person_id: int
    name: str
    public_key: bytes
    period: int


def parse_batch(raw: object, device_gates: frozenset[int]) -> list[OfflineEvent]:
    if not isinstance(raw, list) or not raw:
        raise BadBatch("events must be a non-empty list")
    if len(raw) > MAX_BATCH:
        raise BadBatch(f"at most {MAX_BATCH} events per frame")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadBatch("each event is an object")
        seq, gate, at, credential = item.get("seq"), item.get("gateId"), item.get("at"), item.get("credential")
        granted, reason, direction = item.get("granted"), item.get("reason"), item.get("direction")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**62:
            raise BadBatch("seq must be a whole number from 1 to 2^62")
        if not isinstance(gate, str) or not is_id(gate) or int(gate) not in device_gates:
            raise BadBatch(f"event {seq}: gate is not one of this device's")
        if not isinstance(granted, bool) or not isinstance(reason, str) or not 0 < len(reason) <= 32:
            raise BadBatch(f"event {seq}: granted (boolean) and reason are required")
        known = Reason.parse(reason)
        if known is None or known.is_alarm:
            raise BadBatch(f"event {seq}: {reason[:32]!r} is not a scan decision's reason")
        if known.grants != granted:
            raise BadBatch(f"event {seq}: reason {known.value} does not {'grant' if granted else 'deny'}")
        if direction not in ("IN", "OUT") or not isinstance(credential, str) or len(credential) > 512:
            raise BadBatch(f"event {seq}: direction IN/OUT and the credential text are required")
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00")) if isinstance(at, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise BadBatch(f"event {seq}: at must be an ISO 8601 time with an offset")
        # A well-formed time outside what the server accepts (the future, 1970, year 1) is not a bad
        # frame: the event is stored refused (ingest), so the device may drop it rather than retry forever.
        utc: datetime | None
        try:
            utc = when.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+05:00 lies before year 1 in UTC
            utc = None
        ref = item.get("ref")
        if ref is not None and (not isinstance(ref, (str, int)) or isinstance(ref, bool) or len(str(ref)) > 128):
            raise BadBatch(f"event {seq}: ref must be the scan's ref")
        face = _face_fields(seq, item)
        out.append(
            OfflineEvent(
                seq,
                int(gate),
                utc,
                credential,
                granted,
                known,
                Direction(direction),
                str(ref) if ref is not None else None,
                str(at)[:64],
                *face,
            )
        )
    return out


def _face_fields(seq: int, item: dict[str, Any]) -> tuple[EntryMethod, int | None, float | None, bool | None]:
    method = item.get("method", "QR")
    if method == "QR":
        return EntryMethod.QR, None, None, None
    if method != "FACE":
        raise BadBatch(f"event {seq}: method must be QR or FACE")
    person, distance, liveness = item.get("personId"), item.get("distance"), item.get("liveness")
    if person is not None and (not isinstance(person, str) or not is_id(person) or len(person) > 18):
        raise BadBatch(f"event {seq}: personId must be a person's id")
    if item.get("granted") and person is None:
        raise BadBatch(f"event {seq}: a FACE passage names the personId the terminal matched")
    if distance is not None and (
        not isinstance(distance, (int, float)) or isinstance(distance, bool) or not 0 <= distance <= 4
    ):
        raise BadBatch(f"event {seq}: distance must be a number from 0 to 4")
    if item.get("granted") and (distance is None or not math.isfinite(distance)):
        raise BadBatch(f"event {seq}: a FACE passage carries the match distance")
    if liveness is not None and not isinstance(liveness, bool):
        raise BadBatch(f"event {seq}: liveness must be true or false")
    return (
        EntryMethod.FACE,
        int(person) if person is not None else None,
        float(distance) if distance is not None else None,
        liveness,
    )


async def ingest(rt: Runtime, device_id: int, events: list[OfflineEvent]) -> tuple[int, int]:
    """Store what is new, each as the server verified it; returns (stored, already stored)."""
    topo = await rt.topology.get()
    seqs = [e.seq for e in events]
    rows = await GateEvent.filter(device_id=device_id, device_seq__in=seqs).values("device_seq")
    known: set[int] = {r["device_seq"] for r in rows}
    # A scan the server did decide online (its answer came too late for the gate) is not stored twice.
    refs = [e.ref for e in events if e.ref]
    decided = set()
    if refs:
        decided = {
            r["device_ref"]
            for r in await GateEvent.filter(device_id=device_id, device_ref__in=refs, device_seq=None).values(
                "device_ref"
            )
        }
    fresh = [e for e in events if e.seq not in known and (e.ref is None or e.ref not in decided)]
    fresh = list({e.seq: e for e in fresh}.values())  # one per seq even if a batch repeats one
    if not fresh:
        return 0, len(events)
    check = _Checker(rt, device_id, topo, clock.now())
    await check.load(fresh)
    records = [await check.verdict(e) for e in fresh]
    stored = await writer.record_uploaded(rt, records)
    replays = await _replays_lost_in_a_race(rt, device_id, records, stored)
    stored += replays
    check.unverified += [(r.device_seq or 0, Reason.REPLAYED.value) for r in replays]
    if check.unverified:
        await _alert(rt, device_id, check.unverified)
    return len(stored), len(events) - len(stored)


class _Checker:
    """What the server holds against one batch: the device's snapshots, the tokens' owners and
    the (credential, step)s already used."""

    def __init__(self, rt: Runtime, device_id: int, topo: Topology, now: datetime) -> None:
        self.rt, self.device_id, self.topo, self.now = rt, device_id, topo, now
        self.windows: list[tuple[datetime, datetime]] = []
        self.owners: dict[str, _Owner] = {}
        self.used: set[tuple[str, int]] = set()
        self.unverified: list[tuple[int, str]] = []  # (seq, why) of passages the gate granted wrongly
        self.people: dict[int, str] = {}  # FACE events' people: id -> name

    async def load(self, events: list[OfflineEvent]) -> None:
        self.windows = [
            (r["issued_at"], r["valid_until"])
            for r in await DeviceSnapshot.filter(device_id=self.device_id).values("issued_at", "valid_until")
        ]
        faces = {e.person_id for e in events if e.method is EntryMethod.FACE and e.person_id is not None}
        if faces:
            self.people = dict(await Person.filter(id__in=faces).values_list("id", "display_name"))
        parsed = [p for e in events if e.method is EntryMethod.QR and (p := passtoken.parse(e.credential)) is not None]
        rows = await Credential.filter(cid__in={p.cid for p in parsed}).values(
            "cid", "person_id", "person__display_name", "public_key", "period"
        )
        self.owners = {
            r["cid"]: _Owner(r["person_id"], r["person__display_name"], bytes(r["public_key"]), r["period"])
            for r in rows
        }
        if parsed:
            uses = await GateEvent.filter(
                credential_cid__in={p.cid for p in parsed}, credential_step__in={p.step for p in parsed}
            ).values("credential_cid", "credential_step")
            self.used = {(u["credential_cid"], int(u["credential_step"])) for u in uses}

    def in_time(self, e: OfflineEvent) -> bool:
        """Within a snapshot the device held: not before its issue (less the clock tolerance), not
        after its end for a passage (a gate refuses `snapshot_expired` after it), never in the future."""
        at = e.at
        if at is None or at > self.now + FUTURE_TOLERANCE:
            return False
        return any(
            issued - CLOCK_TOLERANCE <= at and (not e.granted or at < until + CLOCK_TOLERANCE)
            for issued, until in self.windows
        )

    async def verdict(self, e: OfflineEvent) -> GateEventRecord:
        if e.method is EntryMethod.FACE:
            return self.face_verdict(e)
        gate = self.topo.gates[e.gate_id]
        parsed = passtoken.parse(e.credential)
        cid = parsed.cid if parsed is not None else None
        payload: dict[str, Any] = {"uploadedAt": self.now.isoformat(), "verified": False}
        base: dict[str, Any] = {
            "gate": gate,
            "method": EntryMethod.QR,
            "direction": e.direction,
            "device_id": self.device_id,
            "credential_cid": cid,
            "offline": True,
            "device_seq": e.seq,
            "device_ref": e.ref,
        }
        if not self.in_time(e):
            # The claimed time cannot be placed: kept in the payload, the event is dated by its upload.
            payload["claimed"] = {"at": e.at_text, "granted": e.granted, "reason": e.reason.value}
            if e.granted:
                self.unverified.append((e.seq, "time outside the device's snapshots"))
            return GateEventRecord(at=self.now, reason=Reason.OFFLINE_MISMATCH, payload=payload, **base)
        assert e.at is not None
        owner = self.owners.get(parsed.cid) if parsed is not None else None
        failure = _failure(parsed, owner, e.at)
        if failure is not None or parsed is None or owner is None:
            reason = e.reason
            if e.granted:
                # The gate opened for a token the server cannot confirm: a refused attempt, never a passage.
                reason = failure or Reason.MALFORMED
                payload["claimed"] = {"granted": True, "reason": e.reason.value}
                self.unverified.append((e.seq, reason.value))
            return GateEventRecord(at=e.at, reason=reason, payload=payload, **base)
        person = PersonRef(owner.person_id, owner.name)
        payload["verified"] = True
        if not e.granted:
            # The gate refused it: stored as it said, naming the person only past the signature check.
            return GateEventRecord(
                at=e.at, reason=e.reason, person=person if e.reason.verified else None, payload=payload, **base
            )
        if await self._used(parsed.cid, parsed.step, owner.period, e):
            payload["claimed"] = {"granted": True, "reason": e.reason.value}
            self.unverified.append((e.seq, Reason.REPLAYED.value))
            return GateEventRecord(at=e.at, reason=Reason.REPLAYED, person=person, payload=payload, **base)
        payload["step"] = parsed.step
        return GateEventRecord(
            at=e.at, reason=e.reason, person=person, payload=payload, credential_step=parsed.step, **base
        )

    def face_verdict(self, e: OfflineEvent) -> GateEventRecord:
        """A face the terminal matched alone: no token to verify, so the time, the person and the
        terminal's own figures are held to the server's rules."""
        payload: dict[str, Any] = {"uploadedAt": self.now.isoformat(), "verified": False}
        base: dict[str, Any] = {
            "gate": self.topo.gates[e.gate_id],
            "method": EntryMethod.FACE,
            "direction": e.direction,
            "device_id": self.device_id,
            "offline": True,
            "device_seq": e.seq,
            "device_ref": e.ref,
            "match_distance": e.distance,
            "liveness": e.liveness,
        }
        claimed = {"granted": e.granted, "reason": e.reason.value}
        if not self.in_time(e):
            payload["claimed"] = {"at": e.at_text, **claimed}
            if e.granted:
                self.unverified.append((e.seq, "time outside the device's snapshots"))
            return GateEventRecord(at=self.now, reason=Reason.OFFLINE_MISMATCH, payload=payload, **base)
        assert e.at is not None
        name = self.people.get(e.person_id) if e.person_id is not None else None
        person = PersonRef(e.person_id, name) if e.person_id is not None and name is not None else None
        if not e.granted:
            return GateEventRecord(
                at=e.at, reason=e.reason, person=person if e.reason.verified else None, payload=payload, **base
            )
        failure = None
        if person is None:
            failure = Reason.FACE_UNKNOWN
        elif e.liveness is False:
            failure = Reason.LIVENESS_FAILED
        elif e.distance is None or e.distance > self.rt.settings.face_match_distance:
            failure = Reason.FACE_UNKNOWN
        if failure is not None:
            payload["claimed"] = claimed
            self.unverified.append((e.seq, failure.value))
            return GateEventRecord(at=e.at, reason=failure, payload=payload, **base)
        payload["verified"] = True
        return GateEventRecord(at=e.at, reason=e.reason, person=person, payload=payload, **base)

    async def _used(self, cid: str, step: int, period: int, e: OfflineEvent) -> bool:
        """Whether (cid, step) was used already; if not, this upload claims it."""
        if (cid, step) in self.used:
            return True
        self.used.add((cid, step))
        # The shared claim an online scan makes: a scan of this token after the upload is `replayed`.
        # Named after this upload, so the device's resend of the same event (after a failure
        # before it was stored) is not taken for a second use.
        ttl = period * (2 * passtoken.SKEW_STEPS + 2) + 5
        mine = f"upload#{e.seq}"
        try:
            claim = await self.rt.state.claim_token(cid, step, e.gate_id, ttl, self.device_id, mine)
        except ScanStateLost:
            start_recovery(self.rt.state, self.rt.topology)
            raise
        return not claim.fresh and not (claim.device_id == self.device_id and claim.ref == mine)


def _failure(parsed: passtoken.ParsedToken | None, owner: _Owner | None, at: datetime) -> Reason | None:
    """Why the token is not proof of a passage at `at`: checked again here, whatever the gate says."""
    if parsed is None:
        return Reason.MALFORMED
    if owner is None:
        return Reason.UNKNOWN_CREDENTIAL
    if not passtoken.verify_signature(parsed, owner.public_key):
        return Reason.BAD_SIGNATURE
    if passtoken.step_window(parsed.step, at.timestamp(), owner.period) is not None:
        return Reason.OFFLINE_MISMATCH  # a genuine token, but not one shown at the time claimed
    return None


async def _replays_lost_in_a_race(
    rt: Runtime, device_id: int, records: list[GateEventRecord], stored: list[GateEventRecord]
) -> list[GateEventRecord]:
    """A passage the database refused for its (credential, step) — another process stored a use
    of that token meanwhile — is stored as the replay it is (one refused for its (device, seq)
    was simply stored already)."""
    kept = {e.device_seq for e in stored}
    lost = [r for r in records if r.credential_step is not None and r.device_seq not in kept]
    if not lost:
        return []
    there = set(
        await GateEvent.filter(device_id=device_id, device_seq__in=[r.device_seq for r in lost]).values_list(
            "device_seq", flat=True
        )
    )
    again = [
        GateEventRecord(
            at=r.at,
            gate=r.gate,
            reason=Reason.REPLAYED,
            method=r.method,
            direction=r.direction,
            person=r.person,
            device_id=r.device_id,
            credential_cid=r.credential_cid,
            offline=True,
            device_seq=r.device_seq,
            device_ref=r.device_ref,
            payload={**r.payload, "claimed": {"granted": True, "reason": r.reason.value}},
        )
        for r in lost
        if r.device_seq not in there
    ]
    return await writer.record_uploaded(rt, again) if again else []


async def _alert(rt: Runtime, device_id: int, unverified: list[tuple[int, str]]) -> None:
    count = len(unverified)
    reasons = sorted({why for _, why in unverified})
    log.warning("device %s uploaded %d offline passages the server refused: %s", device_id, count, reasons)
    await raise_alert(
        rt,
        ALERT_KIND,
        f"device {device_id} opened its door offline for {count} pass"
        + ("es" if count != 1 else "")
        + f" the server could not verify ({', '.join(reasons)}): stored as refused",
        device_id=device_id,
        payload={"count": count, "seqs": [seq for seq, _ in unverified[:100]], "reasons": reasons},
    )
