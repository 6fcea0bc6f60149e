"""Writes one audit entry per mutation field: who, what, when, from where, the outcome,
the (redacted) arguments and the before/after the domain noted (resolvers/people/audit.py).

Outcomes are taken while each field resolves, not from the final response: a later
field that raises nulls the whole `data`, and the audit must still say what happened.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, Undefined, value_from_ast_untyped
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.people import audit

log = logging.getLogger("gatehouse.audit")


def _mutation_fields(document: Any, operation_name: str | None) -> list[FieldNode]:
    out: list[FieldNode] = []
    for definition in getattr(document, "definitions", ()):
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        out += [s for s in definition.selection_set.selections if isinstance(s, FieldNode)]
    return out


def _arguments(node: FieldNode, variables: dict[str, Any]) -> dict[str, Any]:
    """The field's arguments with variables filled in, so redaction sees the argument names
    (a password sent as `$p` is still the `password` argument)."""
    values = {a.name.value: value_from_ast_untyped(a.value, variables) for a in node.arguments or ()}
    return {k: v for k, v in values.items() if v is not Undefined}  # an optional variable left out


def _code(error: BaseException) -> str:
    if isinstance(error, GraphQLError) and error.extensions and error.extensions.get("code"):
        return str(error.extensions["code"])
    return "INTERNAL_SERVER_ERROR"


class AuditMutations(SchemaExtension):
    _collector: audit.ChangeCollector | None = None

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        collector = self._collector
        if collector is None or info.path.prev is not None:
            return _next(root, info, *args, **kwargs)
        record = collector.start(str(info.path.key))
        return self._resolve_root(record, _next(root, info, *args, **kwargs))

    async def _resolve_root(self, record: audit.FieldRecord, pending: Any) -> Any:
        try:
            result = await pending if hasattr(pending, "__await__") else pending
        except Exception as exc:
            record.outcome = "error:" + _code(exc)
            raise
        if record.outcome is None:
            record.outcome = "ok"
        return result

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        if ctx.operation_type is not OperationType.MUTATION:
            yield
            return
        with audit.ChangeCollector() as collector:
            self._collector = collector
            try:
                yield
            finally:
                self._collector = None
        context = ctx.context
        actor = getattr(context, "actor", None)
        address = getattr(context, "address", "")
        variables = ctx.variables or {}
        try:
            for node in _mutation_fields(ctx.graphql_document, ctx.operation_name):
                key = node.alias.value if node.alias else node.name.value
                record = collector.records.get(key)
                changes = record.changes if record else []
                target = changes[0] if changes else {}
                await audit.record(
                    actor,
                    node.name.value,
                    address=address,
                    outcome=record.outcome or "not_run" if record else "not_run",
                    target_type=target.get("type", ""),
                    target_id=target.get("id", ""),
                    detail={"arguments": audit.redact(_arguments(node, variables)), "changes": changes},
                )
        except Exception:
            # An audit write must never turn a done change into an error the client retries.
            log.exception("writing the audit entry failed")
