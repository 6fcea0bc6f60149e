"""Root query fields: faces."""

from __future__ import annotations

import strawberry

from resolvers.faces import consent, templates
from schema.core.context import Info, actor_of
from schema.core.permissions import IsAuthenticated
from schema.faces.types import FaceConsent, FaceStatus


@strawberry.type
class FaceQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description='The current face-recognition consent text, in "zh-CN" or "en" (any other "zh" tag: '
        "Chinese; any other language: English).",
    )
    def face_consent(self, language: str) -> FaceConsent:
        version, text = consent.text(language)
        return FaceConsent(version=version, text=text)

    @strawberry.field(permission_classes=[IsAuthenticated], description="Whether your face is enrolled.")
    async def my_face(self, info: Info) -> FaceStatus:
        return FaceStatus.of(await templates.status(actor_of(info).person_id))
