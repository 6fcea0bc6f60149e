"""Backups (POLICY 6.1): `gatehouse backup` writes one encrypted, checksummed file; `restore` puts
it into an empty database; `verify-backup` proves a file whole without touching any database.

The file: MAGIC, a 4-byte header length, a JSON header (format, when, dialect, migration level,
version, the key's fingerprint and a random salt; never the key), then the dump in AES-256-GCM
chunks. Each chunk's associated data binds the header's digest, its index and whether it is the
last, so a changed header, a swapped, dropped or cut chunk fails to open; the last chunk holds the
SHA-256 of the whole dump. The key is derived from the master key with HKDF and the file's salt,
so every file has a key of its own (chunk nonces are then just their index). The master key is
never in a backup: without it a backup is useless, which is why it must be kept elsewhere.

The dump is streamed through in chunks: a large database is never held in memory. The heavy
work is synchronous and is run in a thread by the async entry points, so gates are not held up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from resolvers.core import clock, db
from resolvers.core.crypto import KeyError_, load_master_key
from resolvers.core.models import BackupRun
from resolvers.core.settings import Settings

log = logging.getLogger("gatehouse.backups")

MAGIC = b"GHBACKUP"
FORMAT = 1
CHUNK = 1 << 20  # plaintext bytes per encrypted chunk
_TAG = 16
SUFFIX = ".ghbackup"
KINDS = ("daily", "weekly", "manual")
# Only files with this name and MAGIC at their start are ever pruned: nothing else in the directory.
NAME = re.compile(r"^gatehouse-(daily|weekly|manual)-(\d{8}T\d{6}Z)\.ghbackup$")
_PURPOSE = b"gatehouse/backup/v1"
_FINGERPRINT_PURPOSE = b"gatehouse/key-fingerprint/v1"
_MAX_HEADER = 64 * 1024
_ERROR_CHARS = 1000


class BackupError(Exception):
    """One line for the operator; the command exits 2 and nothing was changed."""


def gatehouse_version() -> str:
    try:
        return importlib.metadata.version("gatehouse")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- keys


def fingerprint(master: bytes) -> str:
    """Names a master key without giving it away (a one-way derivation of its own purpose)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_FINGERPRINT_PURPOSE).derive(master)[:4].hex()


def _file_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_PURPOSE).derive(master)


def master_key(settings: Settings, key_file: Path | None = None) -> bytes:
    """The key that opens a backup: the one in `key_file` (base64, as a key file holds it), else
    the server's own. No key file is created here, unlike at the server's first start."""
    if key_file is not None:
        try:
            raw = base64.b64decode(key_file.read_text().strip(), validate=True)
        except (OSError, ValueError) as exc:
            raise BackupError(f"cannot read the key in {key_file}: {exc}") from None
        if len(raw) != 32:
            raise BackupError(f"{key_file} does not hold a 32-byte base64 key")
        return raw
    if not settings.secret_key and not settings.key_file.exists():
        raise BackupError(
            f"no master key: set GATEHOUSE_SECRET_KEY or GATEHOUSE_KEY_FILE (looked for {settings.key_file}),"
            " or pass --key-file"
        )
    try:
        return load_master_key(settings.secret_key, settings.key_file)
    except (KeyError_, ValueError, OSError) as exc:
        raise BackupError(str(exc)) from None


# --------------------------------------------------------------------------- the file format


@dataclass(frozen=True)
class Header:
    format: int
    created_at: str
    dialect: str
    migration: str
    gatehouse_version: str
    key_fingerprint: str
    salt: str  # base64, 16 random bytes: the file's own key

    def describe(self) -> str:
        return (
            f"made {self.created_at} of a {self.dialect} database at migration {self.migration or 'none'}"
            f" by Gatehouse {self.gatehouse_version}, key {self.key_fingerprint}"
        )


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + struct.pack(">QB", index, 1 if final else 0)


def _nonce(index: int) -> bytes:
    return b"\0\0\0\0" + struct.pack(">Q", index)


