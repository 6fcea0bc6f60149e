"""Whether one GraphQL operation may run: the one place that decides, for HTTP POST and for each
`subscribe` message of graphql-transport-ws alike (issue 11).

In order: a persisted-query hash is resolved to its trusted document; the document's cached
verdict (schema/core/limits.py: tokens, depth, aliases, fields, root fields); with
GATEHOUSE_TRUSTED_DOCUMENTS=1 only the apps' documents, except for ADMIN (schema/core/trusted.py);
introspection only for those who may see the schema; then the cost under the request's
variables, anonymous callers counting only what may run for them (OPEN_ROOT_FIELDS) against a
small budget. A refusal is a coded GraphQL error, the same on both transports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import GraphQLError
from strawberry.types.execution import ExecutionResult

from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode
from resolvers.core.models import Role
from resolvers.core.settings import Settings
from schema.core import limits, trusted
from schema.root import schema

OPEN_ROOT_FIELDS = frozenset({"__typename", "login", "refreshSession", "completeVisitorRegistration", "invitation"})


def open_root_fields() -> frozenset[str]:
    """Root fields that need no sign-in (no permission class). A test pins them to what anonymous
    clients need — signing in, refreshing a session, a visitor reading their invitation and
    completing registration with its invite code — so a new open field is a decision, not an accident."""
    names = {"__typename"}
    for type_name in ("Query", "Mutation", "Subscription"):
        definition = schema.get_type_by_name(type_name)
        for field in getattr(definition, "fields", ()):
            if not field.permission_classes:
                names.add(schema.config.name_converter.get_graphql_name(field))
    return frozenset(names)


def refusal_error(code: ErrorCode, message: str, limit: str | None = None) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code.value}
    if limit is not None:
        extensions["limit"] = limit
    return GraphQLError(message, extensions=extensions)


def refused(code: ErrorCode, message: str, limit: str | None = None) -> ExecutionResult:
    """An answer for a request refused before it ran (no `data`, a coded error)."""
    return ExecutionResult(data=None, errors=[refusal_error(code, message, limit)])


# graphql-core's suggestions ("Cannot query field 'x'. Did you mean 'y'?") map the schema out
# for whoever guesses: shown only to those who may see the schema anyway.
_SUGGESTION = re.compile(r"\s*Did you mean .*\?\s*$", re.S)


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


def shows_schema(settings: Settings, actor: Actor | None) -> bool:
    """Introspection and "Did you mean" suggestions: for signed-in staff, or anyone while GraphiQL is on."""
    return settings.graphiql or (actor is not None and actor.is_employee)


@lru_cache(maxsize=1024)
def trusted_text(text: str) -> bool:
    """Whether a document text is one of the apps' (cached as the limits' verdict is: comparing
    printed documents cost 0.3 ms per operation and 3.4 ms for a whole contract file, on every
    request, before this cache)."""
    document = limits.analyse(text).document
    return document is not None and trusted.is_trusted(document)


def over_time(seconds: float) -> GraphQLError:
    """A query cancelled for running over the time budget (the same words on both transports)."""
    return refusal_error(
        ErrorCode.BAD_USER_INPUT,
        f"the query ran over its {seconds:g} s budget and was cancelled: ask for less",
        "time",
    )


@dataclass(frozen=True)
class Admission:
    """What was decided: either a refusal, or the text to run (a persisted hash resolved) and
    the kind of the operation it names ("query", "mutation", "subscription"; None when the
    document does not parse or names no single operation: the schema answers that itself)."""

    refusal: GraphQLError | None = None
    query: str | None = None
    kind: str | None = None
    cost: int = 0  # the operation's cost under the limits (heavy ones give way to gates: api/heavy_pacing.py)


def admit(
    settings: Settings,
    actor: Actor | None,
    query: str | None,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    extensions: dict[str, Any] | None,
) -> Admission:
    persisted = (extensions or {}).get("persistedQuery")
    if query is None and isinstance(persisted, dict):
        digest = persisted.get("sha256Hash")
        known = trusted.by_hash(digest) if isinstance(digest, str) else None
        if known is None:
            return Admission(
                refusal_error(ErrorCode.BAD_USER_INPUT, "PersistedQueryNotFound: no trusted document has this hash")
            )
        query = known
    if not isinstance(query, str):
        return Admission(query=None)  # no document at all: the transport answers that as it always has
    verdict = limits.analyse(query)
    if verdict.refusal is not None:
        return Admission(refusal_error(ErrorCode.BAD_USER_INPUT, verdict.refusal, verdict.limit))
    if (
        settings.trusted_documents
        and verdict.document is not None
        and not (actor is not None and actor.has_any(Role.ADMIN))
        and not trusted_text(query)
    ):
        return Admission(
            refusal_error(ErrorCode.FORBIDDEN, "this server runs only the apps' own documents (trusted documents)")
        )
    if verdict.introspection and not shows_schema(settings, actor):
        return Admission(refusal_error(ErrorCode.FORBIDDEN, "introspection is for signed-in staff"))
    operation = verdict.operation(operation_name)
    if operation is None:
        return Admission(query=query)
    # Anonymous clients only sign in, refresh or complete a registration (OPEN_ROOT_FIELDS; every
    # other root field refuses them before anything below it runs): what may run of their
    # operation gets a budget that fits that.
    cost = limits.cost(
        schema._schema,
        verdict,
        operation_name,
        variables if isinstance(variables, dict) else {},
        only_roots=None if actor is not None else OPEN_ROOT_FIELDS,
    )
    budget = limits.MAX_COST if actor is not None else limits.MAX_ANONYMOUS_COST
    if cost > budget:
        return Admission(
            refusal_error(
                ErrorCode.BAD_USER_INPUT,
                f"the operation would cost {cost} (every field 1, times the items of the lists above it);"
                f" at most {budget}: ask for fewer fields or a smaller `first`",
                "cost",
            )
        )
    return Admission(query=query, kind=operation.kind, cost=cost)
