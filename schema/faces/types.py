"""GraphQL types: faces. A template is never among them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.faces.templates import FaceStatus as DomainFaceStatus
from schema.core.payloads import UserError


@strawberry.type(description="The separate consent to face recognition a person reads before enrolling.")
class FaceConsent:
    version: str = strawberry.field(description="Given back to enrolMyFace / enrolFace as consentVersion.")
    text: str = strawberry.field(description="The full text, in the language asked for.")


@strawberry.type(description="Whether a person's face is enrolled; the template itself is never shown.")
class FaceStatus:
    enrolled: bool = strawberry.field(description="A template is kept and gates may recognise the face.")
    consent_version: str | None = strawberry.field(description="The consent text version agreed to; null if none.")
    consented_at: datetime | None = strawberry.field(description="When that consent was given; null if none.")

    @classmethod
    def of(cls, status: DomainFaceStatus) -> FaceStatus:
        return cls(enrolled=status.enrolled, consent_version=status.consent_version, consented_at=status.consented_at)


@strawberry.type(description="The answer to enrolMyFace, enrolFace, withdrawFaceConsent and removeFace.")
class FaceEnrolmentPayload:
    face: FaceStatus | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description='Why nothing was done: field "photo" (no face, several faces, not an image, too large) '
        'or "consentVersion" (unknown or replaced).',
    )
