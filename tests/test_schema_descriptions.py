"""Every type and field of the API says what it is (schema.graphql is what client authors read;
tests/test_contracts.py keeps it equal to the code)."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema, build_schema

SDL = Path(__file__).resolve().parent.parent / "schema.graphql"
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def undescribed(schema: GraphQLSchema) -> list[str]:
    missing = []
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInputObjectType | GraphQLInterfaceType):
            missing += [f"{name}.{field}" for field, f in kind.fields.items() if not f.description]
    return missing


def test_every_type_and_field_has_a_description() -> None:
    missing = undescribed(build_schema(SDL.read_text()))
    assert missing == [], f"{len(missing)} without a description: {', '.join(missing[:40])}"


def test_an_undescribed_field_is_found() -> None:
    schema = build_schema('"A thing." type Query { "Described." a: Int  b: Int }')
    assert undescribed(schema) == ["Query.b"]
