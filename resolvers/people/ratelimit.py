"""Slowing down guessing: failed sign-ins and invite codes, per account and per client address.

Counts live in the shared scan state (Redis at scale), so every worker sees the same
numbers. An account that fails too often is locked until an admin unlocks it.
"""

from __future__ import annotations

from resolvers.core import clock
from resolvers.core.errors import RateLimited
from resolvers.core.models import Person
from resolvers.runtime import Runtime

WINDOW_SECONDS = 15 * 60
ACCOUNT_LOCK_AFTER = 5
ADDRESS_LIMIT = 20
INVITE_ADDRESS_LIMIT = 10


async def check_address(rt: Runtime, scope: str, address: str, limit: int) -> None:
    if address and await rt.state.failures(f"{scope}:addr:{address}") >= limit:
        raise RateLimited("too many failed attempts from this address; try again in 15 minutes")


async def failed(rt: Runtime, scope: str, address: str) -> None:
    if address:
        await rt.state.add_failure(f"{scope}:addr:{address}", WINDOW_SECONDS)


async def failed_login(rt: Runtime, address: str, person: Person | None) -> None:
    await failed(rt, "login", address)
    if person is None:
        return
    count = await rt.state.add_failure(f"login:account:{person.id}", WINDOW_SECONDS)
    if count >= ACCOUNT_LOCK_AFTER and person.locked_at is None:
        await Person.filter(id=person.id, locked_at=None).update(locked_at=clock.now())


async def succeeded_login(rt: Runtime, person: Person) -> None:
    await rt.state.clear_failures(f"login:account:{person.id}")


async def unlock(rt: Runtime, person: Person) -> Person:
    await rt.state.clear_failures(f"login:account:{person.id}")
    if person.locked_at is not None:
        person.locked_at = None
        await person.save(update_fields=["locked_at"])
    return person
