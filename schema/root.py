"""The assembled schema, and its SDL printer (`python -m schema.schema > schema.graphql`)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache

from schema.access.types import AccessMutation, AccessQuery
from schema.attendance.types import AttendanceMutation, AttendanceQuery
from schema.core.audit_extension import AuditMutations
from schema.core.errors import EXPECTED_CODES, ErrorCodes
from schema.core.mutations import CoreMutation
from schema.core.queries import CoreQuery
from schema.core.scalars import StrictDate, StrictDateTime
from schema.core.subscriptions import CoreSubscription
from schema.devices.types import DeviceMutation, DeviceQuery
from schema.items.types import ItemMutation, ItemQuery, ItemSubscription
from schema.visits.types import VisitMutation, VisitQuery, VisitSubscription

log = logging.getLogger("gatehouse.graphql")


class GatehouseSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Expected refusals are answers, not faults: log only what nobody meant to happen.
        for error in errors:
            code = (error.extensions or {}).get("code")
            if code in EXPECTED_CODES or code in ("NOT_ALLOWED", "UNAVAILABLE"):
                continue
            if code == "INTERNAL_SERVER_ERROR":
                continue  # ErrorCodes logged it with its traceback
            log.warning("GraphQL error: %s", error.message)


@strawberry.type
class Query(CoreQuery, VisitQuery, AccessQuery, DeviceQuery, AttendanceQuery, ItemQuery):
    pass


@strawberry.type
class Mutation(CoreMutation, VisitMutation, AccessMutation, DeviceMutation, AttendanceMutation, ItemMutation):
    pass


@strawberry.type
class Subscription(CoreSubscription, VisitSubscription, ItemSubscription):
    pass


schema = GatehouseSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    scalar_overrides={datetime: StrictDateTime, date: StrictDate},
    extensions=[ErrorCodes, AuditMutations, lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)],
)


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
