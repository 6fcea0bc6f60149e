"""Faces decided at the gate while the link is down (README "Faces", offline terminals).

The gate keeps an X25519 key in its state directory and sends the public half in `hello`
(`faceKey`); the server encrypts the templates this gate may match to it, inside the signed
snapshot. Here: the key, opening that block, and a 1:N match with the server's rules (threshold,
two different people too close to tell apart: nobody), then the grant checks a pass gets offline.
Plain Python (no numpy): a gate holds at most GATEHOUSE_FACE_OFFLINE_MAX templates.
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gatehouse_gate.schedules import allows

MATCH_DISTANCE = 0.45  # the server's default; its block says its own setting (it re-checks uploads too)
AMBIGUITY_MARGIN = 0.05
ALGORITHM = "X25519-HKDF-SHA256-AES-256-GCM"


def load_or_create_key(state_dir: Path) -> X25519PrivateKey:
    path = state_dir / "face.key"
    if path.exists():
        return X25519PrivateKey.from_private_bytes(path.read_bytes())
    key = X25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the gate's alone
    with os.fdopen(fd, "wb") as out:
        out.write(raw)
    return key


def public_b64(key: X25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def open_templates(key: X25519PrivateKey, snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The people in the (already verified) snapshot's face block, each with `vector` and the
    server's `matchDistance`; none when the block is absent, omitted over the server's limit, or
    does not open."""
    block = snapshot.get("faceTemplates")
    if not isinstance(block, dict) or block.get("algorithm") != ALGORITHM:
        return []
    try:
        ephemeral = base64.b64decode(block["ephemeralKey"])
        own = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        shared = key.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        aes = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + own, info=b"gatehouse face templates v1")
        aad = (
            f"gatehouse-face-templates|device={snapshot['deviceId']}|version={snapshot['version']}"
            f"|issuedAt={snapshot['issuedAt']}"
        ).encode()
        plain = AESGCM(aes.derive(shared)).decrypt(
            base64.b64decode(block["nonce"]), base64.b64decode(block["ciphertext"]), aad
        )
    except (InvalidTag, KeyError, ValueError):
        return []
    body = json.loads(plain)
    people: list[dict[str, Any]] = body["people"]
    threshold = float(body.get("matchDistance") or MATCH_DISTANCE)
    for person in people:
        person["matchDistance"] = threshold
        raw = base64.b64decode(person.pop("template"))
        person["vector"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return people


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def match(people: list[dict[str, Any]], embedding: list[float]) -> tuple[dict[str, Any] | None, float | None, str]:
    """(person, distance, reason): reason "ok", "face_unknown" or "face_ambiguous"."""
    ranked = sorted((math.dist(p["vector"], embedding), i) for i, p in enumerate(people))
    threshold = people[0]["matchDistance"] if people else MATCH_DISTANCE
    if not ranked or ranked[0][0] > threshold:
        return None, ranked[0][0] if ranked else None, "face_unknown"
    best, index = ranked[0]
    if len(ranked) > 1 and ranked[1][0] <= threshold and ranked[1][0] - best < AMBIGUITY_MARGIN:
        if people[ranked[1][1]]["personId"] != people[index]["personId"]:
            return None, best, "face_ambiguous"
    return people[index], best, "ok"


def decide(
    people: list[dict[str, Any]],
    snapshot: dict[str, Any] | None,
    gate_id: str,
    embedding: list[float],
    direction: str,
    now: datetime,
    liveness: bool | None,
) -> tuple[bool, str, dict[str, Any] | None, float | None]:
    """(granted, reason, person, distance), with a pass's offline rules for the grants."""
    until = _time(snapshot.get("validUntil")) if snapshot else None
    if snapshot is None or until is None or now >= until:
        return False, "snapshot_expired", None, None
    if gate_id in snapshot.get("lockedGates", []) or (
        gate_id in snapshot.get("evacuatedGates", []) and direction == "IN"
    ):
        return False, "lockdown", None, None
    if liveness is False:
        return False, "liveness_failed", None, None
    person, distance, reason = match(people, embedding)
    if person is None:
        return False, reason, None, distance
    if direction == "OUT":
        return True, "ok", person, distance
    verdict = "no_access"
    tz = ZoneInfo(snapshot.get("timeZone") or "UTC")
    for grant in person["access"]:
        if gate_id not in grant["gateIds"]:
            continue
        start, end = _time(grant.get("validFrom")), _time(grant.get("validUntil"))
        if (start is not None and now < start) or (end is not None and now >= end):
            continue
        if allows(grant.get("schedule") or [], now, tz):
            return True, "ok", person, distance
        verdict = "outside_schedule"
    return False, verdict, person, distance
