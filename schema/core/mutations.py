"""Root mutations: parse, call resolvers/, map. Permissions are declared per field."""

from __future__ import annotations

import strawberry

from resolvers.access import grants, sites
from resolvers.passes import credentials
from resolvers.people import people, sessions
from resolvers.scan import guard_actions
from resolvers.scan.event_log import StoredEvent
from schema.core.context import Info, actor_of
from schema.core.enums import Direction, IdentityDocument
from schema.core.inputs import (
    CreateDepartmentInput,
    CreateGateInput,
    CreateZoneInput,
    GrantAccessInput,
    ManualEntryInput,
    OnboardEmployeeInput,
    RegisterDeviceInput,
    UpdateZoneInput,
)
from schema.core.payloads import (
    CredentialPayload,
    DepartmentPayload,
    EmployeePayload,
    GateEventPayload,
    GatePayload,
    GrantPayload,
    LoginPayload,
    OnboardEmployeePayload,
    RegisterDevicePayload,
    ZonePayload,
    attempt,
)
from schema.core.permissions import IsAuthenticated, IsGateStaff, IsGrantor, IsPeopleAdmin, IsSiteAdmin
from schema.core.types import Credential, Department, Device, Gate, GateEvent, Grant, Person, Session, Zone


def _session(tokens: sessions.SessionTokens | None) -> Session | None:
    if tokens is None:
        return None
    return Session(access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=tokens.expires_at)


def _event(stored: StoredEvent) -> GateEvent:
    return GateEvent.of_row(
        {
            "id": stored.id,
            "at": stored.at,
            "decision": stored.decision,
            "reason": stored.reason,
            "method": stored.method,
            "direction": stored.direction,
            "offline": stored.offline,
            "gate_id": stored.gate_id,
            "person_id": stored.person_id,
        }
    )


@strawberry.type
class CoreMutation:
    @strawberry.mutation
    async def login(self, info: Info, username: str, password: str) -> LoginPayload:
        tokens, errors = await attempt(
            sessions.login(info.context.rt, username.strip().lower(), password, info.context.address)
        )
        return LoginPayload(session=_session(tokens), errors=errors)

    @strawberry.mutation
    async def refresh_session(self, info: Info, refresh_token: str) -> LoginPayload:
        tokens, errors = await attempt(sessions.refresh(info.context.rt, refresh_token))
        return LoginPayload(session=_session(tokens), errors=errors)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def bind_phone(self, info: Info, public_key: str, device_name: str) -> CredentialPayload:
        row, errors = await attempt(credentials.bind_phone(info.context.rt, actor_of(info), public_key, device_name))
        return CredentialPayload(credential=Credential.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="A pass whose key the server keeps, for a phone that cannot hold one.",
    )
    async def request_custodial_pass(self, info: Info, device_name: str) -> CredentialPayload:
        row, errors = await attempt(credentials.issue_custodial(info.context.rt, actor_of(info), device_name))
        return CredentialPayload(credential=Credential.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsPeopleAdmin])
    async def create_department(self, info: Info, input: CreateDepartmentInput) -> DepartmentPayload:
        row, errors = await attempt(people.create_department(input.name, input.parent_id, input.head_id))
        return DepartmentPayload(department=Department.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsPeopleAdmin])
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

    @strawberry.mutation(permission_classes=[IsPeopleAdmin])
    async def offboard_employee(self, info: Info, id: strawberry.ID) -> EmployeePayload:
        row, errors = await attempt(people.offboard_employee(info.context.rt, actor_of(info), id))
        return EmployeePayload(employee=Person.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def create_zone(self, info: Info, input: CreateZoneInput) -> ZonePayload:
        spec = sites.ZoneSpec(
            input.name, input.parent_id, input.anti_passback, input.kind, input.department_id, input.responsible_id
        )
        row, errors = await attempt(sites.create_zone(info.context.rt, spec))
        return ZonePayload(zone=Zone.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def update_zone(self, info: Info, id: strawberry.ID, input: UpdateZoneInput) -> ZonePayload:
        spec = sites.ZoneSpec(
            input.name, input.parent_id, input.anti_passback, input.kind, input.department_id, input.responsible_id
        )
        row, errors = await attempt(sites.update_zone(info.context.rt, id, spec, input.move_to_root))
        return ZonePayload(zone=Zone.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def create_gate(self, info: Info, input: CreateGateInput) -> GatePayload:
        row, errors = await attempt(sites.create_gate(info.context.rt, input.name, input.zone_id, input.direction))
        return GatePayload(gate=Gate.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsSiteAdmin])
    async def register_device(self, info: Info, input: RegisterDeviceInput) -> RegisterDevicePayload:
        result, errors = await attempt(
            sites.register_device(info.context.rt, input.name, input.kind, list(input.gate_ids))
        )
        if result is None:
            return RegisterDevicePayload(errors=errors)
        device, secret = result
        return RegisterDevicePayload(device=Device.of(device), device_secret=secret)

    @strawberry.mutation(permission_classes=[IsGrantor])
    async def grant_access(self, info: Info, input: GrantAccessInput) -> GrantPayload:
        schedule = [w.to_dict() for w in input.schedule] if input.schedule else None
        work = grants.grant_access(
            info.context.rt,
            actor_of(info),
            input.zone_id,
            input.person_id,
            input.department_id,
            input.valid_from,
            input.valid_until,
            input.position,
            schedule,
        )
        row, errors = await attempt(work)
        return GrantPayload(grant=Grant.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGrantor])
    async def revoke_grant(self, info: Info, id: strawberry.ID) -> GrantPayload:
        row, errors = await attempt(grants.revoke_grant(info.context.rt, actor_of(info), id))
        return GrantPayload(grant=Grant.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGrantor], description="An access review keeps this grant.")
    async def mark_grant_reviewed(self, info: Info, id: strawberry.ID) -> GrantPayload:
        row, errors = await attempt(grants.mark_reviewed(info.context.rt, actor_of(info), id))
        return GrantPayload(grant=Grant.of(row) if row else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff])
    async def remote_open(self, info: Info, gate_id: strawberry.ID, reason: str) -> GateEventPayload:
        stored, errors = await attempt(guard_actions.remote_open(info.context.rt, actor_of(info), gate_id, reason))
        return GateEventPayload(event=_event(stored) if stored else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsGateStaff])
    async def record_manual_entry(self, info: Info, input: ManualEntryInput) -> GateEventPayload:
        entry = guard_actions.ManualEntry(
            person_id=input.person_id,
            gate_id=input.gate_id,
            direction=Direction(input.direction),
            document_type=input.document_type,
            document_last4=input.document_number_last4,
            note=input.note,
        )
        result, errors = await attempt(guard_actions.record_manual_entry(info.context.rt, actor_of(info), entry))
        return GateEventPayload(event=_event(result[0]) if result else None, errors=errors)
