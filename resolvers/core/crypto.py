"""Keys and primitives: AES-GCM for personal data, keyed hashes for look-ups.

One master key lives outside the database (GATEHOUSE_SECRET_KEY or a key file);
every purpose gets its own subkey through HKDF, so a leak of one use does not
hand over another. The master key can be replaced (`gatehouse rotate-key`, README "Keys"):
what must outlive it is kept wrapped under it in the database (STABLE_KEYS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# A sealed blob starts with its version. v1 (before key rotation existed): version, nonce,
# ciphertext, sealed under whichever master key was in use. v2: version, the id of the master key
# it is sealed under, nonce, ciphertext, so a process holding two keys (during a rotation) knows
# which one opens it, and `gatehouse rotate-key` knows which rows still need re-sealing.
log = logging.getLogger("gatehouse.keys")

_V1 = b"\x01"
_V2 = b"\x02"
KEY_ID_BYTES = 8
_NONCE = 12

# Key material that outlives a master key: what is printed (item labels, visitor badges), held by
# devices (the snapshot verify key, device secrets) or cannot be recomputed (recovery codes are
# kept only as keyed hashes). Created once from the master key in use (the same HKDF derivation
# as before, so nothing printed or issued changes), then kept wrapped under the current master
# key in the database (resolvers/core/key_store.py) and re-wrapped by a rotation.
# `face` seals face templates (README "Faces"): a key of its own, not the personal-data key, so
# the biometric templates can be handed to a terminal or destroyed apart from the rest.
STABLE_KEYS = ("device", "badge", "snapshot_seed", "label", "recovery_code", "face")
# The look-up key watchlist entries from before migration 0020 were hashed with (they keep only
# the hash): kept while such an entry is in force, so the watchlist never stops matching.
LEGACY_WATCHLIST = "watchlist_legacy"


class KeyError_(ValueError):
    """The master key is missing or malformed."""


def parse_master_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise KeyError_(f"{what} must be 32 bytes in standard base64")
    return raw


def encode_master_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def load_master_key(secret_key: str | None, key_file: Path) -> bytes:
    """Read the master key, creating a key file on first run if none is set."""
    if secret_key:
        return parse_master_key(secret_key, "GATEHOUSE_SECRET_KEY")
    if key_file.exists():
        return parse_master_key(key_file.read_text(), f"{key_file} (the key file)")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    raw = secrets.token_bytes(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(encode_master_key(raw) + "\n")
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


def key_id(master: bytes) -> str:
    """A master key's public name (hex): in sealed blobs, JWT `kid` headers and wrapped keys."""
    return _derive(master, "gatehouse/key-id/v1")[:KEY_ID_BYTES].hex()


@dataclass(frozen=True)
class Keys:
    jwt: bytes
    data: bytes
    lookup: bytes
    device: bytes
    badge: bytes
    snapshot_seed: bytes
    label: bytes
    # The master key's id: the JWT `kid` and the key id in sealed blobs.
    kid: str = ""
    recovery_code: bytes = b""
    face: bytes = b""

    @classmethod
    def from_master(cls, master: bytes) -> Keys:
        lookup = _derive(master, "gatehouse/lookup/v1")
        return cls(
            jwt=_derive(master, "gatehouse/jwt/v1"),
            data=_derive(master, "gatehouse/data/v1"),
            lookup=lookup,
            device=_derive(master, "gatehouse/device-secret/v1"),
            badge=_derive(master, "gatehouse/badge/v1"),
            snapshot_seed=_derive(master, "gatehouse/snapshot-signing/v1"),
            label=_derive(master, "gatehouse/item-label/v1"),
            kid=key_id(master),
            recovery_code=lookup,
            face=_derive(master, "gatehouse/face-template/v1"),
        )

    def stable(self) -> dict[str, bytes]:
        """The first values of the keys that outlive this master key (STABLE_KEYS)."""
        return {name: getattr(self, name) for name in STABLE_KEYS}


