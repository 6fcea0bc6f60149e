"""Writes one audit entry per mutation field: who, what, when, from where, the outcome,
the (redacted) input and the before/after the domain noted (resolvers/audit.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers import audit

log = logging.getLogger("gatehouse.audit")


def _mutation_fields(document: Any, operation_name: str | None) -> list[tuple[str, str, dict[str, Any]]]:
    """(response key, field name, argument variable names) of each top-level mutation field."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for definition in getattr(document, "definitions", ()):
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        for selection in definition.selection_set.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                out.append((key, selection.name.value, {a.name.value: a.value for a in selection.arguments or ()}))
    return out


def _outcome(key: str, data: dict[str, Any] | None, errors: list[Any]) -> str:
    for error in errors:
        if error.path and error.path[0] == key:
            return "error:" + str((error.extensions or {}).get("code", "ERROR"))
    payload = (data or {}).get(key)
    if isinstance(payload, dict) and payload.get("errors"):
        return "refused:" + ",".join(sorted({str(e.get("code")) for e in payload["errors"]}))
    return "ok"


class AuditMutations(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        if ctx.operation_type is not OperationType.MUTATION:
            yield
            return
        with audit.ChangeCollector() as collector:
            yield
        context = ctx.context
        actor = getattr(context, "actor", None)
        address = getattr(context, "address", "")
        result = ctx.result
        data = getattr(result, "data", None)
        errors = list(getattr(result, "errors", None) or [])
        variables = audit.redact(ctx.variables or {})
        try:
            for key, name, _ in _mutation_fields(ctx.graphql_document, ctx.operation_name):
                changes = collector.changes
                target = changes[0] if changes else {}
                await audit.record(
                    actor,
                    name,
                    address=address,
                    outcome=_outcome(key, data, errors),
                    target_type=target.get("type", ""),
                    target_id=target.get("id", ""),
                    detail={"variables": variables, "changes": changes},
                )
        except Exception:
            # An audit write must never turn a done change into an error the client retries.
            log.exception("writing the audit entry failed")
