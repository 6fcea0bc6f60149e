"""Access tokens: short-lived JWTs with the algorithm, audience and issuer pinned, and a `kid`
header naming the master key whose JWT key signed them (README "Keys")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "gatehouse-api"
ISSUER = "gatehouse"


def issue_access_token(
    key: bytes, person_id: int, session_id: int, now: datetime, minutes: int, kid: str | None = None
) -> tuple[str, datetime]:
    expires = now + timedelta(minutes=minutes)
    claims = {
        "sub": str(person_id),
        "sid": session_id,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "typ": "access",
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers=headers), expires


def token_kid(token: str) -> str | None:
    """The `kid` header of a token (unverified: it only picks the key to verify with)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None


def read_access_token_with(keys: Callable[[str | None], list[bytes] | None], token: str) -> tuple[int, int] | None:
    """`read_access_token` with the key chosen by the token's `kid` (`keys` gives the candidates)."""
    for key in keys(token_kid(token)) or []:
        ids = read_access_token(key, token)
        if ids is not None:
            return ids
    return None


def read_access_token(key: bytes, token: str) -> tuple[int, int] | None:
    """(person id, session id) of a valid token, else None."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "sid", "aud", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    try:
        return int(claims["sub"]), int(claims["sid"])
    except (TypeError, ValueError):
        return None