class _Output(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _Sealing:
    """Writes the header, then the dump in sealed chunks as it comes; `close` seals the checksum."""

    def __init__(self, out: _Output, master: bytes, header: Header) -> None:
        head = json.dumps(asdict(header), sort_keys=True).encode()
        prefix = MAGIC + struct.pack(">I", len(head)) + head
        out.write(prefix)
        self._out = out
        self._digest = hashlib.sha256(prefix).digest()
        self._aead = AESGCM(_file_key(master, base64.b64decode(header.salt)))
        self._index = 0
        self._buffer = bytearray()
        self._sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self._sha.update(data)
        self._buffer += data
        while len(self._buffer) >= CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]

    def _seal(self, plaintext: bytes, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index), plaintext, _aad(self._digest, self._index, final))
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def close(self) -> str:
        if self._buffer:
            self._seal(bytes(self._buffer), final=False)
            self._buffer.clear()
        digest = self._sha.digest()
        self._seal(digest, final=True)
        return digest.hex()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise BackupError("the file is cut short: it ends before the backup does (copy it again)")
    return data


def _read_header(f: BinaryIO, name: str) -> tuple[Header, bytes]:
    if f.read(len(MAGIC)) != MAGIC:
        raise BackupError(f"{name} is not a Gatehouse backup")
    (length,) = struct.unpack(">I", _read_exact(f, 4))
    if not 0 < length <= _MAX_HEADER:
        raise BackupError(f"{name} has a damaged header")
    head = _read_exact(f, length)
    try:
        fields = json.loads(head)
        made_in = fields.get("format") if isinstance(fields, dict) else None
        if isinstance(made_in, int) and made_in != FORMAT:
            raise BackupError(f"{name} is in backup format {made_in}; this Gatehouse reads format {FORMAT}")
        header = Header(**fields)
    except (ValueError, TypeError, AttributeError):
        raise BackupError(f"{name} has a damaged header") from None
    return header, hashlib.sha256(MAGIC + struct.pack(">I", length) + head).digest()


def read_header(path: Path) -> Header:
    try:
        with open(path, "rb") as f:
            return _read_header(f, path.name)[0]
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None


def _opened(path: Path, master: bytes, sink: Callable[[bytes], object]) -> Header:
    """Decrypt `path` chunk by chunk into `sink`; raises BackupError unless the whole file is the
    backup as written (every chunk opens, in order, the last one is there and nothing follows it,
    the checksum matches). `sink` may have had data by then: callers write to a temporary place."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        header, digest = _read_header(f, path.name)
        if header.key_fingerprint != fingerprint(master):
            raise BackupError(
                f"this backup was made with key {header.key_fingerprint}; the current key is {fingerprint(master)}"
                " (pass --key-file with the key that made it)"
            )
        aead = AESGCM(_file_key(master, base64.b64decode(header.salt)))
        sha = hashlib.sha256()
        index = 0
        while True:
            size = f.read(4)
            if len(size) < 4:
                raise BackupError("the file is cut short: it ends before the backup does (copy it again)")
            (length,) = struct.unpack(">I", size)
            if not _TAG <= length <= CHUNK + _TAG:
                raise BackupError(f"the file is damaged or was changed (chunk {index})")
            sealed = _read_exact(f, length)
            # A chunk that opens as the last one ends the backup; one that opens as an inner one goes on.
            for final in (False, True):
                try:
                    plain = aead.decrypt(_nonce(index), sealed, _aad(digest, index, final))
                    break
                except InvalidTag:
                    continue
            else:
                raise BackupError(f"the file is damaged or was changed (chunk {index} does not open)")
            index += 1
            if final:
                if f.read(1):
                    raise BackupError("the file is damaged or was changed (data after its end)")
                if plain != sha.digest():
                    raise BackupError("the file is damaged or was changed (its checksum does not match)")
                return header
            sha.update(plain)
            sink(plain)


# --------------------------------------------------------------------------- dumping


def sqlite_path(database_url: str) -> Path:
    return Path(database_url.removeprefix("sqlite://").split("?", 1)[0])


def _pg_parts(database_url: str) -> tuple[str, dict[str, str]]:
    """The database name, and the connection as libpq's environment: never the password on a
    command line, where any user of the machine could read it."""
    url = urlsplit(database_url)
    name = unquote(url.path.lstrip("/"))
    env = {**os.environ}
    for var, value in (
        ("PGHOST", url.hostname),
        ("PGPORT", str(url.port) if url.port else None),
        ("PGUSER", unquote(url.username) if url.username else None),
        ("PGPASSWORD", unquote(url.password) if url.password else None),
        ("PGDATABASE", name),
    ):
        if value:
            env[var] = value
    return name, env


def _pg_tool(settings: Settings, name: str) -> str:
    if settings.pg_bin_dir is not None:
        tool = settings.pg_bin_dir / name
        if not os.access(tool, os.X_OK):
            raise BackupError(f"{name} is not in GATEHOUSE_PG_BIN_DIR ({settings.pg_bin_dir})")
        return str(tool)
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return str(candidates[-1])
    raise BackupError(f"{name} not found: install the PostgreSQL client, or name its directory in GATEHOUSE_PG_BIN_DIR")


def _tail(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:300]


@contextlib.contextmanager
def _removed_after(path: Path) -> Iterator[Path]:
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _private_file(path: Path) -> BinaryIO:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Hashing:
    """The output file, hashed and counted as it is written."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    sha256: str  # of the file


