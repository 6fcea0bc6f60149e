"""GraphQL object types and mutation payloads: people."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.permission import PermissionExtension
from strawberry.scalars import JSON

from resolvers.core import models
from resolvers.core.models import IdentityDocument
from resolvers.people.batches import HostedPage, PersonEvents
from schema.core.context import Info
from schema.core.enums import (
    Gender,
    PersonKind,
    PersonStatus,
    Role,
)
from schema.core.pagination import Connection, check_first, decode_cursor, page_of
from schema.core.payloads import UserError
from schema.core.permissions import OwnerOrOversight, SeesPersonalNumbers
from schema.passes.types import Pass

if TYPE_CHECKING:
    from schema.scan.types import GateEvent
    from schema.visits.types import Visit


@strawberry.type(description="A unit of the organisation; its head approves its people's requests.")
class Department:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    name: str = strawberry.field(description="Unique on the site.")
    parent_id_: strawberry.Private[int | None]
    head_id_: strawberry.Private[int | None]
    deputy_id_: strawberry.Private[int | None] = None

    @classmethod
    def of(cls, row: models.Department) -> Department:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            parent_id_=row.parent_id,
            head_id_=row.head_id,
            deputy_id_=row.deputy_id,
        )

    @strawberry.field(description="The department this one belongs to; null at the top.")
    async def parent(self, info: Info) -> Department | None:
        if self.parent_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.parent_id_)
        return Department.of(row) if row else None

    @strawberry.field(description="Its head (role DEPARTMENT_HEAD); null while it has none.")
    async def head(self, info: Info) -> Person | None:
        if self.head_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.head_id_)
        return Person.of(row) if row else None

    @strawberry.field(description="Decides the department's approval steps in the head's place; null while none.")
    async def deputy(self, info: Info) -> Person | None:
        if self.deputy_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.deputy_id_)
        return Person.of(row) if row else None


@strawberry.type(description='Who may decide an approval step now (README "Approvals").')
class Approvers:
    label: str = strawberry.field(description='For people: "the head of Engineering", "PROCUREMENT", "ADMIN".')
    roles: list[Role] = strawberry.field(description="Anyone active holding one of these decides (never their own).")
    department_id_: strawberry.Private[int | None]
    people_ids_: strawberry.Private[list[int]]

    @strawberry.field(description="The department whose head (or deputy) decides; null for a role.")
    async def department(self, info: Info) -> Department | None:
        if self.department_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.department_id_)
        return Department.of(row) if row else None

    @strawberry.field(description="The people named to decide (the head, the deputy); empty for a role.")
    async def people(self, info: Info) -> list[Person]:
        rows = await info.context.loaders.person.load_many(self.people_ids_)
        return [Person.of(r) for r in rows if r is not None]


@strawberry.type(description="An employee, or a visitor signed in for one visit. Personal numbers are shown masked.")
class Person:
    id: strawberry.ID = strawberry.field(description="Opaque.")
    display_name: str = strawberry.field(description="The name people see.")
    username: str | None = strawberry.field(description="The sign-in name; null for visitors.")
    kind: PersonKind = strawberry.field(description="Employee or visitor.")
    status: PersonStatus = strawberry.field(description="OFFBOARDED: no pass, grant or session any more.")
    roles: list[Role] = strawberry.field(description="What the person may do; employees always hold EMPLOYEE.")
    position: str = strawberry.field(description="Job title; a grant may name a position.")
    gender: Gender | None = strawberry.field(description="As given; null when not given.")
    id_number_masked: str | None = strawberry.field(
        description="The identity document number, at most the first 3 and last 4 characters shown; "
        "null unless the reader is the person, HR or security.",
        extensions=[PermissionExtension(permissions=[SeesPersonalNumbers()], fail_silently=True)],
    )
    phone_masked: str | None = strawberry.field(
        description="The phone number, masked; null unless the reader is the person, HR or security.",
        extensions=[PermissionExtension(permissions=[SeesPersonalNumbers()], fail_silently=True)],
    )
    must_change_password: bool = strawberry.field(
        description="True while the person signs in with a password someone else issued (onboarding, a reset): "
        "the app asks for a new one at once (changePassword); the issued one stops working after 7 days."
    )
    erased_at: datetime | None = strawberry.field(
        description="When the person's personal data was erased on request (erasePersonalData); the name is "
        "then a pseudonym. Null otherwise.",
    )
    department_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Person) -> Person:
        return cls(
            id=strawberry.ID(str(row.id)),
            display_name=row.display_name,
            username=row.username,
            kind=row.kind,
            status=row.status,
            roles=[models.Role(r) for r in row.roles],
            position=row.position,
            gender=row.gender,
            id_number_masked=row.id_number_masked,
            phone_masked=row.phone_masked,
            must_change_password=row.password_issued_at is not None,
            department_id_=row.department_id,
            erased_at=row.erased_at,
        )

    @strawberry.field(description="The employee's department; null for visitors.")
    async def department(self, info: Info) -> Department | None:
        if self.department_id_ is None:
            return None
        row = await info.context.loaders.department.load(self.department_id_)
        return Department.of(row) if row else None

    @strawberry.field(
        name="pass",
        permission_classes=[OwnerOrOversight],
        description="The active pass (null for none). The person, ADMIN and SECURITY_ADMIN only.",
    )
    async def pass_(self, info: Info) -> Pass | None:
        row = await info.context.loaders.active_pass.load(int(self.id))
        return Pass.of(row) if row else None

    @strawberry.field(permission_classes=[OwnerOrOversight], description="A visitor's visit (null for employees).")
    async def visit(self, info: Info) -> Annotated[Visit, strawberry.lazy("schema.visits.types")] | None:
        from schema.visits.types import Visit

        if self.kind is not models.PersonKind.VISITOR:
            return None
        row = await info.context.loaders.visit_of_visitor.load(int(self.id))
        return Visit.of(row) if row else None

    @strawberry.field(permission_classes=[OwnerOrOversight], description="Visits this person hosts, newest first.")
    async def hosted_visits(
        self, info: Info, first: int, after: str | None = None
    ) -> Connection[Annotated[Visit, strawberry.lazy("schema.visits.types")]]:
        from schema.visits.types import Visit

        first = check_first(first)
        key = HostedPage(int(self.id), first, decode_cursor("visit", after))
        rows = await info.context.loaders.hosted_visits.load(key)
        return page_of(rows, first, "visit", Visit.of, after=after)

    @strawberry.field(permission_classes=[OwnerOrOversight], description="Passages of this person, newest first.")
    async def access_log(
        self, info: Info, first: int, after: str | None = None
    ) -> Connection[Annotated[GateEvent, strawberry.lazy("schema.scan.types")]]:
        from schema.scan.types import event_connection  # the event type names people: import it late

        first = check_first(first)
        key = PersonEvents(int(self.id), first, decode_cursor("ev", after))
        rows = await info.context.loaders.access_log.load(key)
        return event_connection(rows, first, after)


@strawberry.type(description="A signed-in session: send `Authorization: Bearer <accessToken>`.")
class Session:
    access_token: str = strawberry.field(description="Short-lived; sent with every request.")
    refresh_token: str = strawberry.field(description="Trades for a new session (refreshSession), once.")
    expires_at: datetime = strawberry.field(description="When the access token stops working.")
    must_change_password: bool = strawberry.field(
        default=False,
        description="The password used was issued by someone else: the session works as usual, "
        "and the app asks for a new password at once (changePassword).",
    )
    second_factor_required: bool = strawberry.field(
        default=False,
        description="The person holds ADMIN or SECURITY_ADMIN, the site requires a second factor for them "
        "(GATEHOUSE_SECOND_FACTOR) and this session passed none: it acts without those two roles until the "
        "person enrols (startTotpEnrollment, confirmTotpEnrollment) and signs in again with a code.",
    )


@strawberry.type(description="The answer to logout and logoutEverywhere.")
class LogoutPayload:
    sessions_ended: int = strawberry.field(
        default=0, description="How many sessions ended (0 when this one had ended already)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to login and refreshSession.")
class LoginPayload:
    session: Session | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to createDepartment.")
class DepartmentPayload:
    department: Department | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to onboardEmployee.")
class OnboardEmployeePayload:
    employee: Person | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    initial_password: str | None = strawberry.field(
        default=None, description="The new employee's password, shown this once (only its hash is kept)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to offboardEmployee.")
class EmployeePayload:
    employee: Person | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="One audited operation: who, what, when, from where, and how it ended.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="Opaque; entries are never changed or removed.")
    at: datetime = strawberry.field(description="When the operation ran.")
    actor_name: str = strawberry.field(description="The caller's name as it was then; empty when signed out.")
    address: str = strawberry.field(description="The client's address (as a trusted proxy saw it).")
    action: str = strawberry.field(description="The operation, e.g. `onboardEmployee` or `readPersonalData`.")
    target_type: str = strawberry.field(description="What kind of row it changed or read, e.g. `person`.")
    target_id: str = strawberry.field(description="That row's id.")
    outcome: str = strawberry.field(description="`ok`, `refused:<ErrorCode>` or `error:<extensions.code>`.")
    detail: JSON = strawberry.field(description="The arguments (secrets redacted) and each change's before/after.")
    actor_id_: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.AuditEntry) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            actor_name=row.actor_name,
            address=row.address,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            outcome=row.outcome,
            detail=cast(JSON, row.detail),
            actor_id_=row.actor_id,
        )

    @strawberry.field(description="Who called; null when nobody was signed in.")
    async def actor(self, info: Info) -> Person | None:
        if self.actor_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.actor_id_)
        return Person.of(row) if row else None


@strawberry.type(description="A person's identity and phone numbers, unmasked. Every read is audited.")
class PersonalData:
    id_number: str | None = strawberry.field(description="The identity document number in full.")
    phone: str | None = strawberry.field(description="The phone number in full.")
    document_type: IdentityDocument = strawberry.field(description="Which document the number belongs to.")


@strawberry.type(description="The answer to unlockAccount.")
class PersonPayload:
    person: Person | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to erasePersonalData.")
class ErasePersonalDataPayload:
    person: Person | None = strawberry.field(
        default=None, description="The person under their pseudonym; null when `errors` is not empty."
    )
    audit_entries_redacted: int = strawberry.field(
        default=0, description="Earlier audit entries whose mention of the person now reads as the pseudonym."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="A new TOTP secret for the signed-in person, not active until confirmTotpEnrollment.")
class TotpEnrollment:
    secret: str = strawberry.field(description="The secret in base32, for typing into an authenticator app.")
    otpauth_uri: str = strawberry.field(
        description="`otpauth://totp/Gatehouse:<username>?secret=…&issuer=Gatehouse`: what the QR code holds."
    )
    qr_svg: str = strawberry.field(
        description="The QR code of `otpauthUri` as an SVG image in a `data:image/svg+xml` URI (for an <img src>)."
    )


@strawberry.type(description="The answer to startTotpEnrollment.")
class TotpEnrollmentPayload:
    enrollment: TotpEnrollment | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to confirmTotpEnrollment.")
class ConfirmTotpPayload:
    recovery_codes: list[str] | None = strawberry.field(
        default=None,
        description="Ten one-time codes that stand in for a TOTP code (a lost phone), shown this once; "
        "null when `errors` is not empty. Earlier recovery codes stop working.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The answer to confirmIdentity.")
class ConfirmIdentityPayload:
    confirmed_until: datetime | None = strawberry.field(
        default=None,
        description="Until when evacuate, a site-wide lockdown and remoteOpen may run in this session; "
        "null when `errors` is not empty.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was done.")


@strawberry.type(description="The signed-in person's second factor and this session's standing.")
class AccountSecurity:
    totp_enabled: bool = strawberry.field(description="A TOTP second factor is active on the account.")
    totp_enabled_at: datetime | None = strawberry.field(description="When it was confirmed; null while none is.")
    recovery_codes_left: int = strawberry.field(description="Unused recovery codes (0 without a second factor).")
    second_factor_required: bool = strawberry.field(
        description="This session acts without ADMIN and SECURITY_ADMIN until the person enrols a second "
        "factor and signs in again with a code (as `Session.secondFactorRequired`)."
    )
    withheld_roles: list[Role] = strawberry.field(description="The roles this session may not use for that reason.")
    confirmed_until: datetime | None = strawberry.field(
        description="Until when this session's last sign-in or confirmIdentity lets it evacuate, lock the whole "
        "site down or open a gate remotely; null when it was never confirmed."
    )
