"""Sign-in, refresh-token rotation and resolving the caller from an access token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from resolvers.core import clock
from resolvers.core.actor import Actor
from resolvers.core.crypto import random_token, sha256_hex
from resolvers.core.errors import ErrorCode, RateLimited, UserError
from resolvers.core.models import Person, PersonKind, PersonStatus, RefreshSession, Role
from resolvers.core.passwords import DUMMY_HASH, verify_password
from resolvers.people import ratelimit
from resolvers.people.auth_tokens import issue_access_token, read_access_token
from resolvers.runtime import Runtime


@dataclass(frozen=True)
class SessionTokens:
    access_token: str
    refresh_token: str
    expires_at: datetime


async def open_session(rt: Runtime, person: Person) -> SessionTokens:
    now = clock.now()
    refresh = random_token()
    session = await RefreshSession.create(
        person=person,
        token_hash=sha256_hex(refresh),
        expires_at=now + timedelta(days=rt.settings.refresh_token_days),
    )
    access, expires = issue_access_token(rt.keys.jwt, person.id, session.id, now, rt.settings.access_token_minutes)
    return SessionTokens(access, refresh, expires)


async def login(rt: Runtime, username: str, password: str, address: str = "") -> SessionTokens:
    await ratelimit.check_address(rt, "login", address, ratelimit.ADDRESS_LIMIT)
    person = await Person.get_or_none(username=username)
    if person is not None and person.locked_at is not None:
        raise RateLimited("this account is locked after repeated failed sign-ins; an administrator can unlock it")
    if person is None or person.password_hash is None:
        verify_password(password, DUMMY_HASH)  # same cost whether or not the account exists
        await ratelimit.failed_login(rt, address, None)
        raise UserError(ErrorCode.INVALID, "wrong username or password")
    if not verify_password(password, person.password_hash):
        await ratelimit.failed_login(rt, address, person)
        raise UserError(ErrorCode.INVALID, "wrong username or password")
    if person.status is not PersonStatus.ACTIVE:
        raise UserError(ErrorCode.NOT_ALLOWED, "this account is closed")
    await ratelimit.succeeded_login(rt, person)
    return await open_session(rt, person)


async def refresh(rt: Runtime, refresh_token: str) -> SessionTokens:
    now = clock.now()
    async with in_transaction():
        session = (
            await RefreshSession.filter(token_hash=sha256_hex(refresh_token))
            .select_for_update()
            .select_related("person")
            .first()
        )
        if session is None or session.revoked_at is not None:
            raise UserError(ErrorCode.INVALID, "this session is not valid; sign in again")
        if session.expires_at <= now:
            raise UserError(ErrorCode.EXPIRED, "this session has expired; sign in again")
        if session.person.status is not PersonStatus.ACTIVE:
            raise UserError(ErrorCode.NOT_ALLOWED, "this account is closed")
        new_refresh = random_token()
        session.token_hash = sha256_hex(new_refresh)
        session.rotated_at = now
        await session.save(update_fields=["token_hash", "rotated_at"])
    access, expires = issue_access_token(
        rt.keys.jwt, session.person.id, session.id, now, rt.settings.access_token_minutes
    )
    return SessionTokens(access, new_refresh, expires)


async def actor_from_bearer(rt: Runtime, authorization: str | None) -> Actor | None:
    """The caller behind `Bearer <token>`, or None when missing, expired or revoked."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    ids = read_access_token(rt.keys.jwt, authorization.removeprefix("Bearer ").strip())
    if ids is None:
        return None
    person_id, session_id = ids
    row = await RefreshSession.filter(id=session_id, person_id=person_id, revoked_at=None).values(
        "person__display_name", "person__kind", "person__roles", "person__status", "person__department_id"
    )
    if not row or row[0]["person__status"] != PersonStatus.ACTIVE.value:
        return None
    r = row[0]
    return Actor(
        person_id=person_id,
        session_id=session_id,
        display_name=r["person__display_name"],
        kind=PersonKind(r["person__kind"]),
        roles=frozenset(Role(x) for x in (r["person__roles"] or [])),
        department_id=r["person__department_id"],
    )


async def session_alive(actor: Actor) -> bool:
    """Re-checked while a subscription runs: an offboarded guard stops receiving events."""
    return await RefreshSession.filter(
        id=actor.session_id, revoked_at=None, person__status=PersonStatus.ACTIVE
    ).exists()
