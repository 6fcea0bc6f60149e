"""Checks on what people type, each raising a UserError that names the field."""

from __future__ import annotations

import re
from datetime import datetime

from resolvers.core import clock
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import IdentityDocument

_PRC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PRC_CHECK = "10X98765432"
_PHONE_RE = re.compile(r"\+?[0-9]{6,20}")
_USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")


def name(value: str, field: str, max_length: int = 200) -> str:
    cleaned = " ".join(value.split()) if isinstance(value, str) else ""
    if not cleaned:
        raise UserError(ErrorCode.INVALID, "must not be empty", field)
    if len(cleaned) > max_length:
        raise UserError(ErrorCode.INVALID, f"must be at most {max_length} characters", field)
    return cleaned


def username(value: str, field: str = "username") -> str:
    if not isinstance(value, str) or not _USERNAME_RE.fullmatch(value):
        raise UserError(
            ErrorCode.INVALID,
            "2–64 letters, digits, dots, dashes or underscores, starting with a letter or digit",
            field,
        )
    return value.lower()


def prc_id_problem(value: str) -> str | None:
    """Why an 18-character PRC resident ID number is invalid, or None when it is valid."""
    if (
        len(value) != 18
        or not value.isascii()
        or not value[:17].isdigit()
        or not (value[17].isdigit() or value[17] == "X")
    ):
        return "must be 18 characters: 17 digits and a check digit (0-9 or X)"
    try:
        born = datetime.strptime(value[6:14], "%Y%m%d").date()
    except ValueError:
        return "has no valid date of birth"
    if born.year < 1900 or born > clock.now().date():
        return "has no valid date of birth"
    total = sum(int(d) * w for d, w in zip(value[:17], _PRC_WEIGHTS, strict=True))
    if _PRC_CHECK[total % 11] != value[17]:
        return "check digit does not match"
    return None


def identity_number(value: str, document: IdentityDocument, field: str = "idNumber") -> str:
    cleaned = value.strip().upper() if isinstance(value, str) else ""
    if not cleaned:
        raise UserError(ErrorCode.INVALID, "must not be empty", field)
    if document is IdentityDocument.ID_CARD:
        problem = prc_id_problem(cleaned)
        if problem:
            raise UserError(ErrorCode.INVALID, f"ID card number {problem}", field)
    elif len(cleaned) < 4 or len(cleaned) > 64 or not cleaned.replace("-", "").isalnum():
        raise UserError(ErrorCode.INVALID, "document number must be 4–64 letters or digits", field)
    return cleaned


def phone(value: str, field: str = "phone") -> str:
    cleaned = re.sub(r"[\s\-()]", "", value) if isinstance(value, str) else ""
    if not _PHONE_RE.fullmatch(cleaned):
        raise UserError(ErrorCode.INVALID, "must be a phone number of 6–20 digits, optionally starting with +", field)
    return cleaned


def last4(value: str, field: str) -> str:
    cleaned = value.strip().upper() if isinstance(value, str) else ""
    if len(cleaned) != 4 or not cleaned.isalnum():
        raise UserError(ErrorCode.INVALID, "must be the last 4 characters of the document number", field)
    return cleaned


def window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise UserError(ErrorCode.INVALID, "must be after validFrom", "validUntil")