def _write_backup(settings: Settings, master: bytes, directory: Path, name: str, now: datetime) -> Written:
    """Dump the database and seal it into `directory/name` (a temporary name until it is whole)."""
    dialect = db.dialect_of(settings.database_url)
    final = directory / name
    partial = directory / f".{name}.partial"
    if final.exists():  # two by hand within a second: the first is not replaced
        raise BackupError(f"{final} already exists")
    with _removed_after(partial):
        with _private_file(partial) as raw:
            out = _Hashing(raw)

            def sealing(migration: str) -> _Sealing:
                header = Header(
                    format=FORMAT,
                    created_at=now.astimezone(UTC).isoformat(),
                    dialect=dialect,
                    migration=migration,
                    gatehouse_version=gatehouse_version(),
                    key_fingerprint=fingerprint(master),
                    salt=base64.b64encode(secrets.token_bytes(16)).decode(),
                )
                return _Sealing(out, master, header)

            if dialect == "sqlite":
                _dump_sqlite(settings, sealing)
            else:
                _dump_postgres(settings, sealing)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, final)
    _fsync_dir(directory)
    return Written(final, out.size, out.sha.hexdigest())


SNAPSHOT_STALE_SECONDS = 6 * 3600


def _dump_sqlite(settings: Settings, sealing: Callable[[str], _Sealing]) -> None:
    source_path = sqlite_path(settings.database_url)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path}")
    # The plain copy sits beside the database, never in the backup directory: that may be a mount
    # that is copied off site, and a run killed halfway would leave the database readable there.
    # What such a run left here is cleared by the next one.
    stem = f".{source_path.name}.backup-"
    for stale in source_path.parent.glob(stem + "*"):
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > SNAPSHOT_STALE_SECONDS:
                stale.unlink()
    snapshot = source_path.parent / f"{stem}{os.getpid()}-{secrets.token_hex(4)}"
    with _removed_after(snapshot):
        # SQLite's online backup: a consistent copy while the server goes on writing (WAL readers
        # and the writer do not wait for each other).
        _private_file(snapshot).close()
        with (
            contextlib.closing(sqlite3.connect(source_path, timeout=30)) as source,
            contextlib.closing(sqlite3.connect(snapshot)) as copy,
        ):
            source.backup(copy)
            # One self-contained file (no write-ahead log beside it) to seal.
            copy.execute("PRAGMA journal_mode=DELETE")
            try:
                row = copy.execute("SELECT max(name) FROM gatehouse_migration").fetchone()
            except sqlite3.OperationalError:
                row = None
        sealer = sealing(row[0] if row and row[0] else "")
        with open(snapshot, "rb") as f:
            while data := f.read(CHUNK):
                sealer.write(data)
        sealer.close()


