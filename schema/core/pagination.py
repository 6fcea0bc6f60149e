"""Relay connections over keyset pages, with opaque cursors and a full PageInfo.

A root list that can grow is a connection: `first` (at most MAX_PAGE) and `after`, answered
from up to `first + 1` rows (the extra row only says there is a next page). The cursor wraps
the row's key (usually its id) with the list's kind, so a cursor of one list is refused by
another. Lists are read forwards; `hasPreviousPage` says whether the page starts after a
cursor (the rows up to that cursor came before it), which costs no query.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from schema.core.errors import bad_input

T = TypeVar("T")
R = TypeVar("R")
MAX_PAGE = 100


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More rows follow this page: ask again `after: endCursor`.")
    has_previous_page: bool = strawberry.field(
        default=False, description="This page starts after a cursor, so rows came before it."
    )
    start_cursor: str | None = strawberry.field(default=None, description="The cursor of the page's first row.")
    end_cursor: str | None = strawberry.field(
        default=None, description="The cursor of the page's last row: pass it as `after` for the next page."
    )


@strawberry.type(description="One row of a page, with the cursor that finds its place again.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque; pass it as `after` to continue after this row.")
    node: T = strawberry.field(description="The row.")


@strawberry.type(description="A page of a list that can grow (Relay connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The rows of this page, in the list's order.")
    page_info: PageInfo = strawberry.field(description="Whether more rows follow, and the cursors to ask for them.")


def encode_cursor(kind: str, key: int | tuple[int, ...]) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return base64.urlsafe_b64encode(f"{kind}:{'.'.join(str(p) for p in parts)}".encode()).decode()


def _decode(kind: str, cursor: str, size: int) -> tuple[int, ...]:
    try:
        prefix, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        parts = value.split(".")
        if prefix != kind or len(parts) != size:
            raise ValueError
        if not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts):
            raise ValueError
        return tuple(int(p) for p in parts)
    except ValueError:
        raise bad_input("`after` is not a cursor this list gave out") from None


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The row key an `after` cursor of this list names; BAD_USER_INPUT for any other string."""
    return None if cursor is None else _decode(kind, cursor, 1)[0]


def decode_cursor_pair(kind: str, cursor: str | None) -> tuple[int, int] | None:
    """For a list ordered by two keys (e.g. person, then grant)."""
    if cursor is None:
        return None
    first, second = _decode(kind, cursor, 2)
    return first, second


def check_first(first: int) -> int:
    if first < 0 or first > MAX_PAGE:
        raise bad_input(f"`first` must be between 0 and {MAX_PAGE}")
    return first


def empty_page() -> Connection[T]:
    return Connection(edges=[], page_info=PageInfo(has_next_page=False))


def page_of(
    rows: Sequence[R],
    first: int,
    kind: str,
    node: Callable[[R], T],
    key: Callable[[R], int | tuple[int, ...]] | None = None,
    *,
    after: str | None = None,
) -> Connection[T]:
    """A page from up to first + 1 rows read after the `after` cursor (pass it on, so
    `hasPreviousPage` can say the page does not start the list)."""
    key_of = key or (lambda r: r.id)  # type: ignore[attr-defined]
    edges = [Edge(cursor=encode_cursor(kind, key_of(r)), node=node(r)) for r in rows[:first]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def slice_after(
    rows: Sequence[R], first: int, key: Callable[[R], int | tuple[int, ...]], after: int | tuple[int, ...] | None
) -> list[R]:
    """For a list the domain computes whole, in ascending `key` order: the first + 1 rows after
    the cursor's key (keyset on the computed list, so a row added meanwhile is neither skipped
    nor repeated)."""
    return [r for r in rows if after is None or _greater(key(r), after)][: first + 1]


def _greater(key: int | tuple[int, ...], after: int | tuple[int, ...]) -> bool:
    if isinstance(key, tuple) and isinstance(after, tuple):
        return key > after
    if isinstance(key, int) and isinstance(after, int):
        return key > after
    return False
