"""Every row of contracts/PASS_TOKEN.md's test vectors, against api.passtoken."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken

SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
PUBLIC_B64 = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
CID = "AERUKZ4JVPG66AJD"
TOKEN = (
    "GH1:AERUKZ4JVPG66AJD:119666666:JE672J5FMMSTMWYPLQKMTL52EK2DTAJE2PDFFPNAIEXPS4RJ66ZQCOZJWHFXSVZBNIXEEJEHREM"
    "642BUOI5CBSU62HJRBPUV23RZ4CA"
)
WRONG_KEY_TOKEN = (
    "GH1:AERUKZ4JVPG66AJD:119666666:2V7VA76X5PNO4CL6S2PZPXVCWMIWG2GKDFIZRUVWX3ADH7T5AHVEUU575T2AM3PDPBYQ5DOWGBVNA"
    "ECXKXU4OAR7NRVFGK2LW3HR6AI"
)
NEXT_STEP_TOKEN = (
    "GH1:AERUKZ4JVPG66AJD:119666667:2VFDSYFS2H7LSO7R5CP23IBQJ7SKT3S5GE3CQMQHZVEDTVUWFIHGA7RZSQZVWQYV34WQH4MKUI4UU32"
    "HGMOISK3VLCY3XC4EA6MA6BA"
)


def public_key() -> bytes:
    return base64.b64decode(PUBLIC_B64)


def test_key_and_credential_id_encodings() -> None:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.b64encode(raw).decode() == PUBLIC_B64
    assert passtoken.b32encode(bytes.fromhex("0123456789abcdef0123")) == CID
    assert passtoken.decode_public_key(PUBLIC_B64) == raw


def test_signing_reproduces_the_vector() -> None:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    assert passtoken.current_step(1795000000, 15) == 119666666
    assert passtoken.sign(CID, 119666666, key) == TOKEN
    assert len(TOKEN) == 134


@pytest.mark.parametrize(
    ("at", "token", "expected"),
    [
        (1795000000, TOKEN, "ok"),
        (1795000015, TOKEN, "ok"),
        (1795000031, TOKEN, "expired"),
        (1794999969, TOKEN, "not_yet_valid"),
        (1795000000, TOKEN[:-1] + "B", "malformed"),
        (1795000000, WRONG_KEY_TOKEN, "bad_signature"),
        (1795000015, NEXT_STEP_TOKEN, "ok"),
    ],
)
def test_vector(at: int, token: str, expected: str) -> None:
    assert passtoken.check(token, public_key(), at) == expected


@pytest.mark.parametrize(
    "token",
    [
        "",
        TOKEN + "\n",
        " " + TOKEN,
        TOKEN.lower(),
        TOKEN.replace(":119666666:", ":0119666666:"),  # leading zero
        TOKEN.replace("GH1:", "GH2:"),
        TOKEN[:-2],
        "GH1:AERUKZ4JVPG66AJD:119666666",
        "GH1:AERUKZ4JVPG66AJ1:119666666:" + TOKEN.rsplit(":", 1)[1],  # '1' is not base32
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert passtoken.parse(token) is None
    assert passtoken.check(token, public_key(), 1795000000) == "malformed"


def test_non_canonical_credential_id_is_malformed() -> None:
    # The cid's last base32 character carries no spare bits (80 bits = 16 chars), but the
    # signature's does: flipping a spare bit keeps the bytes and changes the text.
    sig = TOKEN.rsplit(":", 1)[1]
    assert passtoken.parse(TOKEN.rsplit(":", 1)[0] + ":" + sig[:-1] + "D") is None


def test_valid_until_is_the_end_of_the_next_step() -> None:
    # Accepted through step + 1: the last instant is one second before step + 2 begins.
    last = passtoken.valid_until_unix(119666666, 15)
    assert passtoken.check(TOKEN, public_key(), last) == "ok"
    assert passtoken.check(TOKEN, public_key(), last + 1) == "expired"


@pytest.mark.parametrize("text", ["", "AAAA", PUBLIC_B64.rstrip("="), PUBLIC_B64 + "=", "A" * 44, "*" * 44])
def test_public_key_encoding_is_strict(text: str) -> None:
    assert passtoken.decode_public_key(text) is None


def test_base32_decoding_agrees_with_the_standard_library() -> None:
    # The decoder runs through int(..., 32) (issue 13): it must accept and refuse exactly what
    # base64.b32decode plus the canonical re-encoding check did, bytes included.
    import base64
    import random

    def reference(text: str, size: int) -> bytes | None:
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except ValueError:
            return None
        return raw if len(raw) == size and passtoken.b32encode(raw) == text else None

    rng = random.Random(13)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    for _ in range(20_000):
        size = rng.choice((10, 64, 1, 3, 0))
        chars = list(passtoken.b32encode(rng.randbytes(size)))
        for _ in range(rng.randint(0, 3)):
            roll = rng.random()
            if roll < 0.5 and chars:
                chars[rng.randrange(len(chars))] = rng.choice(alphabet + "0189az=_ \n")
            elif roll < 0.75:
                chars.append(rng.choice(alphabet + "="))
            elif chars:
                chars.pop()
        text = "".join(chars)
        assert passtoken._b32decode_canonical(text, size) == reference(text, size), (text, size)
