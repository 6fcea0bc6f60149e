"""Enrolled face templates: consent, enrolment, deletion, and the decrypted set a gate matches.

A template is the 128-d embedding as float64 bytes, sealed with AES-GCM under the face key
(`Keys.face`, a stable key of its own kept wrapped in the database, so `gatehouse rotate-key`
re-wraps it and nothing need be re-sealed) with its row id and person bound in as associated data:
a sealed template copied onto another row or person does not open. Nothing here returns a
template to an API or writes one to a log.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from realtime.messages import FacesChanged
from resolvers.core import clock
from resolvers.core.errors import ErrorCode, RateLimited, UserError, not_found, parse_id
from resolvers.core.models import FaceConsent, FaceTemplate, Person, PersonKind, PersonStatus, Visit, VisitStatus
from resolvers.core.settings import Settings
from resolvers.faces import consent
from resolvers.faces.encoding import MAX_PHOTO_BYTES, FacesBusy, encoder, packages_present
from resolvers.faces.matcher import Gallery, gallery_cache
from resolvers.people import audit
from resolvers.runtime import Runtime

_NONCE = 12
VIA_SELF = "SELF"
VIA_HR = "HR"

# Enrolment costs ~130 ms of CPU a photo: a person may try a few times (a bad selfie), a worker
# takes a steady trickle; both per worker process.
PER_PERSON = (5, 600.0)  # attempts, seconds
GLOBAL = (60, 60.0)

PROBLEMS = {
    "not_image": "the photo is not a JPEG or PNG image",
    "no_face": "no face was found in the photo: take it facing the camera, in good light",
    "several_faces": "more than one face is in the photo: only the person enrolling may be in it",
}


def unavailable_reason(settings: Settings) -> str | None:
    """Why faces cannot be used on this server, or None when they can."""
    if settings.faces == "off":
        return "face recognition is turned off on this server (GATEHOUSE_FACES=off)"
    if not packages_present():
        return 'face recognition is not installed on this server (README "Faces": make serve installs it)'
    return None


def _binding(row_id: int, person_id: int, column: str) -> bytes:
    return f"face_template.{column}:{row_id}:{person_id}".encode()


def seal(key: bytes, row_id: int, person_id: int, data: bytes, column: str = "sealed") -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, _binding(row_id, person_id, column))


def open_sealed(key: bytes, row_id: int, person_id: int, sealed: bytes, column: str = "sealed") -> bytes:
    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], _binding(row_id, person_id, column))


def embedding_bytes(vector: tuple[float, ...] | npt.NDArray[np.float64]) -> bytes:
    return np.asarray(vector, dtype="<f8").tobytes()


@dataclass(frozen=True)
class FaceStatus:
    enrolled: bool
    consent_version: str | None
    consented_at: datetime | None


async def status(person_id: int) -> FaceStatus:
    template = await FaceTemplate.get_or_none(person_id=person_id)
    if template is None:
        return FaceStatus(False, None, None)
    given = await FaceConsent.get_or_none(id=template.consent_id)
    return FaceStatus(True, given.text_version if given else None, given.given_at if given else None)


class _Window:
    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.times: deque[float] = deque()

    def take(self, now: float) -> float:
        """0 when allowed (and counted), else seconds to wait."""
        while self.times and now - self.times[0] >= self.seconds:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return self.seconds - (now - self.times[0])
        self.times.append(now)
        return 0.0


_per_person: dict[int, _Window] = {}
_global = _Window(*GLOBAL)


def _rate_limit(person_id: int) -> None:
    now = time.monotonic()
    window = _per_person.setdefault(person_id, _Window(*PER_PERSON))
    wait = window.take(now)
    if wait:
        raise RateLimited("too many face enrolments for this person: try again later", int(wait) + 1)
    wait = _global.take(now)
    if wait:
        window.times.pop()
        raise RateLimited("the server is enrolling many faces: try again in a minute", int(wait) + 1)
    if len(_per_person) > 10_000:
        _per_person.clear()


def _decode_photo(photo: str) -> bytes:
    if len(photo) > (MAX_PHOTO_BYTES * 4) // 3 + 8:
        raise UserError(ErrorCode.INVALID, "the photo is larger than 512 KiB", "photo")
    try:
        data = base64.b64decode(photo, validate=True)
    except (binascii.Error, ValueError):
        raise UserError(ErrorCode.INVALID, "the photo is not standard base64", "photo") from None
    if len(data) > MAX_PHOTO_BYTES:
        raise UserError(ErrorCode.INVALID, "the photo is larger than 512 KiB", "photo")
    if not data:
        raise UserError(ErrorCode.INVALID, "the photo is empty", "photo")
    return data


async def enrol(
    rt: Runtime, person_id: int, photo: str, consent_version: str, via: str, by: int | None = None
) -> FaceStatus:
    """Record the consent and keep the template of the one face in `photo`; an earlier template
    of the person is replaced (its consent ends now). Refusals change nothing."""
    why = unavailable_reason(rt.settings)
    if why is not None:
        raise UserError(ErrorCode.UNAVAILABLE, why)
    consent.check_version(consent_version)
    data = _decode_photo(photo)
    person = await Person.get_or_none(id=person_id)
    if person is None or person.status is not PersonStatus.ACTIVE or person.erased_at is not None:
        raise not_found("active person", "personId")
    _rate_limit(person_id)
    try:
        encoded = await encoder.encode(data)
    except FacesBusy as exc:
        raise UserError(ErrorCode.UNAVAILABLE, str(exc)) from None
    if encoded.problem is not None:
        raise UserError(ErrorCode.INVALID, PROBLEMS[encoded.problem], "photo")
    now = clock.now()
    try:
        await _store(rt, person_id, consent_version, via, by, encoded.embedding, data, now)
    except IntegrityError:  # the same person enrolled twice at once: one of them is kept
        raise UserError(ErrorCode.CONFLICT, "this face is being enrolled already: try again", "photo") from None
    audit.note_change("person", person_id, {"face": False}, {"face": True, "consentVia": via})
    _changed(rt)
    return FaceStatus(True, consent_version, now)


async def _store(
    rt: Runtime,
    person_id: int,
    consent_version: str,
    via: str,
    by: int | None,
    embedding: tuple[float, ...],
    data: bytes,
    now: datetime,
) -> None:
    key = rt.keys.face
    async with in_transaction():
        await FaceConsent.filter(person_id=person_id, withdrawn_at=None).update(withdrawn_at=now)
        await FaceTemplate.filter(person_id=person_id).delete()
        given = await FaceConsent.create(
            person_id=person_id, given_at=now, text_version=consent_version, given_via=via, given_by_id=by
        )
        row = await FaceTemplate.create(person_id=person_id, sealed=b"", consent_id=given.id, created_at=now)
        row.sealed = seal(key, row.id, person_id, embedding_bytes(embedding))
        fields = ["sealed"]
        if rt.settings.face_keep_photo:
            row.photo_sealed = seal(key, row.id, person_id, data, "photo_sealed")
            fields.append("photo_sealed")
        await row.save(update_fields=fields)


async def delete_for_person(rt: Runtime, person_id: int) -> bool:
    """Delete the person's template at once and end their consent (kept as history). True when
    there was a template."""
    now = clock.now()
    async with in_transaction():
        deleted = await FaceTemplate.filter(person_id=person_id).delete()
        await FaceConsent.filter(person_id=person_id, withdrawn_at=None).update(withdrawn_at=now)
    if deleted:
        audit.note_change("person", person_id, {"face": True}, {"face": False})
        _changed(rt)
    return bool(deleted)


async def purge_visitors_between_visits(rt: Runtime) -> int:
    """Templates of visitors none of whose visits is still open (one expired unvisited, say): a
    face pass lasts as long as a visit. Check-out, ending and rejection delete at once; this
    catches the rest in the upkeep round."""
    ended = (VisitStatus.REJECTED, VisitStatus.CHECKED_OUT, VisitStatus.CANCELLED, VisitStatus.EXPIRED)
    visitors = [
        row["id"]
        for row in await Person.filter(
            kind=PersonKind.VISITOR, id__in=Subquery(FaceTemplate.all().values("person_id"))
        ).values("id")
    ]
    done = 0
    for person_id in visitors:
        if not await Visit.filter(visitor_id=person_id).exclude(status__in=ended).exists():
            done += await delete_for_person(rt, person_id)
    return done


async def withdraw(rt: Runtime, person_id: int) -> FaceStatus:
    await delete_for_person(rt, person_id)
    return FaceStatus(False, None, None)


async def remove(rt: Runtime, person_id: str) -> FaceStatus:
    pid = parse_id(person_id, "person", "personId")
    if not await Person.exists(id=pid):
        raise not_found("person", "personId")
    await delete_for_person(rt, pid)
    return FaceStatus(False, None, None)


async def decrypted_templates(rt: Runtime) -> dict[int, npt.NDArray[np.float64]]:
    """Every enrolled template, opened: what a gate matches against (everyone may leave by any
    exit). Offline terminals' snapshots reuse this."""
    key = rt.keys.face
    out: dict[int, npt.NDArray[np.float64]] = {}
    for row_id, person_id, sealed in await FaceTemplate.all().values_list("id", "person_id", "sealed"):
        raw = open_sealed(key, row_id, person_id, bytes(sealed))
        out[person_id] = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    return out


async def gallery(rt: Runtime) -> Gallery:
    """This worker's matching matrix (read once, dropped when any worker changes a template)."""
    return await gallery_cache.get(lambda: decrypted_templates(rt))


def _changed(rt: Runtime) -> None:
    gallery_cache.invalidate()
    rt.bus.send(FacesChanged())
