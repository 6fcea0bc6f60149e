"""Slowing down guessing without locking anyone out for good (NIST SP 800-63B §5.2.2).

Sign-ins: failures are counted per account name and per client address in the database
(`LoginThrottle`, shared by every worker). After a few free failures each further one blocks
that key for a growing while (30 s, 60 s, … at most 15 minutes) that expires on its own; a
count is forgotten a day after its last failure. A blocked key answers RATE_LIMITED with the
seconds to wait. Account names are keyed whether or not the account exists, so an unknown
name is throttled exactly like a known one and the answers cannot tell them apart. A success
clears its account's count, never the address's (one valid account must not reset an
address that is guessing others).

Invite codes keep a plain per-address budget in the shared scan state.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from resolvers.core import clock
from resolvers.core.crypto import sha256_hex
from resolvers.core.errors import RateLimited
from resolvers.core.models import LoginThrottle
from resolvers.runtime import Runtime

WINDOW_SECONDS = 15 * 60
INVITE_ADDRESS_LIMIT = 10

ACCOUNT_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 15 * 60
FORGET_AFTER = timedelta(days=1)


def account_key(username: str) -> str:
    return sha256_hex(f"login:account:{username}")


def address_key(address: str) -> str:
    return sha256_hex(f"login:address:{address}")


def delay_after(failures: int, free: int) -> int:
    """Seconds a key is blocked after its `failures`-th failure: 0 while free, then doubling."""
    if failures < free:
        return 0
    return min(FIRST_DELAY_SECONDS * 2 ** min(failures - free, 16), MAX_DELAY_SECONDS)


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


async def blocked_for(key: str) -> int:
    """Seconds until `key` may try again; 0 when it may now."""
    now = clock.now()
    row = await LoginThrottle.get_or_none(key=key)
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return 0
    return _retry_after(row.blocked_until, now)


async def check_login_address(address: str) -> None:
    if address and (wait := await blocked_for(address_key(address))):
        raise RateLimited(f"too many failed sign-ins from this address; try again in {wait} s", retry_after=wait)


async def account_wait(username: str) -> int:
    return await blocked_for(account_key(username))


def account_limited(wait: int) -> RateLimited:
    return RateLimited(f"too many failed sign-ins for this account; try again in {wait} s", retry_after=wait)


async def _record_failure(key: str, free: int) -> None:
    now = clock.now()
    for _ in range(2):  # a concurrent first failure may create the row between our read and insert
        try:
            async with in_transaction():
                row = await LoginThrottle.filter(key=key).select_for_update().first()
                if row is None:
                    row = LoginThrottle(key=key, failures=0, last_failed_at=now)
                    fresh = True
                else:
                    fresh = False
                if row.last_failed_at < now - FORGET_AFTER:
                    row.failures = 0
                row.failures += 1
                row.last_failed_at = now
                wait = delay_after(row.failures, free)
                row.blocked_until = now + timedelta(seconds=wait) if wait else None
                await row.save(force_create=fresh)
            return
        except IntegrityError:
            continue


async def failed_login(username: str, address: str) -> None:
    await _record_failure(account_key(username), ACCOUNT_FREE_FAILURES)
    if address:
        await _record_failure(address_key(address), ADDRESS_FREE_FAILURES)


async def succeeded_login(username: str) -> None:
    await LoginThrottle.filter(key=account_key(username)).delete()


async def unlock(username: str) -> bool:
    """Forget an account's failures (an admin's `unlockAccount`, `gatehouse unlock`).
    True when there was something to forget."""
    return await LoginThrottle.filter(key=account_key(username)).delete() > 0


async def check_address(rt: Runtime, scope: str, address: str, limit: int) -> None:
    if address and await rt.state.failures(f"{scope}:addr:{address}") >= limit:
        raise RateLimited(
            "too many failed attempts from this address; try again in 15 minutes", retry_after=WINDOW_SECONDS
        )


async def failed(rt: Runtime, scope: str, address: str) -> None:
    if address:
        await rt.state.add_failure(f"{scope}:addr:{address}", WINDOW_SECONDS)
