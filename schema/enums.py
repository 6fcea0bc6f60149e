"""GraphQL enums, the same values as the models' (contracts/README.md)."""

from __future__ import annotations

import strawberry

from api import models

Role = strawberry.enum(models.Role)
Gender = strawberry.enum(models.Gender)
AntiPassback = strawberry.enum(models.AntiPassback)
GateDirection = strawberry.enum(models.GateDirection)
Direction = strawberry.enum(models.Direction)
DeviceKind = strawberry.enum(models.DeviceKind)
Decision = strawberry.enum(models.Decision)
EntryMethod = strawberry.enum(models.EntryMethod)
IdentityDocument = strawberry.enum(models.IdentityDocument)
CredentialStatus = strawberry.enum(models.CredentialStatus)
CredentialKind = strawberry.enum(models.CredentialKind)
PersonStatus = strawberry.enum(models.PersonStatus)
PersonKind = strawberry.enum(models.PersonKind)
