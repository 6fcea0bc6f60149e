"""The backup file (README "Backups"): MAGIC, a 4-byte header length, a JSON header (format,
when, dialect, migration level, version, the key's fingerprint and a random salt; never the key),
then the dump in AES-256-GCM chunks.

Each chunk's associated data binds the header's digest, its index and whether it is the last, so
a changed header, a swapped, dropped or cut chunk fails to open; the last chunk holds the SHA-256
of the whole dump. The key is derived from the master key with HKDF and the file's salt, so every
file has a key of its own (chunk nonces are then just their index). The master key is never in a
backup: without it a backup is useless, which is why it must be kept elsewhere. Data goes through
in chunks: a large database is never held in memory.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from resolvers.core.crypto import KeyError_, load_master_key
from resolvers.core.settings import Settings

MAGIC = b"GHBACKUP"
FORMAT = 1
CHUNK = 1 << 20  # plaintext bytes per encrypted chunk
_TAG = 16
_PURPOSE = b"gatehouse/backup/v1"
_FINGERPRINT_PURPOSE = b"gatehouse/key-fingerprint/v1"
_MAX_HEADER = 64 * 1024


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


class Sealing:
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


def open_into(path: Path, master: bytes, sink: Callable[[bytes], object]) -> Header:
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
