"""The second factor (TOTP) of one's own account, and the fresh confirmation ("sudo mode") that
dangerous operations (evacuate, site-wide lockdown, remoteOpen) ask for.

Enrolment is two steps so a secret never becomes active before the person has shown that their
authenticator holds it: `start_enrollment` keeps a pending secret, `confirm_enrollment` with a
code from it activates it and returns ten one-time recovery codes, shown that once. Replacing an
active secret or turning it off asks for a current code; every guessed code counts under the
sign-in throttle (resolvers/people/ratelimit.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from tortoise.transactions import in_transaction

from resolvers.core import clock
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Person, PersonKind, PersonStatus, RefreshSession, TotpRecoveryCode
from resolvers.core.passwords import verify_password
from resolvers.people import audit, ratelimit, totp
from resolvers.runtime import Runtime


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class SecurityStatus:
    totp_enabled_at: datetime | None
    recovery_codes_left: int
    withheld_roles: frozenset[str]
    confirmed_at: datetime | None
    confirmed_until: datetime | None


async def _own_account(actor: Actor) -> Person:
    person = await Person.get(id=actor.person_id)
    if person.kind is not PersonKind.EMPLOYEE or person.username is None:
        raise UserError(ErrorCode.NOT_ALLOWED, "only employees with a sign-in name have a second factor")
    return person


async def _guard(username: str, address: str) -> None:
    """The sign-in throttle, before any guess is checked."""
    await ratelimit.check_login_address(address)
    if wait := await ratelimit.account_wait(username):
        raise ratelimit.account_limited(wait)


async def _require_code(rt: Runtime, person: Person, code: str | None, address: str, field: str) -> None:
    """A current code (or a recovery code) of the person's active second factor; a wrong one
    counts as a failed sign-in."""
    assert person.username is not None
    if not totp.clean(code):
        raise UserError(ErrorCode.INVALID, "give the code from your authenticator app (or a recovery code)", field)
    if not await totp.check_second_factor(rt, person, code):
        await ratelimit.failed_login(person.username, address)
        raise UserError(ErrorCode.INVALID, "wrong or already used code", field)


def _qr_svg(uri: str) -> str:
    # A data: URI the console puts in <img src>: an image there runs no script.
    return segno.make(uri, error="m", boost_error=False).svg_data_uri(scale=4, border=4)


async def start_enrollment(rt: Runtime, actor: Actor, code: str | None, address: str = "") -> Enrollment:
    """A new secret, pending until confirmed; while another is active, a current code first."""
    person = await _own_account(actor)
    assert person.username is not None
    if totp.is_active(person):
        await _guard(person.username, address)
        await _require_code(rt, person, code, address, "totpCode")
    secret = totp.new_secret()
    person.totp_pending_enc = totp.seal_secret(rt, secret)
    await person.save(update_fields=["totp_pending_enc"])
    audit.note_change("person", person.id, None, {"secondFactor": "enrolment started"})
    uri = totp.otpauth_uri(secret, person.username)
    return Enrollment(secret=secret, otpauth_uri=uri, qr_svg=_qr_svg(uri))


async def confirm_enrollment(rt: Runtime, actor: Actor, code: str) -> list[str]:
    """Activate the pending secret with a code from it; the recovery codes, shown once (any
    earlier ones stop working)."""
    person = await _own_account(actor)
    if person.totp_pending_enc is None:
        raise UserError(ErrorCode.NOT_ALLOWED, "start an enrolment first (startTotpEnrollment)", "code")
    secret = totp.open_secret(rt, person.totp_pending_enc)
    step = totp.matching_step(secret, totp.clean(code), clock.unix())
    if step is None:
        raise UserError(ErrorCode.INVALID, "wrong code: check the authenticator app's clock and try again", "code")
    codes = totp.new_recovery_codes()
    now = clock.now()
    async with in_transaction():
        was_active = totp.is_active(person)
        person.totp_secret_enc = person.totp_pending_enc
        person.totp_pending_enc = None
        person.totp_enabled_at = now
        person.totp_last_step = step  # this code is spent: it cannot also sign in
        await person.save(update_fields=["totp_secret_enc", "totp_pending_enc", "totp_enabled_at", "totp_last_step"])
        await TotpRecoveryCode.filter(person_id=person.id).delete()
        await TotpRecoveryCode.bulk_create(
            [TotpRecoveryCode(person_id=person.id, code_hash=totp.recovery_hash(rt, c)) for c in codes]
        )
    audit.note_change(
        "person", person.id, {"secondFactor": "on" if was_active else "off"}, {"secondFactor": "on (new secret)"}
    )
    return codes


async def disable(rt: Runtime, actor: Actor, password: str, code: str, address: str = "") -> Person:
    """Turn one's own second factor off: the password and a current code (or a recovery code)."""
    person = await _own_account(actor)
    assert person.username is not None
    if not totp.is_active(person):
        raise UserError(ErrorCode.NOT_ALLOWED, "this account has no second factor")
    await _guard(person.username, address)
    right = person.password_hash is not None and await asyncio.to_thread(
        verify_password, password, person.password_hash
    )
    if not right:
        await ratelimit.failed_login(person.username, address)
        raise UserError(ErrorCode.INVALID, "the password is wrong", "password")
    await _require_code(rt, person, code, address, "code")
    await _clear(person)
    audit.note_change("person", person.id, {"secondFactor": "on"}, {"secondFactor": "off"})
    return person