def wrap_key(master: bytes, name: str, key: bytes) -> bytes:
    """`key` encrypted under `master` (AES-GCM, its name bound in), to be stored in the database."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(_derive(master, "gatehouse/wrap/v1")).encrypt(nonce, key, f"key:{name}".encode())


def unwrap_key(master: bytes, name: str, wrapped: bytes) -> bytes:
    return AESGCM(_derive(master, "gatehouse/wrap/v1")).decrypt(
        wrapped[:_NONCE], wrapped[_NONCE:], f"key:{name}".encode()
    )


class KeySource:
    """Where the master keys come from: GATEHOUSE_SECRET_KEY (with GATEHOUSE_PREVIOUS_SECRET_KEY
    during a rotation), else the key file and, during a rotation, `<key file>.previous`."""

    def __init__(self, secret_key: str | None, key_file: Path, previous_secret_key: str | None = None) -> None:
        self.secret_key = secret_key
        self.previous_secret_key = previous_secret_key
        self.key_file = key_file

    @property
    def from_env(self) -> bool:
        return bool(self.secret_key)

    @property
    def previous_file(self) -> Path:
        return self.key_file.with_name(self.key_file.name + ".previous")

    def signature(self) -> tuple[object, ...]:
        """Changes whenever the key files do (a rename gives a new inode)."""
        if self.from_env:
            return ()
        out: list[object] = []
        for path in (self.key_file, self.previous_file):
            try:
                st = path.stat()
            except FileNotFoundError:
                out.append(None)
            else:
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def read(self, create: bool = False) -> list[bytes]:
        """The current master key first, then the one being retired (if any)."""
        if self.from_env:
            masters = [load_master_key(self.secret_key, self.key_file)]
            if self.previous_secret_key:
                masters.append(parse_master_key(self.previous_secret_key, "GATEHOUSE_PREVIOUS_SECRET_KEY"))
        else:
            if not create and not self.key_file.exists():
                raise KeyError_(f"the key file {self.key_file} is missing")
            masters = [load_master_key(None, self.key_file)]
            if self.previous_file.exists():
                masters.append(parse_master_key(self.previous_file.read_text(), f"{self.previous_file}"))
        return masters


class KeyRing:
    """The keys this process holds. The current master key seals, signs and hashes; a previous one
    (only during a rotation) still opens what is not re-sealed yet. The stable keys and the JWT
    keys in their grace period come from the database (resolvers/core/key_store.py); until then
    the stable keys are the current master's derivation (what a new database starts with)."""

    def __init__(self, masters: list[bytes], source: KeySource | None = None) -> None:
        self.source = source
        self._signature = source.signature() if source else ()
        self.stable: dict[str, bytes] = {}
        self.legacy_watchlist: bytes | None = None
        # JWT keys of retired master keys: kid -> (key, accepted until).
        self.grace_jwt: dict[str, tuple[bytes, datetime]] = {}
        self._set(masters)
        self.stable = self.current.stable()
        self._refresh_keys()

    @classmethod
    def from_source(cls, source: KeySource) -> KeyRing:
        return cls(source.read(create=True), source)

    @classmethod
    def of_keys(cls, keys: Keys) -> KeyRing:
        """A fixed ring of derived keys alone (tools that seal with a known key, such as bench/)."""
        ring = cls.__new__(cls)
        ring.source = None
        ring._signature = ()
        ring.masters = {}
        ring.current_id = keys.kid
        ring._derived = {keys.kid: keys}
        ring._aeads = {keys.kid: AESGCM(keys.data)}
        ring.stable = keys.stable()
        ring.legacy_watchlist = None
        ring.grace_jwt = {}
        ring.keys = keys
        return ring

    def _set(self, masters: list[bytes]) -> None:
        self.masters: dict[str, bytes] = {}
        for m in masters:
            self.masters.setdefault(key_id(m), m)
        self.current_id = key_id(masters[0])
        self._derived = {kid: Keys.from_master(m) for kid, m in self.masters.items()}
        self._aeads = {kid: AESGCM(k.data) for kid, k in self._derived.items()}

    def _refresh_keys(self) -> None:
        st = self.stable
        self.keys = replace(
            self._derived[self.current_id],
            device=st["device"],
            badge=st["badge"],
            snapshot_seed=st["snapshot_seed"],
            label=st["label"],
            recovery_code=st["recovery_code"],
            face=st["face"],
        )

    def set_stable(self, stable: dict[str, bytes], legacy_watchlist: bytes | None) -> None:
        self.stable = {name: stable[name] for name in STABLE_KEYS}
        self.legacy_watchlist = legacy_watchlist
        self._refresh_keys()

    @property
    def current(self) -> Keys:
        return self._derived[self.current_id]

    @property
    def previous(self) -> dict[str, Keys]:
        """The keys of the master keys being retired (during a rotation), by key id."""
        return {kid: keys for kid, keys in self._derived.items() if kid != self.current_id}

    @property
    def current_master(self) -> bytes:
        return self.masters[self.current_id]

    def reload_if_changed(self) -> bool:
        """Read the key files again if they changed (a stat, cheap enough for every seal). A file
        caught half-way through a rotation, or unreadable, leaves the keys as they were."""
        if self.source is None or self.source.from_env:
            return False
        signature = self.source.signature()
        if signature == self._signature:
            return False
        try:
            masters = self.source.read()
        except (OSError, ValueError) as exc:
            # Not marked as read: the next look tries again (and says so again).
            log.warning("the key files changed but cannot be read (%s); the keys in use stay", exc)
            return False
        self._signature = signature
        self._set(masters)
        self._refresh_keys()
        return True

    def aead(self, kid: str) -> AESGCM | None:
        return self._aeads.get(kid)

    def all_aeads(self) -> list[AESGCM]:
        return [self._aeads[self.current_id]] + [a for kid, a in self._aeads.items() if kid != self.current_id]

    def jwt_signing(self) -> tuple[str, bytes]:
        self.reload_if_changed()
        return self.current_id, self.current.jwt

    def jwt_keys(self, kid: str | None, now: datetime) -> list[bytes] | None:
        """The keys a token with this `kid` may be signed with; None for a kid this process does
        not know (it may look again: a rotation may have started elsewhere)."""
        in_grace = [key for key, until in self.grace_jwt.values() if until > now]
        if kid is None:  # issued before tokens carried a kid
            return [self.current.jwt, *in_grace]
        if kid == self.current_id:
            return [self.current.jwt]
        grace = self.grace_jwt.get(kid)
        if grace is not None:
            return [grace[0]] if grace[1] > now else []
        return None


