"""Keys and primitives: AES-GCM for personal data, keyed hashes for look-ups.

One master key lives outside the database (GATEHOUSE_SECRET_KEY or a key file);
every purpose gets its own subkey through HKDF, so a leak of one use does not
hand over another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"


class KeyError_(ValueError):
    """The master key is missing or malformed."""


def load_master_key(secret_key: str | None, key_file: Path) -> bytes:
    """Read the master key, creating a key file on first run if none is set."""
    if secret_key:
        try:
            raw = base64.b64decode(secret_key, validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise KeyError_("GATEHOUSE_SECRET_KEY must be 32 bytes in standard base64")
        return raw
    if key_file.exists():
        try:
            raw = base64.b64decode(key_file.read_text().strip())
        except ValueError:  # bad padding or characters: the same clear error as a wrong length
            raw = b""
        if len(raw) != 32:
            raise KeyError_(f"{key_file} does not hold a 32-byte base64 key")
        return raw
    key_file.parent.mkdir(parents=True, exist_ok=True)
    raw = secrets.token_bytes(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(raw).decode() + "\n")
    return raw


def master_key_problem(secret_key: str | None, key_file: Path) -> str | None:
    """What would stop load_master_key, found without creating anything: the CLI asks before it
    creates or migrates a database, so a bad key is one line rather than a traceback after a new
    database was made with no key to read it."""
    if secret_key:
        try:
            raw = base64.b64decode(secret_key, validate=True)
        except ValueError:
            raw = b""
        return None if len(raw) == 32 else "GATEHOUSE_SECRET_KEY must be 32 bytes in standard base64"
    if key_file.exists():
        try:
            text = key_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            return f"GATEHOUSE_KEY_FILE {str(key_file)!r} cannot be read: {getattr(exc, 'strerror', None) or exc}"
        try:
            raw = base64.b64decode(text)  # as leniently as load_master_key reads it
        except ValueError:
            raw = b""
        return None if len(raw) == 32 else f"GATEHOUSE_KEY_FILE {str(key_file)!r} does not hold a 32-byte base64 key"
    # First start: the file will be created; its directory (or the nearest existing parent) must be writable.
    parent = key_file.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"GATEHOUSE_KEY_FILE {str(key_file)!r} cannot be created: {str(parent)!r} is not a writable directory"
    return None


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


@dataclass(frozen=True)
class Keys:
    jwt: bytes
    data: bytes
    lookup: bytes
    device: bytes
    badge: bytes
    snapshot_seed: bytes
    label: bytes

    @classmethod
    def from_master(cls, master: bytes) -> Keys:
        return cls(
            jwt=_derive(master, "gatehouse/jwt/v1"),
            data=_derive(master, "gatehouse/data/v1"),
            lookup=_derive(master, "gatehouse/lookup/v1"),
            device=_derive(master, "gatehouse/device-secret/v1"),
            badge=_derive(master, "gatehouse/badge/v1"),
            snapshot_seed=_derive(master, "gatehouse/snapshot-signing/v1"),
            label=_derive(master, "gatehouse/item-label/v1"),
        )


class Sealer:
    """Encrypts personal data at rest; the column name is bound in as associated data."""

    def __init__(self, keys: Keys) -> None:
        self._aead = AESGCM(keys.data)
        self._lookup = keys.lookup
        self._device = keys.device

    def seal(self, plaintext: str | bytes, purpose: str) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = secrets.token_bytes(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        if not sealed or sealed[:1] != _VERSION:
            raise ValueError("unknown sealed-data version")
        return self._aead.decrypt(sealed[1:13], sealed[13:], purpose.encode())

    def open_text(self, sealed: bytes, purpose: str) -> str:
        return self.open(sealed, purpose).decode()

    def lookup_hash(self, value: str, purpose: str) -> str:
        """A keyed hash to find a row by a secret value without storing the value."""
        msg = f"{purpose}\x00{value}".encode()
        return hmac.new(self._lookup, msg, hashlib.sha256).hexdigest()

    def device_secret_hash(self, secret: str) -> str:
        return hmac.new(self._device, secret.encode(), hashlib.sha256).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def mask(value: str, head: int = 3, tail: int = 4) -> str:
    """Show at most `head` leading and `tail` trailing characters."""
    if len(value) <= tail:
        return "*" * len(value)
    head = min(head, max(0, len(value) - tail - 1))
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]
