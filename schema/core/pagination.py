"""Relay connections over id-ordered rows (newest first), with opaque keyset cursors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from schema.core.errors import bad_input

T = TypeVar("T")
MAX_PAGE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def encode_cursor(kind: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode()


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != kind or not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise ValueError
        return int(value)
    except ValueError:
        raise bad_input("`after` is not a cursor this list gave out") from None


def check_first(first: int) -> int:
    if first < 0 or first > MAX_PAGE:
        raise bad_input(f"`first` must be between 0 and {MAX_PAGE}")
    return first


R = TypeVar("R")


def page_of(
    rows: list[R], first: int, kind: str, node: Callable[[R], T], key: Callable[[R], int] | None = None
) -> Connection[T]:
    """A page from up to first + 1 rows (the extra one only says there is more), newest first."""
    key_of = key or (lambda r: r.id)  # type: ignore[attr-defined]
    edges = [Edge(cursor=encode_cursor(kind, key_of(r)), node=node(r)) for r in rows[:first]]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None),
    )