class Sealer:
    """Encrypts personal data at rest; the column name is bound in as associated data."""

    def __init__(self, keys: Keys | KeyRing) -> None:
        if isinstance(keys, Keys):
            keys = KeyRing.of_keys(keys)
        self.ring = keys

    def seal(self, plaintext: str | bytes, purpose: str) -> bytes:
        self.ring.reload_if_changed()  # never seal under a key a rotation has just retired
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = secrets.token_bytes(_NONCE)
        kid = self.ring.current_id
        aead = self.ring.aead(kid)
        assert aead is not None
        return _V2 + bytes.fromhex(kid) + nonce + aead.encrypt(nonce, data, purpose.encode())

    @staticmethod
    def key_id_of(sealed: bytes) -> str | None:
        """The id of the master key a v2 blob is sealed under; None for a v1 blob."""
        if sealed[:1] == _V2 and len(sealed) > 1 + KEY_ID_BYTES:
            return sealed[1 : 1 + KEY_ID_BYTES].hex()
        return None

    def open(self, sealed: bytes, purpose: str) -> bytes:
        if not sealed or sealed[:1] not in (_V1, _V2):
            raise ValueError("unknown sealed-data version")
        if sealed[:1] == _V1:
            # Sealed before blobs named their key: by the key in use then, which is the current
            # one, or (during the first rotation) the previous one.
            body = sealed[1:]
            for held in self.ring.all_aeads():
                try:
                    return held.decrypt(body[:_NONCE], body[_NONCE:], purpose.encode())
                except InvalidTag:
                    continue
            raise ValueError("sealed data that no key held opens")
        kid = sealed[1 : 1 + KEY_ID_BYTES].hex()
        aead = self.ring.aead(kid)
        if aead is None and self.ring.reload_if_changed():
            aead = self.ring.aead(kid)  # a rotation started since this process last looked
        if aead is None:
            raise ValueError(f"sealed under key {kid}, which this process does not hold")
        body = sealed[1 + KEY_ID_BYTES :]
        return aead.decrypt(body[:_NONCE], body[_NONCE:], purpose.encode())

    def open_text(self, sealed: bytes, purpose: str) -> str:
        return self.open(sealed, purpose).decode()

    def lookup_hash(self, value: str, purpose: str) -> str:
        """A keyed hash to find a row by a secret value without storing the value."""
        return _keyed(self.ring.keys.lookup, value, purpose)

    def lookup_hashes(self, value: str, purpose: str) -> list[str]:
        """Every hash a row for `value` may carry now: the current look-up key's and, while a
        rotation re-keys the rows, the previous master key's (so a look-up finds a row either way)."""
        return [self.lookup_hash(value, purpose)] + [
            _keyed(k.lookup, value, purpose) for k in self.ring.previous.values()
        ]

    def watchlist_hashes(self, value: str, purpose: str) -> list[str]:
        """The hashes a watchlist entry for `value` may be stored under: `lookup_hashes`, and the
        pre-migration-0020 look-up key's while entries that kept only that hash are in force."""
        hashes = self.lookup_hashes(value, purpose)
        if self.ring.legacy_watchlist is not None:
            hashes.append(_keyed(self.ring.legacy_watchlist, value, purpose))
        return hashes

    def recovery_code_hash(self, value: str, purpose: str) -> str:
        """Recovery codes are kept only as this hash, so its key outlives rotations (STABLE_KEYS)."""
        return _keyed(self.ring.keys.recovery_code, value, purpose)

    def device_secret_hash(self, secret: str) -> str:
        return hmac.new(self.ring.keys.device, secret.encode(), hashlib.sha256).hexdigest()


def _keyed(key: bytes, value: str, purpose: str) -> str:
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


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
