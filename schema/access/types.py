"""People and access-rule fields (POLICY 3.1, 6.3): reviews, requests, audit, locks, personal data."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from resolvers.access import grants
from resolvers.access import requests as access_requests
from resolvers.access import reviews as access_reviews
from resolvers.core import models as m
from resolvers.core.errors import is_id
from resolvers.core.models import AccessRequestStatus, IdentityDocument
from resolvers.people import audit, people
from schema.core.context import Info, actor_of
from schema.core.pagination import Connection, PageInfo, check_first, decode_cursor, page_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    IsAdmin,
    IsAuditReader,
    IsEmployee,
    IsFrontDesk,
    IsPeopleAdmin,
    IsReviewer,
)
from schema.core.types import Grant, Person, UserError, Zone


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    at: datetime
    actor_id: strawberry.ID | None
    actor_name: str
    address: str
    action: str
    target_type: str
    target_id: str
    outcome: str
    detail: JSON

    @classmethod
    def of(cls, row: m.AuditEntry) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            actor_id=strawberry.ID(str(row.actor_id)) if row.actor_id is not None else None,
            actor_name=row.actor_name,
            address=row.address,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            outcome=row.outcome,
            detail=cast(JSON, row.detail),
        )


@strawberry.type
class AccessRequest:
    id: strawberry.ID
    status: AccessRequestStatus
    reason: str
    days: int
    created_at: datetime
    decided_at: datetime | None
    decision_note: str
    person_id_: strawberry.Private[int]
    zone_id_: strawberry.Private[int]
    grant_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: m.AccessRequest) -> AccessRequest:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=row.status,
            reason=row.reason,
            days=row.days,
            created_at=row.created_at,
            decided_at=row.decided_at,
            decision_note=row.decision_note,
            person_id_=row.person_id,
            zone_id_=row.zone_id,
            grant_id_=row.grant_id,
        )

    @strawberry.field
    async def person(self, info: Info) -> Person | None:
        row = await info.context.loaders.person.load(self.person_id_)
        return Person.of(row) if row else None

    @strawberry.field
    async def zone(self, info: Info) -> Zone | None:
        row = await info.context.loaders.zone.load(self.zone_id_)
        return Zone.of(row) if row else None

    @strawberry.field
    async def grant(self) -> Grant | None:
        row = await m.Grant.get_or_none(id=self.grant_id_) if self.grant_id_ else None
        return Grant.of(row) if row else None


@strawberry.type
class AccessLine:
    person: Person
    grant: Grant
    via: str = strawberry.field(description="PERSON, DEPARTMENT or POSITION")


@strawberry.type
class PersonalData:
    id_number: str | None
    phone: str | None
    document_type: IdentityDocument


@strawberry.type
class AccessRequestPayload:
    request: AccessRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PersonPayload:
    person: Person | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _in_scope(info: Info, found: list[m.Grant]) -> list[m.Grant]:
    """A department head sees the grants of their own department and its people only."""
    scope = await grants.people_scope(actor_of(info))
    if scope is None:
        return found
    people = {p["id"] for p in await m.Person.filter(department_id__in=scope).values("id")}
    return [g for g in found if g.department_id in scope or g.person_id in people]


def _maybe(row: m.AccessRequest | None) -> AccessRequest | None:
    return AccessRequest.of(row) if row else None


@strawberry.type
class AccessQuery:
    @strawberry.field(permission_classes=[IsAuditReader], description="The audit log, newest first.")
    async def audit_log(
        self,
        first: int = 50,
        after: str | None = None,
        actor_id: strawberry.ID | None = None,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Connection[AuditEntry]:
        first = check_first(first)
        actor = int(actor_id) if actor_id is not None and is_id(actor_id) else None
        if actor_id is not None and actor is None:
            return Connection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None))
        rows = await audit.page(
            first,
            decode_cursor("audit", after),
            actor_id=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        )
        return page_of(rows, first, "audit", AuditEntry.of)

    @strawberry.field(permission_classes=[IsReviewer], description="Who may enter the zone, and through which grant.")
    async def zone_access_review(self, info: Info, zone_id: strawberry.ID) -> list[AccessLine]:
        if not is_id(zone_id):
            return []
        lines = await access_reviews.who_can_enter(info.context.rt, int(zone_id))
        scope = await grants.people_scope(actor_of(info))
        if scope is not None:  # a department head reviews their own people only
            lines = [x for x in lines if x.person.department_id in scope]
        return [AccessLine(person=Person.of(x.person), grant=Grant.of(x.grant), via=x.via) for x in lines]

    @strawberry.field(permission_classes=[IsReviewer], description="Live grants nobody used for `days` days.")
    async def unused_grants(self, info: Info, days: int = 90) -> list[Grant]:
        found = await access_reviews.unused(info.context.rt, max(1, min(days, 3650)))
        return [Grant.of(g) for g in await _in_scope(info, found)]

    @strawberry.field(permission_classes=[IsReviewer], description="Live grants past their review date.")
    async def grants_due_for_review(self, info: Info) -> list[Grant]:
        return [Grant.of(g) for g in await _in_scope(info, await access_reviews.due_for_review())]

    @strawberry.field(permission_classes=[IsEmployee], description="Requests waiting for the caller's decision.")
    async def access_requests_to_decide(self, info: Info) -> list[AccessRequest]:
        return [AccessRequest.of(r) for r in await access_requests.to_decide(info.context.rt, actor_of(info))]

    @strawberry.field(permission_classes=[IsEmployee])
    async def my_access_requests(self, info: Info) -> list[AccessRequest]:
        return [AccessRequest.of(r) for r in await access_requests.mine(actor_of(info))]

    @strawberry.field(
        permission_classes=[IsPeopleAdmin], description="Unmasked ID and phone numbers. Every read is audited."
    )
    async def personal_data(self, info: Info, person_id: strawberry.ID) -> PersonalData | None:
        data, _ = await attempt(
            people.read_personal_data(info.context.rt, actor_of(info), person_id, info.context.address)
        )
        if data is None:
            return None
        return PersonalData(id_number=data.id_number, phone=data.phone, document_type=data.document_type)

    @strawberry.field(permission_classes=[IsFrontDesk], description="Find people by the ID document in hand.")
    async def people_by_id_number(
        self, info: Info, id_number: str, document_type: IdentityDocument = IdentityDocument.ID_CARD
    ) -> list[Person]:
        rows, _ = await attempt(people.find_by_id_number(info.context.rt, id_number, document_type))
        return [Person.of(r) for r in rows or []]


@strawberry.type
class AccessMutation:
    @strawberry.mutation(
        permission_classes=[IsEmployee], description="Ask for time-limited access to a maintenance area."
    )
    async def request_zone_access(
        self, info: Info, zone_id: strawberry.ID, reason: str, days: int
    ) -> AccessRequestPayload:
        row, errors = await attempt(
            access_requests.request_access(info.context.rt, actor_of(info), zone_id, reason, days)
        )
        return AccessRequestPayload(request=_maybe(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def approve_access_request(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> AccessRequestPayload:
        row, errors = await attempt(access_requests.approve(info.context.rt, actor_of(info), id, note))
        return AccessRequestPayload(request=_maybe(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsEmployee])
    async def reject_access_request(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> AccessRequestPayload:
        row, errors = await attempt(access_requests.reject(info.context.rt, actor_of(info), id, note))
        return AccessRequestPayload(request=_maybe(row), errors=errors)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Lift a lock left by repeated failed sign-ins.")
    async def unlock_account(self, info: Info, person_id: strawberry.ID) -> PersonPayload:
        row, errors = await attempt(people.unlock_account(info.context.rt, person_id))
        return PersonPayload(person=Person.of(row) if row else None, errors=errors)
