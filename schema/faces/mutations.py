"""Root mutation fields: faces (enrolment with separate consent, withdrawal, two-factor zones)."""

from __future__ import annotations

import strawberry

from resolvers.core.errors import parse_id
from resolvers.faces import templates, zones
from schema.access.types import Zone, ZonePayload
from schema.core.context import Info, actor_of
from schema.core.payloads import UserError, attempt
from schema.core.permissions import IsAuthenticated, IsPeopleAdmin, IsSiteAdmin
from schema.faces.types import FaceEnrolmentPayload, FaceStatus


def _payload(status: templates.FaceStatus | None, errors: list[UserError]) -> FaceEnrolmentPayload:
    return FaceEnrolmentPayload(face=FaceStatus.of(status) if status else None, errors=errors)


@strawberry.type
class FaceMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Enrol your own face (an employee, or a visitor with a face pass), giving the separate "
        "consent of faceConsent's version. photo: standard base64 of one JPEG or PNG, at most 512 KiB, "
        "showing exactly one face. Only the template is kept.",
    )
    async def enrol_my_face(self, info: Info, photo: str, consent_version: str) -> FaceEnrolmentPayload:
        actor = actor_of(info)
        work = templates.enrol(info.context.rt, actor.person_id, photo, consent_version, templates.VIA_SELF)
        return _payload(*await attempt(work))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Withdraw your consent to face recognition: your template is deleted at once.",
    )
    async def withdraw_face_consent(self, info: Info) -> FaceEnrolmentPayload:
        return _payload(*await attempt(templates.withdraw(info.context.rt, actor_of(info).person_id)))

    @strawberry.mutation(
        permission_classes=[IsPeopleAdmin],
        description="Enrol a person's face at onboarding: HR attests the person's separate consent to "
        "this consent version (recorded as given via HR, by you).",
    )
    async def enrol_face(
        self, info: Info, person_id: strawberry.ID, photo: str, consent_version: str
    ) -> FaceEnrolmentPayload:
        actor = actor_of(info)

        async def work() -> templates.FaceStatus:
            pid = parse_id(person_id, "person", "personId")
            return await templates.enrol(
                info.context.rt, pid, photo, consent_version, templates.VIA_HR, actor.person_id
            )

        return _payload(*await attempt(work()))

    @strawberry.mutation(permission_classes=[IsPeopleAdmin], description="Delete a person's face template at once.")
    async def remove_face(self, info: Info, person_id: strawberry.ID) -> FaceEnrolmentPayload:
        return _payload(*await attempt(templates.remove(info.context.rt, person_id)))

    @strawberry.mutation(
        permission_classes=[IsSiteAdmin],
        description="Make a zone's gates need a face and a pass scan by the same person (two factors), or not.",
    )
    async def set_zone_face_and_pass(self, info: Info, zone_id: strawberry.ID, required: bool) -> ZonePayload:
        row, errors = await attempt(zones.set_face_and_pass(info.context.rt, zone_id, required))
        return ZonePayload(zone=Zone.of(row) if row else None, errors=errors)
