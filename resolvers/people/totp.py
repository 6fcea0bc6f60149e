"""TOTP (RFC 6238) codes and one-time recovery codes: the primitives behind the second factor.

Codes are 6 digits over 30 s steps; the step before and after the server's are accepted too
(a phone's clock drifts, a person types slowly). Each accepted step is stored on the person and
only a later step is accepted afterwards, so a code seen over a shoulder or replayed from a
log is refused even inside its window. The secret is sealed like the ID number (AES-GCM under
the data key, the column named as associated data); recovery codes are kept as keyed hashes.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp
from tortoise.expressions import Q

from resolvers.core import clock
from resolvers.core.models import Person, TotpRecoveryCode
from resolvers.runtime import Runtime

TOTP_SECRET = "person.totp_secret"
RECOVERY_CODE = "person.totp_recovery_code"
ISSUER = "Gatehouse"
PERIOD = 30
DIGITS = 6
WINDOW = 1  # steps either side of the server's
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_LENGTH = 10


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps expect (RFC 4226 recommends 160)."""
    return pyotp.random_base32(32)


def otpauth_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=username, issuer_name=ISSUER)


def step_at(unix: float) -> int:
    return int(unix // PERIOD)


def matching_step(secret: str, code: str, unix: float, after: int | None = None) -> int | None:
    """The step within the window whose code is `code`, later than `after`; None when none is."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    now = step_at(unix)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def clean(code: str | None) -> str:
    """What a person typed, without the spaces and dashes apps and printouts put in codes."""
    return "".join(ch for ch in (code or "") if ch not in " -\t").lower()


def seal_secret(rt: Runtime, secret: str) -> bytes:
    return rt.sealer.seal(secret, TOTP_SECRET)


def open_secret(rt: Runtime, sealed: bytes) -> str:
    return rt.sealer.open_text(sealed, TOTP_SECRET)


def is_active(person: Person) -> bool:
    return person.totp_secret_enc is not None and person.totp_enabled_at is not None


async def claim_step(person_id: int, step: int) -> bool:
    """Record `step` as the person's last accepted one, unless it (or a later one) already is:
    one conditional UPDATE, so two requests racing with the same code cannot both win."""
    later = Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step)
    return await Person.filter(later, id=person_id).update(totp_last_step=step) > 0


def recovery_hash(rt: Runtime, code: str) -> str:
    return rt.sealer.recovery_code_hash(clean(code), RECOVERY_CODE)


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


async def spend_recovery_code(rt: Runtime, person_id: int, code: str, now: datetime) -> bool:
    """True when `code` is one of the person's unused recovery codes; it is spent at once."""
    if len(clean(code)) != _RECOVERY_LENGTH:
        return False
    spent = await TotpRecoveryCode.filter(person_id=person_id, code_hash=recovery_hash(rt, code), used_at=None).update(
        used_at=now
    )
    return spent > 0


async def check_second_factor(rt: Runtime, person: Person, code: str | None) -> bool:
    """A current TOTP code of the person's active secret (accepted once), or an unused recovery
    code (spent). False for anything else, and for a person without an active second factor."""
    if not is_active(person) or person.totp_secret_enc is None:
        return False
    typed = clean(code)
    if not typed:
        return False
    if len(typed) == DIGITS:
        step = matching_step(open_secret(rt, person.totp_secret_enc), typed, clock.unix(), person.totp_last_step)
        return step is not None and await claim_step(person.id, step)
    return await spend_recovery_code(rt, person.id, typed, clock.now())
