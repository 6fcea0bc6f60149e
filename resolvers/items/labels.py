"""Printable label sheets for chosen assets: each label's QR code and its caption."""

from __future__ import annotations

from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Asset, Item
from resolvers.items import catalogue
from resolvers.runtime import Runtime


async def asset_labels(rt: Runtime, asset_ids: list[int]) -> list[tuple[str, str]]:
    """(label code, caption) per asset, in the order asked; NOT_FOUND if any is unknown."""
    assets = {a.id: a for a in await Asset.filter(id__in=asset_ids)}
    if len(assets) != len(set(asset_ids)):
        raise UserError(ErrorCode.NOT_FOUND, "no such asset", "assets")
    names = {i.id: i.name for i in await Item.filter(id__in={a.item_id for a in assets.values()})}
    return [(catalogue.label_code(rt, "A", i), f"{names[assets[i].item_id]} #{i}") for i in asset_ids]
