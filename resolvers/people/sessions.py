"""Sign-in, refresh-token rotation and resolving the caller from an access token."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from resolvers.core import clock
from resolvers.core.actor import SECOND_FACTOR_ROLES, Actor
from resolvers.core.crypto import random_token, sha256_hex
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Person, PersonKind, PersonStatus, RefreshSession, RetiredRefreshToken, Role
from resolvers.core.passwords import DUMMY_HASH, generate_password, hash_password, verify_password
from resolvers.people import audit, ratelimit, totp
from resolvers.people.auth_tokens import issue_access_token, read_access_token_with, token_kid
from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.sessions")
USERNAME_MAX = 100  # the column's length: a longer name cannot exist


ISSUED_PASSWORD_DAYS = 7
MIN_PASSWORD = 10
MAX_PASSWORD = 200


@dataclass(frozen=True)
class SessionTokens:
    access_token: str
    refresh_token: str
    expires_at: datetime
    # The password used was issued by someone else: the app asks for a new one at once.
    must_change_password: bool = False
    # The person holds ADMIN or SECURITY_ADMIN, the site requires a second factor for them and
    # this session passed none: it acts without those roles until they enrol and sign in again.
    second_factor_required: bool = False


def withheld_roles(rt: Runtime, roles: frozenset[Role], second_factor_at: datetime | None) -> frozenset[Role]:
    """The roles a session may not use because it passed no second factor (GATEHOUSE_SECOND_FACTOR)."""
    if second_factor_at is not None or not rt.settings.second_factor_required:
        return frozenset()
    return roles & SECOND_FACTOR_ROLES


def _roles(person: Person) -> frozenset[Role]:
    return frozenset(Role(x) for x in (person.roles or []))


async def _verify(password: str, encoded: str) -> bool:
    """scrypt off the event loop (hashlib releases the GIL): gates keep deciding meanwhile."""
    return await asyncio.to_thread(verify_password, password, encoded)


async def open_session(rt: Runtime, person: Person, second_factor: bool = False) -> SessionTokens:
    """A new session; signing in counts as a confirmation of who is calling (confirmed_at)."""
    now = clock.now()
    refresh = random_token()
    second_factor_at = now if second_factor else None
    session = await RefreshSession.create(
        person=person,
        token_hash=sha256_hex(refresh),
        expires_at=now + timedelta(days=rt.settings.refresh_token_days),
        second_factor_at=second_factor_at,
        confirmed_at=now,
    )
    kid, key = rt.ring.jwt_signing()
    access, expires = issue_access_token(key, person.id, session.id, now, rt.settings.access_token_minutes, kid)
    return SessionTokens(
        access,
        refresh,
        expires,
        person.password_issued_at is not None,
        bool(withheld_roles(rt, _roles(person), second_factor_at)),
    )


def issued_password_expired(person: Person, now: datetime) -> bool:
    issued = person.password_issued_at
    return issued is not None and issued + timedelta(days=ISSUED_PASSWORD_DAYS) <= now


async def login(
    rt: Runtime, username: str, password: str, address: str = "", totp_code: str | None = None
) -> SessionTokens:
    """Every name takes the same path (throttle key, one scrypt, one failure recorded), whether
    or not an account holds it, so neither the answer nor its timing tells which names exist.

    An account with a second factor is asked for it only once the password is right (so the
    question tells nothing to someone without it) and that question is not a failure; a wrong
    code is, under the same throttle as a wrong password. The account's failures are forgotten
    only after both factors passed: a right password alone must not reset the count of guessed
    codes."""
    await ratelimit.check_login_address(address)
    person = await Person.get_or_none(username=username) if len(username) <= USERNAME_MAX else None
    wait = await ratelimit.account_wait(username)
    stored = person.password_hash if person is not None else None
    right = await _verify(password, stored or DUMMY_HASH)
    if wait:
        raise ratelimit.account_limited(wait)
    if person is None or stored is None or not right:
        await ratelimit.failed_login(username, address)
        raise UserError(ErrorCode.INVALID, "wrong username or password")
    second_factor = totp.is_active(person)
    if not second_factor:
        await ratelimit.succeeded_login(username)
    if person.status is not PersonStatus.ACTIVE:
        raise UserError(ErrorCode.NOT_ALLOWED, "this account is closed")
    if issued_password_expired(person, clock.now()):
        raise UserError(
            ErrorCode.EXPIRED, "this issued password has expired; ask HR or an administrator for a new one", "password"
        )
    if second_factor:
        if not totp.clean(totp_code):
            raise UserError(
                ErrorCode.SECOND_FACTOR_REQUIRED,
                "this account has a second factor: give the code from your authenticator app (or a recovery code)",
                "totpCode",
            )
        if not await totp.check_second_factor(rt, person, totp_code):
            await ratelimit.failed_login(username, address)
            raise UserError(ErrorCode.INVALID, "wrong or already used code", "totpCode")
        await ratelimit.succeeded_login(username)
    return await open_session(rt, person, second_factor=second_factor)


async def refresh(rt: Runtime, refresh_token: str) -> SessionTokens:
    now = clock.now()
    token_hash = sha256_hex(refresh_token)
    retired = await RetiredRefreshToken.get_or_none(token_hash=token_hash)
    if retired is not None:
        # A spent token came back: someone holds a copy. End the whole session, for both.
        if await RefreshSession.filter(id=retired.session_id, revoked_at=None).update(revoked_at=now):
            log.warning("a rotated refresh token was reused; session %s revoked", retired.session_id)
        raise UserError(ErrorCode.INVALID, "this session is not valid; sign in again")
    async with in_transaction():
        # The row lock takes the session alone: PostgreSQL refuses FOR UPDATE across the outer
        # join select_related would add, so the person is read after it.
        session = await RefreshSession.filter(token_hash=token_hash).select_for_update().first()
        if session is None or session.revoked_at is not None:
            raise UserError(ErrorCode.INVALID, "this session is not valid; sign in again")
        if session.expires_at <= now:
            raise UserError(ErrorCode.EXPIRED, "this session has expired; sign in again")
        await session.fetch_related("person")
        if session.person.status is not PersonStatus.ACTIVE:
            raise UserError(ErrorCode.NOT_ALLOWED, "this account is closed")
        await RetiredRefreshToken.create(token_hash=token_hash, session_id=session.id, retired_at=now)
        new_refresh = random_token()
        session.token_hash = sha256_hex(new_refresh)
        session.rotated_at = now
        await session.save(update_fields=["token_hash", "rotated_at"])
    kid, key = rt.ring.jwt_signing()
    access, expires = issue_access_token(key, session.person.id, session.id, now, rt.settings.access_token_minutes, kid)
    # The session keeps when it passed a second factor and when it was last confirmed: a
    # refresh renews neither (a stolen refresh token must not confirm anything).
    return SessionTokens(
        access,
        new_refresh,
        expires,
        session.person.password_issued_at is not None,
        bool(withheld_roles(rt, _roles(session.person), session.second_factor_at)),
    )


async def logout(actor: Actor) -> int:
    """End the caller's session: its refresh token and access tokens stop working at once."""
    return await RefreshSession.filter(id=actor.session_id, revoked_at=None).update(revoked_at=clock.now())


