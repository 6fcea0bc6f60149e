"""Pass token v1 (contracts/PASS_TOKEN.md): format, signing and the stateless checks.

Pure functions: no database, no clock of their own. The scan path calls them with
the credential it looked up and the current time.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "GH1"
DEFAULT_PERIOD = 15
SKEW_STEPS = 1
_TOKEN_RE = re.compile(r"GH1:([A-Z2-7]{16}):([0-9]{1,12}):([A-Z2-7]{103})")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    cid: str
    step: int
    signature: bytes
    signed_part: bytes


_B32_TEXT = re.compile(r"[A-Z2-7]*")
# RFC 4648 base32's alphabet as the digits of Python's int(..., 32): the decoding then runs in C
# (base64.b32decode is a Python loop per character: ~5% of the server's CPU per scan, issue 13).
_B32_AS_DIGITS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


def _b32decode_canonical(text: str, expected_len: int) -> bytes | None:
    """The bytes of unpadded base32 `text` when it is the one text that encodes `expected_len`
    bytes (the length fits and the spare bits of its last character are zero); else None."""
    spare = len(text) * 5 - expected_len * 8
    if not 0 <= spare < 5 or _B32_TEXT.fullmatch(text) is None:
        return None
    n = int(text.translate(_B32_AS_DIGITS) or "0", 32)
    if n & ((1 << spare) - 1):
        return None  # non-zero spare bits: same bytes, another text
    return (n >> spare).to_bytes(expected_len, "big")


def b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def parse(token: str) -> ParsedToken | None:
    """The token's parts, or None when it is `malformed`."""
    if not isinstance(token, str):
        return None
    m = _TOKEN_RE.fullmatch(token)
    if m is None:
        return None
    cid, step_text, sig_text = m.groups()
    if str(int(step_text)) != step_text:
        return None  # leading zeros
    if _b32decode_canonical(cid, 10) is None:
        return None
    signature = _b32decode_canonical(sig_text, 64)
    if signature is None:
        return None
    signed = f"{PREFIX}:{cid}:{step_text}".encode()
    return ParsedToken(cid=cid, step=int(step_text), signature=signature, signed_part=signed)


def current_step(unix_seconds: float, period: int) -> int:
    return int(unix_seconds // period)


def step_window(step: int, unix_seconds: float, period: int) -> str | None:
    """`expired`, `not_yet_valid` or None when the step is within ±1 of now."""
    current = current_step(unix_seconds, period)
    if step < current - SKEW_STEPS:
        return "expired"
    if step > current + SKEW_STEPS:
        return "not_yet_valid"
    return None


def verify_signature(parsed: ParsedToken, public_key: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(parsed.signature, parsed.signed_part)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(cid: str, step: int, private_key: Ed25519PrivateKey) -> str:
    signed = f"{PREFIX}:{cid}:{step}"
    return f"{signed}:{b32encode(private_key.sign(signed.encode()))}"


def valid_until_unix(step: int, period: int) -> int:
    """The last instant a gate accepts the token: the end of step + 1."""
    return (step + 1 + SKEW_STEPS) * period - 1


def new_cid() -> str:
    return b32encode(secrets.token_bytes(10))


def decode_public_key(text: str) -> bytes | None:
    """Raw 32-byte Ed25519 key in padded standard base64 (44 characters), else None."""
    if not isinstance(text, str) or len(text) != 44:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    if len(raw) != 32 or base64.b64encode(raw).decode() != text:
        return None
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None
    return raw


def check(token: str, public_key: bytes, unix_seconds: float, period: int = DEFAULT_PERIOD) -> str:
    """Stateless verification of one token against one key: `ok` or the first failure.

    The server's scan path interleaves these checks with its credential look-up and
    revocation check (see resolvers/scan/decision.py); this helper is what a gate
    offline, a test vector or the reference agent uses.
    """
    parsed = parse(token)
    if parsed is None:
        return "malformed"
    window = step_window(parsed.step, unix_seconds, period)
    if window is not None:
        return window
    if not verify_signature(parsed, public_key):
        return "bad_signature"
    return "ok"
