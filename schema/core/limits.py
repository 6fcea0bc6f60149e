"""Operation limits: what one GraphQL document may ask of the server before it runs.

One anonymous POST of 80,000 aliases, or a signed-in employee's `me{department{head{...}}}`
doubled by aliases at each level, stalled every gate for seconds (issue 11, items 1-2). Each
distinct document is analysed once (parsed with a token cap, then walked with fragments
memoised, so a fragment spread twice per level costs linear time to analyse) and the verdict is
kept in an LRU keyed on the document text: a repeated query pays a dictionary look-up, and
Strawberry's own parser and validation caches stay in front of execution untouched (limiters
added as validation rules made every request miss that cache: STACK_NOTES).

The cost of an operation depends on its variables (`first: $n`), so the verdict keeps the
document and the cost is summed per request from it: a walk of the operation, memoised per
fragment, microseconds for an app's documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    BREAK,
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    is_list_type,
    parse,
    visit,
)

# The shipped apps' documents stay well inside every limit (a test checks each one).
MAX_TOKENS = 2_000
MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_ROOT_FIELDS = 20
MAX_FIELDS = 300  # field selections, fragments expanded (a mutation of 1,000 fields once overflowed the stack)
MAX_COST = 10_000
MAX_ANONYMOUS_COST = 200  # signing in costs about 50; what else could an anonymous caller need?
# A list field that takes no `first` is assumed to hold this many items; a list inside a
# connection (edges, nodes) is already counted by the connection's `first`.
UNPAGED_LIST_ITEMS = 10
MAX_FIRST = 100  # schema.core.pagination.MAX_PAGE: a larger `first` is refused by the field itself

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class Operation:
    kind: str  # "query", "mutation" or "subscription"
    root_fields: tuple[tuple[str, str], ...]  # (response key, field name) of each root selection


@dataclass(frozen=True)
class Verdict:
    """What is known of one document text before it runs."""

    refusal: str | None = None  # why it may not run at all; None when it may
    limit: str | None = None  # which limit refused it
    document: DocumentNode | None = None  # None when it does not parse: the schema reports that
    operations: dict[str | None, Operation] = field(default_factory=dict)
    introspection: bool = False
    # Whether any `first` is given by a variable; when none is, the cost is the same for every
    # request and is kept here after the first one.
    variable_first: bool = True
    costs: dict[tuple[str | None, frozenset[str] | None], int] = field(default_factory=dict)

    def operation(self, name: str | None) -> Operation | None:
        if name is None and len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return self.operations.get(name)


class _Walk:
    """Depth, alias count and introspection use of a document, fragments memoised by name."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._memo: dict[str, tuple[int, int, bool, int]] = {}
        self._active: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode | None) -> tuple[int, int, bool, int]:
        """(depth, aliases, introspection, fields) below and including this selection set."""
        depth, aliases, introspection, fields = 0, 0, False, 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                d, a, i, f = self.selection_set(selection.selection_set)
                if selection.name.value in INTROSPECTION_FIELDS:
                    # The schema's own shape bounds it (GraphiQL's standard query is 15 deep, all
                    # `ofType`); tokens and fields still count, and who may introspect is checked apart.
                    d = 0
                depth = max(depth, d + 1)
                aliases += a + (1 if selection.alias else 0)
                introspection = introspection or i or selection.name.value in INTROSPECTION_FIELDS
                fields += f + 1
                continue
            if isinstance(selection, InlineFragmentNode):
                d, a, i, f = self.selection_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                d, a, i, f = self.fragment(selection.name.value)
            else:
                continue
            depth, aliases, introspection, fields = max(depth, d), aliases + a, introspection or i, fields + f
        return depth, aliases, introspection, fields

    def fragment(self, name: str) -> tuple[int, int, bool, int]:
        if name in self._memo:
            return self._memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._active:
            return 0, 0, False, 0  # unknown or cyclic: validation refuses the document
        self._active.add(name)
        try:
            self._memo[name] = self.selection_set(definition.selection_set)
        finally:
            self._active.discard(name)
        return self._memo[name]


