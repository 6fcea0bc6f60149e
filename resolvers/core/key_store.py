"""The keys kept in the database, wrapped under the current master key (README "Keys").

The first start after migration 0020 creates them from the master key the data was made with,
by the same derivation as before, so every printed label and badge, every device secret and the
devices' snapshot verify key stay valid; a rotation re-wraps them under the new master key.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from tortoise.exceptions import IntegrityError

from resolvers.core.crypto import (
    LEGACY_WATCHLIST,
    STABLE_KEYS,
    KeyError_,
    KeyRing,
    Keys,
    Sealer,
    unwrap_key,
    wrap_key,
)
from resolvers.core.models import KeyMaterial, Person, WatchlistEntry

log = logging.getLogger("gatehouse.keys")
JWT_PREFIX = "jwt:"
# The associated data of sealed ID numbers (resolvers/people/people.py ID_NUMBER; the ground
# imports no domain): the first start checks the key against one of them.
_ID_NUMBER = "person.id_number"


def _origin(ring: KeyRing) -> Keys:
    """The master key existing data was made with: while a rotation is under way (a previous key
    is held), the previous one."""
    return next(iter(ring.previous.values()), ring.current)


async def _insert(ring: KeyRing, name: str, key: bytes, expires_at: datetime | None = None) -> None:
    try:
        await KeyMaterial.create(
            name=name,
            master_id=ring.current_id,
            wrapped=wrap_key(ring.current_master, name, key),
            expires_at=expires_at,
        )
    except IntegrityError:
        pass  # another process created it first: its value is the one read back


async def _check_opens_the_data(origin: Keys) -> None:
    """Before keys are derived and stored for good: the key must be the one the data was sealed
    with, else a wrong key given once would be written into the database's keys."""
    sample = await Person.exclude(id_number_enc=None).order_by("id").first().values_list("id_number_enc", flat=True)
    if sample is None:
        return
    try:
        Sealer(origin).open(bytes(sample), _ID_NUMBER)
    except (ValueError, InvalidTag):
        raise KeyError_(
            "the master key given does not open the personal data in this database: set the right"
            " GATEHOUSE_SECRET_KEY or key file"
        ) from None


def _unwrap(ring: KeyRing, row: KeyMaterial) -> bytes:
    master = ring.masters.get(row.master_id)
    if master is None:
        raise KeyError_(
            f"the database's keys are wrapped under master key {row.master_id}, which is not the key given"
            f" ({ring.current_id}): set the right GATEHOUSE_SECRET_KEY or key file"
            " (during a rotation also the previous one)"
        )
    try:
        return unwrap_key(master, row.name, bytes(row.wrapped))
    except InvalidTag:
        raise KeyError_(f"the stored key {row.name!r} does not open with master key {row.master_id}") from None


async def load(ring: KeyRing, now: datetime, grace: timedelta) -> None:
    """Give the ring the database's keys (creating them the first time), and start the grace
    period of the JWT key of any previous master key the ring holds."""
    rows = {row.name: row for row in await KeyMaterial.all()}
    if any(name not in rows for name in STABLE_KEYS):
        origin = _origin(ring)
        await _check_opens_the_data(origin)
        for name, key in origin.stable().items():
            if name not in rows:
                await _insert(ring, name, key)
        if not rows and await WatchlistEntry.filter(id_number_enc=None, lifted_at=None).exists():
            await _insert(ring, LEGACY_WATCHLIST, origin.lookup)
    for kid, keys in ring.previous.items():
        if f"{JWT_PREFIX}{kid}" not in rows:
            await _insert(ring, f"{JWT_PREFIX}{kid}", keys.jwt, now + grace)
    rows = {row.name: row for row in await KeyMaterial.all()}
    stable = {name: _unwrap(ring, rows[name]) for name in STABLE_KEYS}
    legacy = _unwrap(ring, rows[LEGACY_WATCHLIST]) if LEGACY_WATCHLIST in rows else None
    grace_jwt: dict[str, tuple[bytes, datetime]] = {}
    for name, row in rows.items():
        if not name.startswith(JWT_PREFIX) or row.expires_at is None:
            continue
        if row.expires_at <= now:
            # Its grace period is over: the key goes, and tokens signed with it are refused.
            await KeyMaterial.filter(name=name, expires_at__lte=now).delete()
            continue
        if row.master_id in ring.masters:
            grace_jwt[name.removeprefix(JWT_PREFIX)] = (_unwrap(ring, row), row.expires_at)
    ring.set_stable(stable, legacy)
    ring.grace_jwt = grace_jwt


async def rewrap(ring: KeyRing) -> int:
    """Every stored key wrapped under the current master key; how many were re-wrapped."""
    done = 0
    for row in await KeyMaterial.exclude(master_id=ring.current_id):
        key = _unwrap(ring, row)
        done += await KeyMaterial.filter(name=row.name, master_id=row.master_id).update(
            master_id=ring.current_id, wrapped=wrap_key(ring.current_master, row.name, key)
        )
    return done


async def legacy_watchlist_entries() -> list[WatchlistEntry]:
    """Entries in force that kept only a hash (from before migration 0020)."""
    return await WatchlistEntry.filter(id_number_enc=None, lifted_at=None).order_by("id")


async def drop_legacy_watchlist_key() -> bool:
    """Once no entry in force needs it, the old look-up key goes."""
    if await WatchlistEntry.filter(id_number_enc=None, lifted_at=None).exists():
        return False
    return await KeyMaterial.filter(name=LEGACY_WATCHLIST).delete() > 0