def _pg_migration(settings: Settings, env: dict[str, str]) -> str:
    psql = _pg_tool(settings, "psql")
    done = subprocess.run(
        [psql, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", "SELECT max(name) FROM gatehouse_migration"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise BackupError(f"cannot read the database's migration level: {_tail(done.stderr)}")
    return done.stdout.decode().strip()


def _dump_postgres(settings: Settings, sealing: Callable[[str], _Sealing]) -> None:
    _, env = _pg_parts(settings.database_url)
    sealer = sealing(_pg_migration(settings, env))
    with tempfile.TemporaryFile() as errors:
        # The custom format: compressed, and pg_restore can take it back table by table.
        dump = subprocess.Popen(
            [_pg_tool(settings, "pg_dump"), "--format=custom", "--no-owner", "--no-privileges"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
        )
        assert dump.stdout is not None
        try:
            while data := dump.stdout.read(CHUNK):
                sealer.write(data)
        finally:
            dump.stdout.close()
            code = dump.wait()
        if code != 0:
            errors.seek(0)
            raise BackupError(f"pg_dump failed: {_tail(errors.read())}")
    sealer.close()


# --------------------------------------------------------------------------- runs


def file_name(kind: str, now: datetime) -> str:
    return f"gatehouse-{kind}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def _offsite(settings: Settings, path: Path) -> str:
    """Run the off-site command with the file as its last argument; "" when it worked."""
    argv = [*settings.backup_offsite_command, str(path)]
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=settings.backup_offsite_seconds, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {settings.backup_offsite_seconds} s"
    except OSError as exc:
        return f"cannot run {argv[0]}: {exc.strerror or exc}"
    if done.returncode != 0:
        why = _tail(done.stderr) or _tail(done.stdout)
        return f"exited {done.returncode}" + (f": {why}" if why else "")
    return ""


def _usable_directory(directory: Path) -> None:
    # Not created here: a backup disk that is not mounted must not quietly fill the system disk.
    if not directory.is_dir():
        raise BackupError(f"the backup directory {directory} does not exist (mount or create it)")


async def backup(settings: Settings, directory: Path, kind: str, now: datetime | None = None) -> BackupRun:
    """One backup into `directory`, then the off-site command (when set); the run is recorded
    either way. A failure is in the returned row (`ok` false, `error`), not raised."""
    assert kind in KINDS
    now = now or clock.now()
    started = time.monotonic()
    written: Written | None = None
    error = ""
    try:
        _usable_directory(directory)
        master = master_key(settings)
        written = await asyncio.to_thread(_write_backup, settings, master, directory, file_name(kind, now), now)
    except BackupError as exc:
        error = str(exc)
    except OSError as exc:
        error = f"cannot write the backup: {exc}"
    except Exception as exc:  # recorded, not lost: the point of the table is that failures show
        log.exception("backup failed")
        error = f"{type(exc).__name__}: {exc}"
    offsite_ok: bool | None = None
    offsite_error = ""
    if written is not None and settings.backup_offsite_command:
        offsite_error = await asyncio.to_thread(_offsite, settings, written.path)
        offsite_ok = not offsite_error
        if offsite_error:
            log.warning("backup %s: the off-site copy failed: %s", written.path.name, offsite_error)
    if error:
        log.warning("backup failed: %s", error)
    return await BackupRun.create(
        started_at=now,
        finished_at=now + timedelta(seconds=time.monotonic() - started),
        kind=kind,
        file_name=written.path.name if written else "",
        size=written.size if written else 0,
        sha256=written.sha256 if written else "",
        ok=written is not None,
        error=error[:_ERROR_CHARS],
        offsite_ok=offsite_ok,
        offsite_error=offsite_error[:_ERROR_CHARS],
    )


async def recent_runs(limit: int) -> list[BackupRun]:
    """The latest runs, newest first."""
    return await BackupRun.all().order_by("-started_at", "-id").limit(limit)


async def last_good_run(before: datetime | None = None) -> BackupRun | None:
    """The newest run that wrote a backup (for "no good backup in the last N days")."""
    query = BackupRun.filter(ok=True)
    if before is not None:
        query = query.filter(started_at__lte=before)
    return await query.order_by("-started_at", "-id").first()


# --------------------------------------------------------------------------- the schedule


def last_slot(settings: Settings, now: datetime) -> datetime:
    """The latest scheduled moment at or before `now` (GATEHOUSE_BACKUP_AT, site-local)."""
    tz = settings.tz
    local = now.astimezone(tz)
    hh, mm = (int(part) for part in settings.backup_at.split(":"))
    day = local.date()
    slot = datetime.combine(day, clock_time(hh, mm), tzinfo=tz)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=1), clock_time(hh, mm), tzinfo=tz)
    return slot.astimezone(UTC)


def _is_ours(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def prune(directory: Path, keep_daily: int, keep_weekly: int) -> list[str]:
    """Delete the oldest daily and weekly backups beyond what is kept; manual ones and any file
    this feature did not write stay. Returns the names deleted."""
    found: dict[str, list[tuple[str, Path]]] = {"daily": [], "weekly": []}
    for path in directory.iterdir():
        m = NAME.match(path.name)
        if m and m.group(1) in found and path.is_file() and _is_ours(path):
            found[m.group(1)].append((m.group(2), path))
    deleted: list[str] = []
    for kind, keep in (("daily", keep_daily), ("weekly", keep_weekly)):
        for _, path in sorted(found[kind], reverse=True)[keep:]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            deleted.append(path.name)
    return deleted


# --------------------------------------------------------------------------- verify and restore


def _check_payload_sqlite(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            result = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backup opens, but the database in it does not: {exc}") from None
    if not result or result[0] != "ok":
        raise BackupError(f"the backup opens, but the database in it is damaged: {result}")


def _check_payload_postgres(settings: Settings, path: Path) -> None:
    done = subprocess.run([_pg_tool(settings, "pg_restore"), "--list", str(path)], capture_output=True, timeout=600)
    if done.returncode != 0:
        raise BackupError(f"the backup opens, but pg_restore cannot read the dump in it: {_tail(done.stderr)}")


def verify(settings: Settings, path: Path, key_file: Path | None = None) -> str:
    """Open the whole file and check the database in it, changing nothing anywhere."""
    master = master_key(settings, key_file)
    header = read_header(path)
    with tempfile.TemporaryDirectory(prefix="gatehouse-verify-") as tmp:
        payload = Path(tmp) / "payload"
        with _private_file(payload) as out:
            _opened(path, master, out.write)
        if header.dialect == "sqlite":
            _check_payload_sqlite(payload)
        else:
            _check_payload_postgres(settings, payload)
    return f"{path.name}: good; {header.describe()}"


def _known_migration(header: Header) -> None:
    known = {p.name.split(".", 1)[0] for p in db.migration_files(header.dialect)}
    if header.migration and header.migration not in known:
        raise BackupError(
            f"this backup is at migration {header.migration}, which this Gatehouse does not know:"
            " restore it with the version that made it or a newer one"
        )


def _sqlite_has_data(path: Path) -> bool:
    for suffix in ("-wal", "-journal"):
        side = Path(f"{path}{suffix}")
        if side.exists() and side.stat().st_size > 0:
            return True
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return bool(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError:
        return True  # something that is not an empty database: not ours to overwrite


def _restore_sqlite(master: bytes, path: Path, target: Path) -> None:
    if _sqlite_has_data(target):
        raise BackupError(f"{target} already holds a database: restore only into an empty one (move it away first)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.restoring-{os.getpid()}"
    with _removed_after(partial):
        with _private_file(partial) as out:
            _opened(path, master, out.write)
            out.flush()
            os.fsync(out.fileno())
        _check_payload_sqlite(partial)
        if _sqlite_has_data(target):  # written to while this ran
            raise BackupError(f"{target} was written to during the restore; nothing was changed")
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{target}{suffix}").unlink()
        os.replace(partial, target)
    _fsync_dir(target.parent)


def _pg_tables(settings: Settings, env: dict[str, str]) -> int:
    done = subprocess.run(
        [
            _pg_tool(settings, "psql"),
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise BackupError(f"cannot reach the database to restore into: {_tail(done.stderr)}")
    return int(done.stdout.decode().strip() or 0)


def _restore_postgres(settings: Settings, master: bytes, path: Path) -> None:
    name, env = _pg_parts(settings.database_url)
    if _pg_tables(settings, env):
        raise BackupError(
            f"the database {name!r} already has tables: restore only into an empty one (createdb a new one)"
        )
    with tempfile.TemporaryDirectory(prefix="gatehouse-restore-") as tmp:
        payload = Path(tmp) / "payload"
        # Opened in full before pg_restore sees a byte: a damaged file changes nothing.
        with _private_file(payload) as out:
            _opened(path, master, out.write)
        done = subprocess.run(
            [
                _pg_tool(settings, "pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                name,
                str(payload),
            ],
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=24 * 3600,
        )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was restored: {_tail(done.stderr)}")


def restore(settings: Settings, path: Path, key_file: Path | None = None) -> str:
    """Put the backup into the (empty) database GATEHOUSE_DATABASE_URL names."""
    master = master_key(settings, key_file)
    header = read_header(path)
    dialect = db.dialect_of(settings.database_url)
    if header.dialect != dialect:
        raise BackupError(
            f"this is a backup of a {header.dialect} database; GATEHOUSE_DATABASE_URL names a {dialect} one"
        )
    _known_migration(header)
    if dialect == "sqlite":
        target = sqlite_path(settings.database_url)
        _restore_sqlite(master, path, target)
        where = str(target)
    else:
        _restore_postgres(settings, master, path)
        where = f"database {_pg_parts(settings.database_url)[0]!r}"
    text = f"restored {path.name} ({header.describe()}) into {where}"
    current: bytes | None = None
    with contextlib.suppress(BackupError):
        current = master_key(settings)
    if key_file is not None and master != current:
        text += f"\nnote: its personal data is sealed with key {header.key_fingerprint}: serve it with that key"
    return text
