"""Root mutation fields: people."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.items import approvals
from resolvers.people import erasure, people, second_factor, sessions
from schema.core.context import Info, actor_of
from schema.core.enums import IdentityDocument
from schema.core.payloads import attempt
from schema.core.permissions import (
    IsAdmin,
    IsAuthenticated,
    IsEmployee,
    IsPeopleAdmin,
)
from schema.people.inputs import CreateDepartmentInput, OnboardEmployeeInput
from schema.people.types import (
    ConfirmIdentityPayload,
    ConfirmTotpPayload,
    Department,
    DepartmentPayload,
    EmployeePayload,
    ErasePersonalDataPayload,
    LoginPayload,
    LogoutPayload,
    OnboardEmployeePayload,
    Person,
    PersonPayload,
    Session,
    TotpEnrollment,
    TotpEnrollmentPayload,
)


def _session(tokens: sessions.SessionTokens | None) -> Session | None:
    if tokens is None:
        return None
    return Session(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        must_change_password=tokens.must_change_password,
        second_factor_required=tokens.second_factor_required,
    )


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(
        description="Sign in with a username and password; repeated failures are rate limited. An account with "
        "a second factor also needs `totpCode` (a current code or a recovery code): without it the answer is "
        "SECOND_FACTOR_REQUIRED (only once the password is right), a wrong one is INVALID and counts as a failure."
    )
    async def login(
        self,
        info: Info,
        username: str,
        password: str,
        totp_code: Annotated[
            str | None,
            strawberry.argument(description="The authenticator app's current code, or an unused recovery code."),
        ] = None,
    ) -> LoginPayload:
        tokens, errors = await attempt(
            sessions.login(info.context.rt, username.strip().lower(), password, info.context.address, totp_code)
        )
        return LoginPayload(session=_session(tokens), errors=errors)

    @strawberry.mutation(description="Trade a refresh token for a new session; the old refresh token stops working.")
    async def refresh_session(self, info: Info, refresh_token: str) -> LoginPayload:
        tokens, errors = await attempt(sessions.refresh(info.context.rt, refresh_token))
        return LoginPayload(session=_session(tokens), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="End this session: its access and refresh tokens stop working at once.",
    )
    async def logout(self, info: Info) -> LogoutPayload:
        ended = await sessions.logout(actor_of(info))
        return LogoutPayload(sessions_ended=ended)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="End every session of the signed-in person, this one included.",
    )
    async def logout_everywhere(self, info: Info) -> LogoutPayload:
        ended = await sessions.logout_everywhere(actor_of(info))
        return LogoutPayload(sessions_ended=ended)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Set a new password (at least 10 characters); the person's other sessions end. "
        "A wrong current password counts as a failed sign-in.",
    )
    async def change_password(self, info: Info, current_password: str, new_password: str) -> PersonPayload:
        row, errors = await attempt(sessions.change_password(actor_of(info), current_password, new_password))
        return PersonPayload(person=Person.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsPeopleAdmin], description="Add a department to the organisation.")
    async def create_department(self, info: Info, input: CreateDepartmentInput) -> DepartmentPayload:
        row, errors = await attempt(people.create_department(input.name, input.parent_id, input.head_id))
        return DepartmentPayload(department=Department.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsPeopleAdmin],
        description="Name a department's head (an active employee, who may be one of its members), or clear it "
        "with null. The head gets DEPARTMENT_HEAD (the old one loses it unless they head another department); "
        "approval steps waiting for the head pass to the new one at once.",
    )
    async def set_department_head(
        self, info: Info, department_id: strawberry.ID, head_id: strawberry.ID | None
    ) -> DepartmentPayload:
        row, errors = await attempt(people.set_department_head(department_id, head_id))
        if row is not None:
            await approvals.reannounce_pending(info.context.rt)
        return DepartmentPayload(department=Department.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsPeopleAdmin],
        description="Name who decides the department's approval steps in its head's place (not the head), "
        "or clear it with null.",
    )
    async def set_department_deputy(
        self, info: Info, department_id: strawberry.ID, deputy_id: strawberry.ID | None
    ) -> DepartmentPayload:
        row, errors = await attempt(people.set_department_deputy(department_id, deputy_id))
        if row is not None:
            await approvals.reannounce_pending(info.context.rt)
        return DepartmentPayload(department=Department.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsPeopleAdmin],
        description="Create an employee and their first password; only ADMIN gives privileged roles.",
    )
    async def onboard_employee(self, info: Info, input: OnboardEmployeeInput) -> OnboardEmployeePayload:
        data = people.OnboardInput(
            display_name=input.display_name,
            gender=input.gender,
            id_number=input.id_number,
            phone=input.phone,
            department_id=input.department_id,
            position=input.position,
            username=input.username,
            roles=input.roles,
            document_type=input.document_type or IdentityDocument.ID_CARD,
        )
        result, errors = await attempt(people.onboard_employee(info.context.rt, actor_of(info), data))
        if result is None:
            return OnboardEmployeePayload(errors=errors)
        person, password = result
        return OnboardEmployeePayload(employee=Person.of(person), initial_password=password)

    @strawberry.mutation(
        permission_classes=[IsPeopleAdmin],
        description="Revoke every pass, grant and session of an employee at once; repeating it changes nothing.",
    )
    async def offboard_employee(self, info: Info, id: strawberry.ID) -> EmployeePayload:
        row, errors = await attempt(people.offboard_employee(info.context.rt, actor_of(info), id))
        return EmployeePayload(employee=Person.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsPeopleAdmin],
        description="Erase an offboarded person's personal data on their request (PIPL art. 47): name, username, "
        "ID and phone numbers, second factor, keys; their passages, attendance, approvals and visits stay under a "
        "pseudonym, and earlier audit entries name them by it. Refused while they are employed (offboard first), "
        "during a visit of theirs, and a second time. Needs a sign-in or confirmIdentity within "
        "GATEHOUSE_CONFIRMATION_MINUTES; `reason` (kept in the audit log) must not name the person.",
    )
    async def erase_personal_data(self, info: Info, person_id: strawberry.ID, reason: str) -> ErasePersonalDataPayload:
        row, errors = await attempt(
            erasure.erase_personal_data(info.context.rt, actor_of(info), person_id, reason, info.context.address)
        )
        if row is None:
            return ErasePersonalDataPayload(errors=errors)
        return ErasePersonalDataPayload(person=Person.of(row.person), audit_entries_redacted=row.audit_entries_redacted)

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="End the sign-in delay left by repeated failed sign-ins."
    )
    async def unlock_account(self, info: Info, person_id: strawberry.ID) -> PersonPayload:
        row, errors = await attempt(people.unlock_account(person_id))
        return PersonPayload(person=Person.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="A new TOTP secret for oneself, pending until confirmTotpEnrollment; while a second factor is "
        "active, `totpCode` must be a current code of it.",
    )
    async def start_totp_enrollment(self, info: Info, totp_code: str | None = None) -> TotpEnrollmentPayload:
        row, errors = await attempt(
            second_factor.start_enrollment(info.context.rt, actor_of(info), totp_code, info.context.address)
        )
        if row is None:
            return TotpEnrollmentPayload(errors=errors)
        return TotpEnrollmentPayload(
            enrollment=TotpEnrollment(secret=row.secret, otpauth_uri=row.otpauth_uri, qr_svg=row.qr_svg)
        )

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="Activate the pending TOTP secret with a code from it; answers the recovery codes, once. "
        "Sign in again with a code for a session that passed the second factor.",
    )
    async def confirm_totp_enrollment(self, info: Info, code: str) -> ConfirmTotpPayload:
        codes, errors = await attempt(second_factor.confirm_enrollment(info.context.rt, actor_of(info), code))
        return ConfirmTotpPayload(recovery_codes=codes, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsEmployee],
        description="Turn one's own second factor off with the password and a current code (or a recovery code); "
        "wrong ones count as failed sign-ins. An administrator resets someone else's with "
        "`gatehouse reset-second-factor USER`.",
    )
    async def disable_totp(self, info: Info, password: str, code: str) -> PersonPayload:
        row, errors = await attempt(
            second_factor.disable(info.context.rt, actor_of(info), password, code, info.context.address)
        )
        return PersonPayload(person=Person.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Confirm who holds this session before evacuate, a site-wide lockdown or remoteOpen: a current "
        "code (or a recovery code) when the account has a second factor, else the password. Throttled like a "
        "sign-in; a refresh does not renew it.",
    )
    async def confirm_identity(
        self, info: Info, password: str | None = None, totp_code: str | None = None
    ) -> ConfirmIdentityPayload:
        until, errors = await attempt(
            second_factor.confirm_identity(info.context.rt, actor_of(info), password, totp_code, info.context.address)
        )
        return ConfirmIdentityPayload(confirmed_until=until, errors=errors)
