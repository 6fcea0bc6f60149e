"""Trusted documents: with GATEHOUSE_TRUSTED_DOCUMENTS=1 only the apps' own documents run.

The documents are the operations in mobile_contracts/*.graphql (the contracts the shipped apps
send). A client sends one in full — a whole file, or one operation of it, compared after
parsing and printing, so whitespace and comments do not matter — or by hash, Apollo-style:
`extensions.persistedQuery.sha256Hash`, the SHA-256 (hex) of the text it would have sent (a
file, an operation as written in it, or an operation as printed). ADMIN may send any document
(the console's ad-hoc work); everyone else, signed in or not, only these.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from graphql import DocumentNode, OperationDefinitionNode, parse, print_ast

from mobile_contracts import documents


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _normal(document: DocumentNode) -> str:
    return print_ast(document)


@lru_cache(maxsize=1)
def catalogue() -> tuple[frozenset[str], dict[str, str]]:
    """(the normal prints of every trusted document, SHA-256 hex -> document text)."""
    prints: set[str] = set()
    by_hash: dict[str, str] = {}
    for text in documents().values():
        document = parse(text, no_location=False)
        prints.add(_normal(parse(text, no_location=True)))
        by_hash[_sha256(text)] = text
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode) or definition.loc is None:
                continue
            written = text[definition.loc.start : definition.loc.end]
            printed = print_ast(definition)
            prints.add(_normal(parse(written, no_location=True)))
            by_hash[_sha256(written)] = written
            by_hash[_sha256(printed)] = printed
    return frozenset(prints), by_hash


def is_trusted(document: DocumentNode) -> bool:
    return _normal(document) in catalogue()[0]


def by_hash(sha256_hex: str) -> str | None:
    return catalogue()[1].get(sha256_hex.lower())
