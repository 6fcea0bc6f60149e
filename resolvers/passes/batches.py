"""Batch reads behind the GraphQL loaders (see resolvers/people/batches.py): a page of people
showing each one's pass reads the passes in one query."""

from __future__ import annotations

from collections.abc import Sequence

from resolvers.core.models import Credential, CredentialStatus


async def active_credentials(person_ids: Sequence[int]) -> list[Credential | None]:
    """Each person's active pass (the newest, should two ever be active), None for none."""
    found: dict[int, Credential] = {}
    for row in await Credential.filter(person_id__in=set(person_ids), status=CredentialStatus.ACTIVE).order_by("-id"):
        found.setdefault(row.person_id, row)
    return [found.get(p) for p in person_ids]
