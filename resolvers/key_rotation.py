"""`gatehouse rotate-key`: every sealed value and keyed hash moved to a new master key while the
servers keep running (README "Keys" has the operator's procedure).

A rotation is a state on disk, so an interrupted run is finished by running the command again:
with a key file, `<key file>.previous` holds the master key being retired from the moment the
new one is in place until every value is re-sealed; with GATEHOUSE_SECRET_KEY the operator gives
the old key as GATEHOUSE_PREVIOUS_SECRET_KEY for as long. Rows are re-sealed in small batches,
each its own short transaction, so scans are never held up; a row changed meanwhile keeps its
newer value (the update only applies to the value read).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from tortoise.models import Model
from tortoise.transactions import in_transaction

from resolvers.core import clock, key_store
from resolvers.core.crypto import Sealer, encode_master_key, key_id
from resolvers.core.models import Credential, Notification, Person, Visit, WatchlistEntry
from resolvers.notifications.channels.email import EMAIL
from resolvers.notifications.outbox import ADDRESS as NOTIFY_ADDRESS
from resolvers.notifications.outbox import PAYLOAD as NOTIFY_PAYLOAD
from resolvers.passes.credentials import PRIVATE_KEY
from resolvers.people.people import ID_NUMBER, PHONE
from resolvers.people.totp import TOTP_SECRET
from resolvers.runtime import Runtime

BATCH = 200
# A pass that still finds values under an old key means some process sealed under it after the
# switch; a few more passes catch what was in flight, more would mean a server that cannot see
# the new key file.
MAX_PASSES = 4


class RotationError(Exception):
    """Why the rotation cannot go on; the operator's next step is in the message."""


@dataclass(frozen=True)
class SealedColumn:
    model: type[Model]
    table: str
    column: str
    purpose: str
    # The keyed-hash column recomputed from the value (look-ups by it), if any.
    hash_column: str | None = None


# Every sealed column. The watchlist first: it must keep matching (look-ups meanwhile try the
# previous key's hash as well: resolvers/core/crypto.py lookup_hashes).
SEALED = (
    SealedColumn(WatchlistEntry, "watchlist_entry", "id_number_enc", ID_NUMBER, "id_number_hash"),
    SealedColumn(Person, "person", "id_number_enc", ID_NUMBER, "id_number_hash"),
    SealedColumn(Person, "person", "phone_enc", PHONE, "phone_hash"),
    SealedColumn(Person, "person", "totp_secret_enc", TOTP_SECRET),
    SealedColumn(Person, "person", "totp_pending_enc", TOTP_SECRET),
    SealedColumn(Visit, "visit", "phone_enc", PHONE, "phone_hash"),
    SealedColumn(Credential, "credential", "private_key_enc", PRIVATE_KEY),
    # Notifications (migration 0025): a person's email, and the outbox's addresses and messages.
    SealedColumn(Person, "person", "email_enc", EMAIL, "email_hash"),
    SealedColumn(Notification, "notification", "address_enc", NOTIFY_ADDRESS),
    SealedColumn(Notification, "notification", "payload_enc", NOTIFY_PAYLOAD),
)


@dataclass
class RotationReport:
    old_key: str | None = None
    new_key: str = ""
    started: bool = False
    resealed: dict[str, int] = field(default_factory=dict)
    rewrapped: int = 0
    passes: int = 0
    legacy_watchlist: list[WatchlistEntry] = field(default_factory=list)
    legacy_key_dropped: bool = False
    env_mode: bool = False
    previous_removed: bool = False

    def lines(self, jwt_until: str | None) -> list[str]:
        out = []
        if self.old_key is None:
            out.append(f"every value is sealed under the current master key {self.new_key}; nothing to rotate")
        else:
            verb = "started and finished" if self.started else "finished"
            out.append(f"rotation {verb}: master key {self.old_key} -> {self.new_key}")
        total = sum(self.resealed.values())
        detail = ", ".join(f"{name} {n}" for name, n in self.resealed.items() if n)
        out.append(f"re-sealed {total} value(s){f' ({detail})' if detail else ''}; re-wrapped {self.rewrapped} key(s)")
        if jwt_until:
            out.append(f"access tokens signed with key {self.old_key} are accepted until {jwt_until} (grace period)")
        if self.legacy_watchlist:
            out.append(
                f"{len(self.legacy_watchlist)} watchlist entr{'y' if len(self.legacy_watchlist) == 1 else 'ies'} from"
                " before migration 0020 kept only a hash: they keep matching through the look-up key they were"
                " made with (kept wrapped under the new master key); re-enter them (block the number again,"
                " then lift the old entry) to retire that key:"
            )
            out += [f"  entry {e.id}: {e.id_number_masked} ({e.reason})" for e in self.legacy_watchlist]
        elif self.legacy_key_dropped:
            out.append("no watchlist entry needs the pre-0020 look-up key any more: it was removed")
        if self.previous_removed:
            out.append("the previous key file was removed; running servers drop the old key within seconds")
        elif self.env_mode and self.old_key is not None:
            out.append(
                "now restart the servers one by one without GATEHOUSE_PREVIOUS_SECRET_KEY (only the new"
                " GATEHOUSE_SECRET_KEY), and destroy the old key"
            )
        return out


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file renamed over it), owner-only."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _start_with_key_file(rt: Runtime) -> str:
    """Put a new master key in the key file, the current one in `<key file>.previous` (first, so
    no moment exists when a process could miss the key existing data is sealed under)."""
    source = rt.ring.source
    assert source is not None
    old = rt.ring.current_master
    _write_private(source.previous_file, encode_master_key(old) + "\n")
    new = secrets.token_bytes(32)
    _write_private(source.key_file, encode_master_key(new) + "\n")
    rt.ring.reload_if_changed()
    if rt.ring.current_id != key_id(new):
        raise RotationError(f"the key file {source.key_file} did not take the new key")
    return key_id(old)


