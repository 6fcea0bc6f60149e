"""Access tokens: short-lived JWTs with the algorithm, audience and issuer pinned."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "gatehouse-api"
ISSUER = "gatehouse"


def issue_access_token(
    key: bytes, person_id: int, session_id: int, now: datetime, minutes: int
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
    return jwt.encode(claims, key, algorithm=ALGORITHM), expires


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