async def logout_everywhere(actor: Actor) -> int:
    """End every session of the caller (a lost phone, a shared computer)."""
    return await RefreshSession.filter(person_id=actor.person_id, revoked_at=None).update(revoked_at=clock.now())


def check_new_password(password: str, field: str = "newPassword") -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(ErrorCode.INVALID, f"use at least {MIN_PASSWORD} characters", field)
    if len(password) > MAX_PASSWORD:
        raise UserError(ErrorCode.INVALID, f"use at most {MAX_PASSWORD} characters", field)


async def change_password(actor: Actor, current_password: str, new_password: str) -> Person:
    """The person's own new password; their other sessions end (this one goes on). A wrong
    current password counts against the account like a failed sign-in."""
    person = await Person.get(id=actor.person_id)
    if person.username is None or person.password_hash is None:
        raise UserError(ErrorCode.NOT_ALLOWED, "this account signs in without a password")
    check_new_password(new_password)
    if wait := await ratelimit.account_wait(person.username):
        raise ratelimit.account_limited(wait)
    if not await _verify(current_password, person.password_hash):
        await ratelimit.failed_login(person.username, "")
        raise UserError(ErrorCode.INVALID, "the current password is wrong", "currentPassword")
    if new_password == current_password:
        raise UserError(ErrorCode.INVALID, "choose a password different from the current one", "newPassword")
    now = clock.now()
    async with in_transaction():
        person.password_hash = await asyncio.to_thread(hash_password, new_password)
        person.password_issued_at = None
        await person.save(update_fields=["password_hash", "password_issued_at"])
        await (
            RefreshSession.filter(person_id=person.id, revoked_at=None)
            .exclude(id=actor.session_id)
            .update(revoked_at=now)
        )
    audit.note_change("person", person.id, {"password": "set"}, {"password": "changed"})
    return person


