"""Face templates for an offline terminal, encrypted to the X25519 key it sent in `hello`.

The server never holds the terminal's private key (only the hash of its device secret), so the
block is sealed to the terminal alone: a fresh ephemeral X25519 key per block, the shared secret
through HKDF-SHA256 (salt: the ephemeral then the terminal's public key), AES-256-GCM with the
device id, the snapshot version and its `issuedAt` as associated data, so a block lifted into
another device's or another issue's snapshot does not open. The snapshot's Ed25519 signature
covers the block (it is a field of the signed snapshot).

The plaintext is JSON: {"matchDistance", "people": [{"personId", "name", "access", "template"}]}:
`matchDistance` the server's GATEHOUSE_FACE_MATCH_DISTANCE, `access` as a snapshot credential's
(gate ids, validity, schedules: a person may be enrolled with no pass at all), `template` the 128
numbers as little-endian float32, standard base64. Who has a face enrolled is itself sensitive,
so that list travels inside the encryption too.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM = "X25519-HKDF-SHA256-AES-256-GCM"
HKDF_INFO = b"gatehouse face templates v1"
KEY_BYTES = 32
NONCE_BYTES = 12


class BadFaceKey(ValueError):
    pass


def parse_device_key(text: object) -> bytes:
    """The terminal's X25519 public key from `hello.faceKey`: standard base64 of 32 bytes."""
    if not isinstance(text, str) or len(text) > 64:
        raise BadFaceKey("faceKey must be standard base64 of a 32-byte X25519 public key")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadFaceKey("faceKey must be standard base64 of a 32-byte X25519 public key") from None
    if len(raw) != KEY_BYTES:
        raise BadFaceKey(f"faceKey must be 32 bytes (an X25519 public key), got {len(raw)}")
    if raw == bytes(KEY_BYTES):
        # The all-zero point gives an all-zero shared secret: anyone could open the block.
        raise BadFaceKey("faceKey is not a usable X25519 public key")
    return raw


def associated_data(device_id: int | str, version: int, issued_at: str) -> bytes:
    return f"gatehouse-face-templates|device={device_id}|version={version}|issuedAt={issued_at}".encode()


def _key(shared: bytes, ephemeral: bytes, device_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + device_key, info=HKDF_INFO).derive(shared)


def pack(
    entries: Iterable[tuple[int, str, list[dict[str, Any]], npt.NDArray[np.float64]]], match_distance: float
) -> tuple[bytes, int]:
    people = [
        {
            "personId": str(person_id),
            "name": name,
            "access": access,
            "template": base64.b64encode(np.asarray(template, dtype="<f4").tobytes()).decode(),
        }
        for person_id, name, access, template in entries
    ]
    body = {"matchDistance": match_distance, "people": people}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), len(people)


def seal(device_key: bytes, plaintext: bytes, count: int, aad: bytes) -> dict[str, object]:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_pub = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(device_key))
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(_key(shared, ephemeral_pub, device_key)).encrypt(nonce, plaintext, aad)
    return {
        "algorithm": ALGORITHM,
        "ephemeralKey": base64.b64encode(ephemeral_pub).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "count": count,
    }