async def _clear(person: Person) -> None:
    async with in_transaction():
        person.totp_secret_enc = None
        person.totp_pending_enc = None
        person.totp_enabled_at = None
        person.totp_last_step = None
        await person.save(update_fields=["totp_secret_enc", "totp_pending_enc", "totp_enabled_at", "totp_last_step"])
        await TotpRecoveryCode.filter(person_id=person.id).delete()


async def reset(username: str) -> tuple[Person, int]:
    """`gatehouse reset-second-factor USER` (a lost phone and no recovery code): the second factor
    is gone and every session of the account ends, since those sessions were opened with it. The
    person signs in with the password and enrols again. (The person, sessions ended.)"""
    person = await Person.get_or_none(username=username, kind=PersonKind.EMPLOYEE)
    if person is None:
        raise UserError(ErrorCode.NOT_FOUND, f"no employee with username {username!r}", "username")
    if person.status is not PersonStatus.ACTIVE:
        raise UserError(ErrorCode.NOT_ALLOWED, f"{username!r} is offboarded", "username")
    if person.totp_secret_enc is None and person.totp_pending_enc is None:
        raise UserError(ErrorCode.NOT_ALLOWED, f"{username!r} has no second factor", "username")
    await _clear(person)
    ended = await RefreshSession.filter(person_id=person.id, revoked_at=None).update(revoked_at=clock.now())
    return person, ended


async def _confirmed_at(session_id: int) -> datetime | None:
    rows = await RefreshSession.filter(id=session_id).values_list("confirmed_at", flat=True)
    value = rows[0] if rows else None
    return value if isinstance(value, datetime) else None


def confirmation_until(rt: Runtime, confirmed_at: datetime | None) -> datetime | None:
    if confirmed_at is None:
        return None
    return confirmed_at + timedelta(minutes=rt.settings.confirmation_minutes)


async def confirm_identity(
    rt: Runtime, actor: Actor, password: str | None, code: str | None, address: str = ""
) -> datetime:
    """Prove again who holds this session: a current code (or a recovery code) when the account
    has a second factor, else the password. Throttled like a sign-in. Until when it holds."""
    person = await Person.get(id=actor.person_id)
    if person.username is None or person.password_hash is None:
        raise UserError(ErrorCode.NOT_ALLOWED, "this account signs in without a password")
    await _guard(person.username, address)
    if totp.is_active(person):
        await _require_code(rt, person, code, address, "totpCode")
    else:
        if not password:  # nothing was guessed: not a failure
            raise UserError(ErrorCode.INVALID, "give your password", "password")
        if not await asyncio.to_thread(verify_password, password, person.password_hash):
            await ratelimit.failed_login(person.username, address)
            raise UserError(ErrorCode.INVALID, "the password is wrong", "password")
    await ratelimit.succeeded_login(person.username)
    now = clock.now()
    await RefreshSession.filter(id=actor.session_id).update(confirmed_at=now)
    until = confirmation_until(rt, now)
    assert until is not None
    return until


async def require_confirmation(rt: Runtime, actor: Actor) -> None:
    """Refuse (CONFIRMATION_REQUIRED) unless this session signed in or confirmed who holds it within
    GATEHOUSE_CONFIRMATION_MINUTES: a session left open, or taken over, cannot open doors or empty
    a site. Called before anything is written."""
    confirmed_at = await _confirmed_at(actor.session_id)
    until = confirmation_until(rt, confirmed_at)
    if until is None or until <= clock.now():
        raise UserError(
            ErrorCode.CONFIRMATION_REQUIRED,
            f"confirm who you are first (confirmIdentity); a confirmation lasts {rt.settings.confirmation_minutes} min",
        )


async def status(rt: Runtime, actor: Actor) -> SecurityStatus:
    person = await Person.get(id=actor.person_id)
    left = await TotpRecoveryCode.filter(person_id=person.id, used_at=None).count() if totp.is_active(person) else 0
    confirmed_at = await _confirmed_at(actor.session_id)
    return SecurityStatus(
        totp_enabled_at=person.totp_enabled_at if totp.is_active(person) else None,
        recovery_codes_left=left,
        withheld_roles=frozenset(r.value for r in actor.withheld_roles),
        confirmed_at=confirmed_at,
        confirmed_until=confirmation_until(rt, confirmed_at),
    )