async def reset_password(username: str) -> tuple[Person, str]:
    """A new issued password for an employee (`gatehouse reset-password`): every session ends,
    sign-in delays are forgotten, and the person must change it within 7 days."""
    person = await Person.get_or_none(username=username, kind=PersonKind.EMPLOYEE)
    if person is None:
        raise UserError(ErrorCode.NOT_FOUND, f"no employee with username {username!r}", "username")
    if person.status is not PersonStatus.ACTIVE:
        raise UserError(ErrorCode.NOT_ALLOWED, f"{username!r} is offboarded", "username")
    password = generate_password()
    now = clock.now()
    async with in_transaction():
        person.password_hash = hash_password(password)
        person.password_issued_at = now
        await person.save(update_fields=["password_hash", "password_issued_at"])
        await RefreshSession.filter(person_id=person.id, revoked_at=None).update(revoked_at=now)
    await ratelimit.unlock(username)
    return person, password


async def actor_from_bearer(rt: Runtime, authorization: str | None) -> Actor | None:
    """The caller behind `Bearer <token>`, or None when missing, expired or revoked."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    token = authorization.removeprefix("Bearer ").strip()
    now = clock.now()
    if rt.ring.jwt_keys(token_kid(token), now) is None:
        # A kid this process does not know: a rotation may have begun elsewhere (looked up at
        # most once a second, so made-up kids cost nothing much).
        await rt.refresh_keys()
    ids = read_access_token_with(lambda kid: rt.ring.jwt_keys(kid, now), token)
    if ids is None:
        _refused("its signature, expiry or claims do not hold (or its key id is unknown)")
        return None
    person_id, session_id = ids
    row = await RefreshSession.filter(id=session_id, person_id=person_id, revoked_at=None).values(
        "second_factor_at",
        "person__display_name",
        "person__kind",
        "person__roles",
        "person__status",
        "person__department_id",
    )
    if not row or row[0]["person__status"] != PersonStatus.ACTIVE.value:
        _refused("its session has ended or its person is not active")
        return None
    r = row[0]
    roles = frozenset(Role(x) for x in (r["person__roles"] or []))
    # Dropped here, where every request (GraphQL, reports, subscriptions) gets its caller, so
    # no permission check anywhere can see a role this session has not earned.
    withheld = withheld_roles(rt, roles, r["second_factor_at"])
    return Actor(
        person_id=person_id,
        session_id=session_id,
        display_name=r["person__display_name"],
        kind=PersonKind(r["person__kind"]),
        roles=roles - withheld,
        department_id=r["person__department_id"],
        withheld_roles=withheld,
    )


_REFUSAL_LOG_SECONDS = 60.0
_refusals_logged: dict[str, float] = {}


def _refused(why: str) -> None:
    """A bearer token refused: a line an operator can act on (a clock off, a key not shared by
    every worker, a revoked session still in use), at most one a minute per reason however
    many a hostile caller sends."""
    now = time.monotonic()
    if now - _refusals_logged.get(why, -_REFUSAL_LOG_SECONDS) >= _REFUSAL_LOG_SECONDS:
        _refusals_logged[why] = now
        log.info("a bearer token was refused: %s", why)


async def session_alive(actor: Actor) -> bool:
    """Re-checked while a subscription runs: an offboarded guard stops receiving events."""
    return await RefreshSession.filter(
        id=actor.session_id, revoked_at=None, person__status=PersonStatus.ACTIVE
    ).exists()
