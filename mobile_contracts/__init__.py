"""GraphQL documents the client apps send, and the device protocol's frame schemas.

The `*.graphql` files beside this module are the contracts in ../shared/contracts/graphql
copied verbatim, plus `gatehouse.graphql` with the project's own further operations.
Tests validate every document against the schema.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def documents() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(HERE.glob("*.graphql"))}
