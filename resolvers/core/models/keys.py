"""Key material that outlives a master key, kept wrapped under the current one (README "Keys")."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class KeyMaterial(Model):
    """One wrapped key: a stable key (resolvers/core/crypto.py STABLE_KEYS), the legacy watchlist
    look-up key, or `jwt:<kid>`, a retired signing key accepted until `expires_at`."""

    name = fields.CharField(max_length=64, primary_key=True)
    master_id = fields.CharField(max_length=16)
    wrapped = fields.BinaryField()
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "key_material"
