"""The documents the apps send still fit the schema, and the schema matches its committed SDL.

- every document in mobile_contracts/ parses and validates against the live schema;
- the contract copies in mobile_contracts/ are byte-identical to ../shared/contracts/graphql
  (when that folder sits beside the project);
- `schema.graphql` is what `make schema` would print now.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from graphql import DocumentNode, OperationDefinitionNode, Source, parse, validate

from mobile_contracts import HERE as CONTRACTS_DIR
from mobile_contracts import documents
from schema.root import schema, sdl

PROJECT = Path(__file__).resolve().parent.parent
SHARED_GRAPHQL = PROJECT.parent / "shared" / "contracts" / "graphql"
COMMITTED_SDL = PROJECT / "schema.graphql"
ALL_DOCUMENTS = sorted(documents())
OWN = "gatehouse.graphql"  # the project's own operations; every other document copies a shared contract
PHONE_APP = "phone_app.graphql"  # the web phone app's own operations (web/), also the project's
PHONE_APP_VISITS = "phone_app_visits.graphql"  # the same app's visitor and host screens
PHONE_APP_FACES = "phone_app_faces.graphql"  # the same app's face screens (consent, enrolment)
PHONE_APP_STOCKTAKES = "phone_app_stocktakes.graphql"  # the same app's stocktake screen (issue 18)
GUARD_CONSOLE = "guard_console.graphql"  # the web guard console's own operations (web/), also the project's
PHONE_APP_PUSH = "phone_app_push.graphql"  # the same app's Notifications screen: Web Push (issue 16)
PHONE_APP_NOTIFY = "phone_app_notify_settings.graphql"  # the same screen: notification preferences
GUARD_CONSOLE_NOTIFY = "guard_console_notify.graphql"  # the guard console's Notifications view (issue 16)
COPIED = [
    name
    for name in ALL_DOCUMENTS
    if name
    not in (
        OWN,
        PHONE_APP,
        PHONE_APP_VISITS,
        PHONE_APP_FACES,
        PHONE_APP_STOCKTAKES,
        GUARD_CONSOLE,
        PHONE_APP_PUSH,
        PHONE_APP_NOTIFY,
        GUARD_CONSOLE_NOTIFY,
    )
]


# --------------------------------------------------------------------------- helpers


def parse_file(path: Path) -> DocumentNode:
    return parse(Source(path.read_text(), str(path)))


def operations(path: Path) -> dict[str, str]:
    """Each named operation in the file → its exact source text (from `query`/`mutation`/... to `}`)."""
    text = path.read_text()
    out: dict[str, str] = {}
    for definition in parse_file(path).definitions:
        assert isinstance(definition, OperationDefinitionNode), f"{path.name}: only operations belong here"
        assert definition.name is not None, f"{path.name}: every operation must be named"
        assert definition.loc is not None
        name = definition.name.value
        assert name not in out, f"{path.name}: operation {name} appears twice"
        out[name] = text[definition.loc.start : definition.loc.end]
    return out


# --------------------------------------------------------------------------- (a) documents validate


def test_mobile_contracts_holds_the_expected_documents() -> None:
    expected = {
        "console.graphql",
        "employee.graphql",
        "guard.graphql",
        "visitor.graphql",
        OWN,
        PHONE_APP,
        PHONE_APP_VISITS,
        PHONE_APP_FACES,
        PHONE_APP_STOCKTAKES,
        GUARD_CONSOLE,
        PHONE_APP_PUSH,
        PHONE_APP_NOTIFY,
        GUARD_CONSOLE_NOTIFY,
    }
    assert expected <= set(ALL_DOCUMENTS)


@pytest.mark.parametrize("name", ALL_DOCUMENTS)
def test_document_validates_against_the_schema(name: str) -> None:
    document = parse_file(CONTRACTS_DIR / name)
    assert document.definitions, f"{name} holds no operation"
    errors = validate(schema._schema, document)
    assert errors == [], f"{name} no longer fits the schema:\n" + "\n".join(str(e) for e in errors)


def test_operation_names_are_unique_across_documents() -> None:
    # Clients send `operationName`; one name must mean one operation everywhere.
    seen: dict[str, str] = {}
    for name in ALL_DOCUMENTS:
        for op in operations(CONTRACTS_DIR / name):
            assert op not in seen, f"operation {op} is in both {seen[op]} and {name}"
            seen[op] = name


# --------------------------------------------------------------------------- (b) copies are verbatim


@pytest.mark.parametrize("name", COPIED)
def test_contract_copy_is_byte_identical_to_the_shared_contract(name: str) -> None:
    if not SHARED_GRAPHQL.is_dir():
        pytest.skip(f"no shared contracts beside the project ({SHARED_GRAPHQL} is absent): nothing to compare with")
    shared_file = SHARED_GRAPHQL / name
    assert shared_file.is_file(), f"{shared_file} is missing, but mobile_contracts/{name} claims to copy it"
    ours = operations(CONTRACTS_DIR / name)
    theirs = operations(shared_file)
    assert ours, f"mobile_contracts/{name} holds no operation"
    for op, text in ours.items():
        assert op in theirs, f"{op} (mobile_contracts/{name}) is not in the shared contract {shared_file}"
        assert text == theirs[op], (
            f"{op} differs from the shared contract {shared_file}; copy it verbatim.\n"
            f"--- shared\n{theirs[op]}\n--- mobile_contracts\n{text}"
        )
        assert text in shared_file.read_text()


# --------------------------------------------------------------------------- (c) schema snapshot


def test_committed_schema_matches_the_code() -> None:
    current = sdl()
    committed = COMMITTED_SDL.read_text()
    if current != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "schema.graphql (committed)",
                "schema.schema.sdl() (code)",
            )
        )
        pytest.fail(
            "schema.graphql is out of date with the code. If the change is deliberate, run `make schema` "
            f"and commit schema.graphql; otherwise the schema drifted:\n{diff}"
        )