def _root_fields(walk: _Walk, selection_set: SelectionSetNode, seen: frozenset[str] = frozenset()) -> dict[str, str]:
    """Response key -> field name of every root selection, through fragments."""
    fields: dict[str, str] = {}
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            fields.setdefault(key, selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            fields.update(_root_fields(walk, selection.selection_set, seen))
        elif isinstance(selection, FragmentSpreadNode):
            definition = walk.fragments.get(selection.name.value)
            if definition is not None and definition.name.value not in seen:
                fields.update(_root_fields(walk, definition.selection_set, seen | {definition.name.value}))
    return fields


@lru_cache(maxsize=1024)
def analyse(text: str) -> Verdict:
    """The verdict on one document text (cached: the same text is analysed once)."""
    try:
        document = parse(text, no_location=True, max_lexical_tokens=MAX_TOKENS, max_comments=MAX_TOKENS)
    except GraphQLError as error:
        if "Document contains more than" in error.message:
            return Verdict(refusal=f"the document has more than {MAX_TOKENS} tokens or comments", limit="tokens")
        return Verdict()  # a syntax error: the schema answers it as it always has
    except RecursionError:
        return Verdict(refusal="the document is nested too deeply to read", limit="depth")
    walk = _Walk(document)
    operations: dict[str | None, Operation] = {}
    introspection = False
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        depth, aliases, uses_introspection, fields = walk.selection_set(definition.selection_set)
        introspection = introspection or uses_introspection
        if depth > MAX_DEPTH:
            return Verdict(refusal=f"the operation is nested {depth} deep; at most {MAX_DEPTH}", limit="depth")
        if aliases > MAX_ALIASES:
            return Verdict(refusal=f"the operation has {aliases} aliases; at most {MAX_ALIASES}", limit="aliases")
        if fields > MAX_FIELDS:
            return Verdict(refusal=f"the operation selects {fields} fields; at most {MAX_FIELDS}", limit="fields")
        root_fields = _root_fields(walk, definition.selection_set)
        if len(root_fields) > MAX_ROOT_FIELDS:
            return Verdict(refusal=f"the operation selects more than {MAX_ROOT_FIELDS} root fields", limit="rootFields")
        name = definition.name.value if definition.name else None
        operations[name] = Operation(kind=definition.operation.value, root_fields=tuple(root_fields.items()))
    return Verdict(
        document=document,
        operations=operations,
        introspection=introspection,
        variable_first=_first_from_variable(document),
    )


def _first_from_variable(document: DocumentNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
            nonlocal found
            if node.name.value == "first" and isinstance(node.value, VariableNode):
                found = True
                return BREAK
            return None

    visit(document, Finder())
    return found


class _Cost:
    """The cost of one operation under its variables: every field 1, times the items of the lists
    above it (`first`, or UNPAGED_LIST_ITEMS for a list without one)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._memo: dict[tuple[str, str], int] = {}
        self._active: set[str] = set()

    def _first(self, node: FieldNode, default: Any) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return _clamp(value.value)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return _clamp(given) if given is not None else _clamp(default)
            return None
        return _clamp(default) if default is not None else None

    def selection_set(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None or not isinstance(parent, GraphQLObjectType):
            # Interfaces and unions: count the selections against no type (lists unknown, cost 1 each).
            return self._untyped(selection_set)
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
            if total > MAX_COST:
                return total
        return total

    def roots(self, selection_set: SelectionSetNode, root: Any, names: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in names:
                    total += self.field(selection, root)
            elif isinstance(selection, InlineFragmentNode):
                total += self.roots(selection.selection_set, root, names)
            elif isinstance(selection, FragmentSpreadNode):
                definition = self.fragments.get(selection.name.value)
                if definition is not None and selection.name.value not in self._active:
                    self._active.add(selection.name.value)
                    try:
                        total += self.roots(definition.selection_set, root, names)
                    finally:
                        self._active.discard(selection.name.value)
        return total

    def _untyped(self, selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + self._untyped(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else None
                total += self.selection_set(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def field(self, node: FieldNode, parent: GraphQLObjectType) -> int:
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 1 + self._untyped(node.selection_set)
        first_arg = definition.args.get("first")
        items = self._first(node, first_arg.default_value if first_arg else None) if first_arg else None
        if items is None:
            nullable = get_nullable_type(definition.type)
            items = 1
            if is_list_type(nullable) and not parent.name.endswith("Connection"):
                items = UNPAGED_LIST_ITEMS
        return items * (1 + self.selection_set(node.selection_set, get_named_type(definition.type)))

    def fragment(self, name: str) -> int:
        definition = self.fragments.get(name)
        if definition is None or name in self._active:
            return 0
        key = (name, definition.type_condition.name.value)
        if key not in self._memo:
            self._active.add(name)
            try:
                target = self.schema.get_type(definition.type_condition.name.value)
                self._memo[key] = self.selection_set(definition.selection_set, target)
            finally:
                self._active.discard(name)
        return self._memo[key]


def _clamp(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None  # the field refuses it with its own error
    return min(max(number, 1), MAX_FIRST)


def cost(
    schema: GraphQLSchema,
    verdict: Verdict,
    operation_name: str | None,
    variables: dict[str, Any],
    only_roots: frozenset[str] | None = None,
) -> int:
    """The cost of the operation the request names, under its variables; with `only_roots`, of
    those root fields only (the others will not run: they refuse the caller)."""
    if verdict.document is None:
        return 0
    definitions = [
        d
        for d in verdict.document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name is not None and d.name.value == operation_name))
    ]
    if len(definitions) != 1:
        return 0  # no single operation: execution refuses the request itself
    definition = definitions[0]
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[definition.operation.value]
    key = (operation_name, only_roots)
    if not verdict.variable_first and key in verdict.costs:
        return verdict.costs[key]
    walker = _Cost(schema, verdict.document, variables)
    if only_roots is None:
        total = walker.selection_set(definition.selection_set, root)
    else:
        total = walker.roots(definition.selection_set, root, only_roots)
    if not verdict.variable_first:
        verdict.costs[key] = total
    return total