async def _reseal(rt: Runtime, col: SealedColumn) -> int:
    """One pass over a column: every value not under the current key re-sealed (and its hash
    recomputed), a batch per short transaction."""
    done = 0
    last = 0
    while True:
        rows = (
            await col.model.filter(id__gt=last, **{f"{col.column}__isnull": False})
            .order_by("id")
            .limit(BATCH)
            .values_list("id", col.column)
        )
        if not rows:
            return done
        last = rows[-1][0]
        updates: list[tuple[int, bytes, dict[str, object]]] = []
        for row_id, value in rows:
            sealed = bytes(value)
            if Sealer.key_id_of(sealed) == rt.ring.current_id:
                continue
            try:
                plain = rt.sealer.open(sealed, col.purpose)
            except ValueError as exc:
                raise RotationError(
                    f"{col.table} {row_id} {col.column}: {exc}; give the master key it was sealed under"
                    " (the previous key file, or GATEHOUSE_PREVIOUS_SECRET_KEY)"
                ) from None
            except InvalidTag:
                raise RotationError(
                    f"{col.table} {row_id} {col.column} does not open (damaged, or sealed under another key with"
                    " the same id); nothing after it was re-sealed"
                ) from None
            change: dict[str, object] = {col.column: rt.sealer.seal(plain, col.purpose)}
            if col.hash_column is not None:
                change[col.hash_column] = rt.sealer.lookup_hash(plain.decode(), col.purpose)
            updates.append((row_id, sealed, change))
        if updates:
            async with in_transaction() as conn:
                for row_id, sealed, change in updates:
                    done += await col.model.filter(id=row_id, **{col.column: sealed}).using_db(conn).update(**change)


async def rotate(rt: Runtime, say: Callable[[str], None] = lambda _: None) -> RotationReport:
    """Start a rotation (or finish one an earlier run began); see the module's docstring."""
    source = rt.ring.source
    assert source is not None
    report = RotationReport(env_mode=source.from_env)
    await rt.load_keys()  # the first start's keys are made with the key in use, before any switch
    if rt.ring.previous:
        report.old_key = next(iter(rt.ring.previous))
    elif not source.from_env:
        if source.previous_file.exists():  # a run stopped between its two writes: start over
            source.previous_file.unlink()
        report.old_key = _start_with_key_file(rt)
        report.started = True
        say(f"new master key {rt.ring.current_id} in {source.key_file}; the old one is in {source.previous_file}")
        await rt.load_keys()  # starts the old JWT key's grace period, wrapped under the new key
    report.new_key = rt.ring.current_id
    report.rewrapped = await key_store.rewrap(rt.ring)
    for attempt in range(1, MAX_PASSES + 1):
        report.passes = attempt
        changed = 0
        for col in SEALED:
            n = await _reseal(rt, col)
            name = f"{col.table}.{col.column}"
            report.resealed[name] = report.resealed.get(name, 0) + n
            changed += n
        if changed == 0:
            break
        say(f"pass {attempt}: re-sealed {changed} value(s)")
    else:
        raise RotationError(
            "values are still being sealed under the old key: is a server running that cannot see the new key"
            " file (another machine: copy the key files there) or was started with the old GATEHOUSE_SECRET_KEY?"
            " Run `gatehouse rotate-key` again once it has the new key"
        )
    report.legacy_watchlist = await key_store.legacy_watchlist_entries()
    report.legacy_key_dropped = await key_store.drop_legacy_watchlist_key()
    if not source.from_env and source.previous_file.exists():
        source.previous_file.unlink()
        _sync_dir(source.previous_file.parent)
        rt.ring.reload_if_changed()
        report.previous_removed = True
    return report


def jwt_grace_until(rt: Runtime, old_key: str | None) -> str | None:
    grace = rt.ring.grace_jwt.get(old_key or "")
    if grace is None:
        return None
    return grace[1].astimezone(clock.now().tzinfo).strftime("%Y-%m-%d %H:%M:%S UTC")
