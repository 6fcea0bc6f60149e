"""Deciding at the gate without the server, from a signed snapshot (resolvers/devices/snapshots.py).

Used by the reference gate agent; the rules mirror the server's for what a snapshot can
know: the token checks in the contract's order, the gate's own replay cache, grants
with their windows and schedules, revocations and lockdowns. Anti-passback, escorts and
badges need the server, so escorted visitors and badges are not in snapshots (denied).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gatehouse_gate import passtoken
from gatehouse_gate.schedules import allows


class BadSnapshot(ValueError):
    pass


def verify_snapshot(frame: dict[str, Any], server_key_b64: str) -> dict[str, Any]:
    snapshot, signature = frame.get("snapshot"), frame.get("signature")
    if not isinstance(snapshot, dict) or not isinstance(signature, str):
        raise BadSnapshot("snapshot frame without snapshot or signature")
    body = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(server_key_b64)).verify(base64.b64decode(signature), body)
    except (InvalidSignature, ValueError) as exc:
        raise BadSnapshot("snapshot signature does not verify") from exc
    return snapshot


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class OfflineDecider:
    snapshot: dict[str, Any]
    revoked: set[str] = field(default_factory=set)
    used: dict[tuple[str, int], str] = field(default_factory=dict)  # (cid, step) → gate id
    locked: set[str] = field(default_factory=set)
    evacuated: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.replace(self.snapshot)

    def replace(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self.credentials = {c["cid"]: c for c in snapshot.get("credentials", [])}
        self.revoked |= set(snapshot.get("revoked", []))
        self.locked = set(snapshot.get("lockedGates", []))
        self.evacuated = set(snapshot.get("evacuatedGates", []))
        self.tz = ZoneInfo(snapshot.get("timeZone") or "UTC")
        self.valid_until = _time(snapshot.get("validUntil"))

    def decide(self, gate_id: str, token: str, direction: str, now: datetime) -> tuple[bool, str, str | None]:
        """(granted, reason, person name)."""
        if self.valid_until is None or now >= self.valid_until:
            return False, "snapshot_expired", None  # fail closed
        if gate_id in self.locked or (gate_id in self.evacuated and direction == "IN"):
            return False, "lockdown", None  # during an evacuation nobody enters
        parsed = passtoken.parse(token)
        if parsed is None:
            return False, "malformed", None
        cred = self.credentials.get(parsed.cid)
        if cred is None and parsed.cid not in self.revoked:
            return False, "unknown_credential", None
        if cred is None or parsed.cid in self.revoked:
            return False, "revoked", None
        until = _time(cred.get("validUntil"))
        if until is not None and now >= until:
            return False, "revoked", None
        window = passtoken.step_window(parsed.step, now.timestamp(), cred["period"])
        if window is not None:
            return False, window, None
        if not passtoken.verify_signature(parsed, base64.b64decode(cred["publicKey"])):
            return False, "bad_signature", None
        # Offline there is no earlier decision to repeat: a second use anywhere is a replay.
        if (parsed.cid, parsed.step) in self.used:
            return False, "replayed", cred["name"]
        self.used[(parsed.cid, parsed.step)] = gate_id
        if direction == "OUT":
            return True, "ok", cred["name"]
        verdict = "no_access"
        for grant in cred["access"]:
            if gate_id not in grant["gateIds"]:
                continue
            start, end = _time(grant.get("validFrom")), _time(grant.get("validUntil"))
            if (start is not None and now < start) or (end is not None and now >= end):
                continue
            if allows(grant.get("schedule") or [], now, self.tz):
                return True, "ok", cred["name"]
            verdict = "outside_schedule"
        return False, verdict, cred["name"]

    def forget_old_steps(self, now: datetime) -> None:
        oldest = int(now.timestamp() // passtoken.DEFAULT_PERIOD) - 4
        for key in [k for k in self.used if k[1] < oldest]:
            del self.used[key]
