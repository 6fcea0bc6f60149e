"""Items and assets (POLICY 4): the catalogue, stock per location, labelled assets, and
every movement. Labels carry a short signed code, so a label cannot be altered to name
another item; a copied label names the same asset, whose status then tells the truth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from dataclasses import dataclass
from datetime import datetime

import segno
from fpdf import FPDF
from PIL import Image, ImageDraw
from tortoise.transactions import in_transaction

from resolvers.core import clock, fonts, validation
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import (
    Asset,
    AssetStatus,
    Department,
    Item,
    ItemCategory,
    ItemMovement,
    StockLevel,
    StockLocation,
)
from resolvers.people import audit
from resolvers.runtime import Runtime

PREFIX = "GHI1"


@dataclass(frozen=True, slots=True)
class Label:
    kind: str  # "A" an asset, "I" a stock item
    id: int


def _b32(n: int) -> str:
    return base64.b32encode(n.to_bytes(5, "big")).decode().rstrip("=")


def _mac(rt: Runtime, body: str) -> str:
    return base64.b32encode(hmac.new(rt.keys.label, body.encode(), hashlib.sha256).digest()[:5]).decode()


def label_code(rt: Runtime, kind: str, row_id: int) -> str:
    body = f"{PREFIX}:{kind}{_b32(row_id)}"
    return f"{body}:{_mac(rt, body)}"


def read_label(rt: Runtime, code: object) -> Label | None:
    """The asset or item a label names, or None when it is not one of ours (forged or garbled)."""
    if not isinstance(code, str) or len(code) > 64 or not code.isascii():
        return None
    parts = code.split(":")
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 9 or parts[1][0] not in "AI":
        return None
    body = f"{parts[0]}:{parts[1]}"
    if not hmac.compare_digest(_mac(rt, body), parts[2]):
        return None
    try:
        raw = base64.b32decode(parts[1][1:])
    except ValueError:
        return None
    if _b32(int.from_bytes(raw, "big")) != parts[1][1:]:
        return None
    return Label(parts[1][0], int.from_bytes(raw, "big"))


async def create_item(
    name: str, spec: str | None, category: ItemCategory, serialized: bool, unit: str | None, department_id: str | None
) -> Item:
    clean = validation.name(name, "name")
    dept = None
    if department_id is not None:
        dept = await Department.get_or_none(id=parse_id(department_id, "department", "departmentId"))
        if dept is None:
            raise not_found("department", "departmentId")
    item = await Item.create(
        name=clean,
        spec=(spec or "").strip()[:200],
        category=category,
        serialized=serialized,
        unit=validation.name(unit, "unit", max_length=20) if unit else "pcs",
        department_id=dept.id if dept else None,
    )
    audit.note_change("item", item.id, None, {"name": clean, "category": category.value})
    return item


async def create_location(name: str, zone_id: str | None) -> StockLocation:
    clean = validation.name(name, "name")
    if await StockLocation.filter(name=clean).exists():
        raise UserError(ErrorCode.CONFLICT, "a location with this name exists", "name")
    return await StockLocation.create(name=clean, zone_id=parse_id(zone_id, "zone", "zoneId") if zone_id else None)


async def get_item(item_id: str | int, field: str = "itemId") -> Item:
    item = await Item.get_or_none(id=parse_id(item_id, "item", field))
    if item is None:
        raise not_found("item", field)
    return item


async def get_location(location_id: str | int, field: str = "locationId") -> StockLocation:
    location = await StockLocation.get_or_none(id=parse_id(location_id, "location", field))
    if location is None:
        raise not_found("location", field)
    return location


async def asset_by_label(rt: Runtime, code: str, field: str = "labelCode") -> Asset:
    label = read_label(rt, code)
    if label is None or label.kind != "A":
        raise UserError(ErrorCode.INVALID, "this is not a valid asset label (forged or damaged)", field)
    asset = await Asset.get_or_none(id=label.id)
    if asset is None:
        raise not_found("asset", field)
    return asset


async def add_stock(item_id: int, location_id: int, quantity: int) -> None:
    """Add in the database (quantity = quantity + n): receipts booked at once all count."""
    from tortoise.exceptions import IntegrityError
    from tortoise.expressions import F

    if not await StockLevel.filter(item_id=item_id, location_id=location_id).exists():
        try:
            async with in_transaction():
                await StockLevel.create(item_id=item_id, location_id=location_id, quantity=0)
        except IntegrityError:
            pass  # another receipt created the row first
    await StockLevel.filter(item_id=item_id, location_id=location_id).update(quantity=F("quantity") + quantity)


async def take_stock(item_id: int, location_id: int, quantity: int) -> bool:
    """Atomically take `quantity` if that many are there; stock never goes negative."""
    from tortoise.expressions import F

    updated = await StockLevel.filter(item_id=item_id, location_id=location_id, quantity__gte=quantity).update(
        quantity=F("quantity") - quantity
    )
    return bool(updated)


async def move(
    kind: str,
    item_id: int,
    *,
    asset_id: int | None = None,
    quantity: int = 1,
    location_id: int | None = None,
    person_id: int | None = None,
    department_id: int | None = None,
    request_id: int | None = None,
    gate_id: int | None = None,
    by_id: int | None = None,
    notes: str = "",
) -> ItemMovement:
    return await ItemMovement.create(
        at=clock.now(),
        kind=kind,
        item_id=item_id,
        asset_id=asset_id,
        quantity=quantity,
        location_id=location_id,
        person_id=person_id,
        department_id=department_id,
        request_id=request_id,
        gate_id=gate_id,
        by_id=by_id,
        notes=notes[:500],
    )


async def movements(
    first: int,
    before_id: int | None,
    *,
    item_id: int | None = None,
    asset_id: int | None = None,
    person_id: int | None = None,
    department_id: int | None = None,
    kind: str | None = None,
    category: ItemCategory | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ItemMovement]:
    query = ItemMovement.all()
    for name, value in (
        ("item_id", item_id),
        ("asset_id", asset_id),
        ("person_id", person_id),
        ("department_id", department_id),
        ("kind", kind),
    ):
        if value is not None:
            query = query.filter(**{name: value})
    if category is not None:
        ids = [r["id"] for r in await Item.filter(category=category).values("id")]
        query = query.filter(item_id__in=ids)
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(first + 1)


def usable(asset: Asset) -> bool:
    return asset.status not in (AssetStatus.SCRAP_PENDING, AssetStatus.DISPOSED)


def label_sheet_png(codes: list[tuple[str, str]]) -> bytes:
    """A sheet of labels, three across: QR and the item's name under it."""
    cell_w, cell_h, cols = 260, 300, 3
    rows = max(1, (len(codes) + cols - 1) // cols)
    sheet = Image.new("RGB", (cell_w * cols, cell_h * rows), "white")
    draw = ImageDraw.Draw(sheet)
    font = fonts.pil(14)
    for i, (code, caption) in enumerate(codes):
        buf = io.BytesIO()
        segno.make(code, error="m", boost_error=False).save(buf, kind="png", scale=6, border=4)
        qr = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        x, y = (i % cols) * cell_w, (i // cols) * cell_h
        sheet.paste(qr, (x + (cell_w - qr.width) // 2, y + 10))
        fonts.warn_missing(caption)
        text = fonts.fit(caption, cell_w - 16, font.getlength)
        draw.text((x + cell_w // 2, y + qr.height + 25), text, fill="black", font=font, anchor="mm")
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()


def label_sheet_pdf(codes: list[tuple[str, str]]) -> bytes:
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    family = fonts.pdf_font(pdf)
    for i, (code, caption) in enumerate(codes):
        if i and i % 15 == 0:
            pdf.add_page()
        slot = i % 15
        x, y = 10 + (slot % 3) * 65, 10 + (slot // 3) * 55
        buf = io.BytesIO()
        segno.make(code, error="m", boost_error=False).save(buf, kind="png", scale=10, border=4)
        buf.seek(0)
        pdf.image(buf, x=x + 12, y=y, w=40, h=40)
        pdf.set_font(family, "", 8)
        pdf.set_xy(x, y + 41)
        pdf.cell(64, 5, fonts.fit(fonts.pdf_text(family, caption), 62, pdf.get_string_width), align="C")
    return bytes(pdf.output())
