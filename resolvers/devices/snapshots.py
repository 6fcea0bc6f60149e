"""Signed offline snapshots: what a gate needs to decide alone while its link is down.

For each device: its gates, every credential that may pass one of them (with the
public key, the grant windows and schedules), the credentials revoked lately, and
the lockdowns in force; issued at, valid 24 h; signed with the server's Ed25519 key
(derived from the master key, so every worker signs with the same key). Each issue is
recorded (`device_snapshot`): uploaded offline events must fall within one's validity.

A face terminal that decides offline and sent an X25519 key in `hello` also gets the templates
of the people its snapshot lists, encrypted to that key (`faceTemplates`,
resolvers/faces/offline_block.py), or, past GATEHOUSE_FACE_OFFLINE_MAX of them, none.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tortoise.expressions import Q

from resolvers.access.grant_index import SERVING
from resolvers.core import clock
from resolvers.core.models import (
    Credential,
    CredentialKind,
    CredentialStatus,
    Device,
    DeviceSnapshot,
    Grant,
    Person,
    PersonKind,
    PersonStatus,
    Visit,
    VisitStatus,
    VisitZone,
)
from resolvers.faces import offline_block, templates
from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.devices")

VALID_FOR = timedelta(hours=24)
# How long after a snapshot's validity ends the events decided on it may still be uploaded.
KEPT_AFTER_VALIDITY = timedelta(days=7)
VERSION = 1


def signing_key(rt: Runtime) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(rt.keys.snapshot_seed)


def public_key_b64(rt: Runtime) -> str:
    return _public_key_b64(rt.keys.snapshot_seed)


@functools.lru_cache(maxsize=4)
def _public_key_b64(seed: bytes) -> str:
    # In every welcome: derived once per key, not once per hello (a campus reconnecting is 10,000).
    key = Ed25519PrivateKey.from_private_bytes(seed)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def canonical(snapshot: dict[str, Any]) -> bytes:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def build(rt: Runtime, device_id: int, face_key: bytes | None = None) -> dict[str, Any]:
    """The snapshot; with `face_key` (a face terminal's X25519 key) its templates block too."""
    topo = await rt.topology.get()
    now = clock.now()
    gate_ids = sorted(topo.device_gates.get(device_id, ()))
    gates = [topo.gates[g] for g in gate_ids if g in topo.gates]
    # Which of this device's gates a grant on zone Z opens.
    opening: dict[int, list[int]] = {}
    for gate in gates:
        for zone_id in topo.zones_opening(gate.zone_id):
            opening.setdefault(zone_id, []).append(gate.id)

    live = (
        await Grant.filter(zone_id__in=list(opening), revoked_at=None)
        .filter(Q(valid_until=None) | Q(valid_until__gt=now))
        .values("zone_id", "person_id", "department_id", "position", "valid_from", "valid_until", "schedule")
    )
    employees = await Person.filter(kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE).values(
        "id", "department_id", "position", "display_name"
    )
    access: dict[int, list[dict[str, Any]]] = {}
    names = {p["id"]: p["display_name"] for p in employees}
    for grant in live:
        for person in employees:
            covered = (
                grant["person_id"] == person["id"]
                or (grant["department_id"] is not None and grant["department_id"] == person["department_id"])
                or (grant["position"] and grant["position"].lower() == (person["position"] or "").lower())
            )
            if covered:
                access.setdefault(person["id"], []).append(
                    {
                        "gateIds": [str(g) for g in opening[grant["zone_id"]]],
                        "validFrom": _iso(grant["valid_from"]),
                        "validUntil": _iso(grant["valid_until"]),
                        "schedule": grant["schedule"] or [],
                    }
                )
    # Checked-in visitors who need no escort: the visit's zones until expectedEnd.
    for visit in await Visit.filter(status=VisitStatus.CHECKED_IN, escorted=False, expected_end__gt=now):
        if visit.visitor_id is None:
            continue
        zones = [r["zone_id"] for r in await VisitZone.filter(visit_id=visit.id).values("zone_id")]
        gate_list = sorted({g for z in zones for g in _gates_opened_by(topo, z, gates)})
        if gate_list:
            names[visit.visitor_id] = visit.visitor_name
            access.setdefault(visit.visitor_id, []).append(
                {
                    "gateIds": [str(g) for g in gate_list],
                    "validFrom": None,
                    "validUntil": visit.expected_end.isoformat(),
                    "schedule": [],
                }
            )

    # A device not in service opens nothing, offline either (contracts/README.md): its snapshot
    # (it still needs one to be commissioned) names no credential, so it admits nobody alone.
    # A status change bumps the grants and so sends every connected device a fresh snapshot.
    if not await Device.filter(id=device_id, status__in=SERVING).exists():
        access = {}
    credentials = []
    for cred in await Credential.filter(
        person_id__in=list(access),
        status=CredentialStatus.ACTIVE,
        kind__in=[CredentialKind.PHONE, CredentialKind.CUSTODIAL],
    ).order_by("id"):
        credentials.append(
            {
                "cid": cred.cid,
                "publicKey": base64.b64encode(bytes(cred.public_key)).decode(),
                "period": cred.period,
                "personId": str(cred.person_id),
                "name": names.get(cred.person_id, ""),
                "validUntil": _iso(cred.valid_until),
                "access": access[cred.person_id],
            }
        )
    revoked = await Credential.filter(
        status__in=[CredentialStatus.REVOKED, CredentialStatus.SUPERSEDED], ended_at__gte=now - VALID_FOR
    ).values_list("cid", flat=True)
    locked = [str(g.id) for g in gates if topo.lockdown_mode(g) == "LOCKDOWN"]
    evacuated = [str(g.id) for g in gates if topo.lockdown_mode(g) == "EVACUATION"]
    snapshot: dict[str, Any] = {
        "version": VERSION,
        "deviceId": str(device_id),
        "issuedAt": now.isoformat(),
        "validUntil": (now + VALID_FOR).isoformat(),
        "timeZone": rt.settings.time_zone,
        "gates": [{"id": str(g.id), "zoneId": str(g.zone_id), "direction": g.direction.value} for g in gates],
        "credentials": credentials,
        "revoked": sorted(str(c) for c in revoked),
        "lockedGates": locked,
        "evacuatedGates": evacuated,
    }
    if face_key is not None:
        people = {p: (names.get(p, ""), grants) for p, grants in access.items()}
        snapshot["faceTemplates"] = await _face_block(rt, device_id, face_key, people, snapshot)
    return snapshot


async def _face_block(
    rt: Runtime,
    device_id: int,
    face_key: bytes,
    people: dict[int, tuple[str, list[dict[str, Any]]]],
    snapshot: dict[str, Any],
) -> dict[str, Any]:
    """The templates of the people who may pass one of this device's gates (those the snapshot's
    grants cover, with or without a pass; offline an exit lets out only whom the snapshot knows,
    as for passes), with their access, encrypted to the terminal's key. Past the limit none: a
    frame of tens of megabytes would be refused by the terminal and slow every push; the terminal
    then sends faces online only."""
    gallery = await templates.gallery(rt)
    chosen = [(int(p), *people[int(p)], gallery.matrix[i]) for i, p in enumerate(gallery.people) if int(p) in people]
    limit = rt.settings.face_offline_max
    if len(chosen) > limit:
        log.warning(
            "device %s may match %d face templates offline, over GATEHOUSE_FACE_OFFLINE_MAX=%d: none sent",
            device_id,
            len(chosen),
            limit,
        )
        return {"omitted": "over_limit", "count": len(chosen), "limit": limit}
    plaintext, count = offline_block.pack(chosen, rt.settings.face_match_distance)
    aad = offline_block.associated_data(device_id, snapshot["version"], snapshot["issuedAt"])
    return offline_block.seal(face_key, plaintext, count, aad)


def _gates_opened_by(topo: Any, zone_id: int, gates: list[Any]) -> list[int]:
    opened = topo.zones_opening(zone_id)
    return [g.id for g in gates if g.zone_id in opened]


async def signed_frame(rt: Runtime, device_id: int, face_key: bytes | None = None) -> dict[str, Any]:
    snapshot = await build(rt, device_id, face_key)
    await _remember_issued(device_id, snapshot)
    signature = signing_key(rt).sign(canonical(snapshot))
    return {"type": "snapshot", "snapshot": snapshot, "signature": base64.b64encode(signature).decode()}


async def _remember_issued(device_id: int, snapshot: dict[str, Any]) -> None:
    """Kept so an upload can be held to the validity of the snapshots the device was given
    (resolvers/devices/offline_uploads.py); rows long past their validity are dropped."""
    issued = datetime.fromisoformat(snapshot["issuedAt"])
    until = datetime.fromisoformat(snapshot["validUntil"])
    await DeviceSnapshot.filter(device_id=device_id, valid_until__lt=issued - KEPT_AFTER_VALIDITY).delete()
    await DeviceSnapshot.create(device_id=device_id, issued_at=issued, valid_until=until)
