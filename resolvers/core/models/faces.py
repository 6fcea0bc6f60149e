"""Faces (issue 15, README "Faces"): consent records and the sealed templates they allow."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class FaceConsent(Model):
    """One consent to face recognition (PIPL art. 28-29: separate consent for sensitive data).
    Kept after the template is gone, withdrawn or not: the history of who agreed to what, when."""

    id = fields.IntField(primary_key=True)
    person_id = fields.IntField()
    given_at = fields.DatetimeField()
    text_version = fields.CharField(max_length=32)
    # SELF: the person in the app; HR: attested by `given_by_id` at onboarding.
    given_via = fields.CharField(max_length=8)
    given_by_id = fields.IntField(null=True)
    withdrawn_at = fields.DatetimeField(null=True)

    class Meta:
        table = "face_consent"
        indexes = (("person_id",),)


class FaceTemplate(Model):
    """A person's face embedding, sealed under the face key with its row bound in; one a person."""

    id = fields.IntField(primary_key=True)
    person_id = fields.IntField(unique=True)
    sealed = fields.BinaryField()
    # Only when GATEHOUSE_FACE_KEEP_PHOTO is on: the enrolment photo, sealed the same way.
    photo_sealed = fields.BinaryField(null=True)
    consent_id = fields.IntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "face_template"
