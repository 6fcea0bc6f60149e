"""The assembled schema, and its SDL printer (`python -m schema.schema > schema.graphql`)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache

from schema.access.mutations import AccessMutation
from schema.access.queries import AccessQuery
from schema.alerts.mutations import AlertMutation
from schema.alerts.queries import AlertQuery
from schema.alerts.subscriptions import AlertSubscription
from schema.attendance.mutations import AttendanceMutation
from schema.attendance.queries import AttendanceQuery
from schema.core.audit_extension import AuditMutations
from schema.core.errors import EXPECTED_CODES, ErrorCodes, caller_fault, loggable
from schema.core.scalars import StrictDate, StrictDateTime
from schema.devices.mutations import DeviceMutation
from schema.devices.queries import DeviceQuery
from schema.faces.mutations import FaceMutation
from schema.faces.queries import FaceQuery
from schema.items.mutations import ItemMutation
from schema.items.queries import ItemQuery
from schema.items.stocktakes import StocktakeMutation, StocktakeQuery
from schema.items.subscriptions import ItemSubscription
from schema.notifications.mutations import NotificationMutation
from schema.notifications.push import PushMutation, PushQuery
from schema.notifications.queries import NotificationQuery
from schema.ops.queries import OpsQuery
from schema.passes.mutations import PassMutation
from schema.passes.queries import PassQuery
from schema.passes.subscriptions import PassSubscription
from schema.people.mutations import PeopleMutation
from schema.people.queries import PeopleQuery
from schema.scan.mutations import ScanMutation
from schema.scan.queries import ScanQuery
from schema.scan.shared_render import SharedEventRender
from schema.scan.subscriptions import ScanSubscription
from schema.supervision.mutations import SupervisionMutation
from schema.supervision.queries import SupervisionQuery
from schema.visits.mutations import VisitMutation
from schema.visits.queries import VisitQuery
from schema.visits.subscriptions import VisitSubscription

log = logging.getLogger("gatehouse.graphql")


class GatehouseSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Expected refusals are answers, not faults: log only what nobody meant to happen, and
        # never what the caller sent (a variable's value, a 16 MiB string): `loggable` cuts it.
        for error in errors:
            code = (error.extensions or {}).get("code")
            if code in EXPECTED_CODES or code in ("NOT_ALLOWED", "UNAVAILABLE"):
                continue
            if code == "INTERNAL_SERVER_ERROR":
                continue  # ErrorCodes logged it with its traceback
            if error.original_error is not None and caller_fault(error) is not None:
                continue  # too long for its column, or a date past the calendar: answered BAD_USER_INPUT
            log.warning("GraphQL error: %s", loggable(error.message))


# The root types are the union of every domain's roots; each domain's fields live in
# schema/<domain>/{queries,mutations,subscriptions}.py.
@strawberry.type(description="Everything a client may read.")
class Query(
    PeopleQuery,
    PassQuery,
    AccessQuery,
    ScanQuery,
    AlertQuery,
    DeviceQuery,
    VisitQuery,
    ItemQuery,
    StocktakeQuery,
    AttendanceQuery,
    OpsQuery,
    FaceQuery,
    SupervisionQuery,
    NotificationQuery,
    PushQuery,
):
    pass


@strawberry.type(description="Everything a client may change.")
class Mutation(
    PeopleMutation,
    PassMutation,
    AccessMutation,
    ScanMutation,
    AlertMutation,
    DeviceMutation,
    VisitMutation,
    ItemMutation,
    StocktakeMutation,
    AttendanceMutation,
    FaceMutation,
    SupervisionMutation,
    NotificationMutation,
    PushMutation,
):
    pass


@strawberry.type(description="What a client may follow live.")
class Subscription(PassSubscription, ScanSubscription, AlertSubscription, VisitSubscription, ItemSubscription):
    pass


schema = GatehouseSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    scalar_overrides={datetime: StrictDateTime, date: StrictDate},
    extensions=[ErrorCodes, AuditMutations, lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)],
    # A live gate event is rendered once for all the guards who asked for it alike (issue 13).
    execution_context_class=SharedEventRender,
)


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
