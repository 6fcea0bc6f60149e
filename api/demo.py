"""The demo site `make serve` loads into an empty database: a lobby with offices, people, a device."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tortoise.transactions import in_transaction

from resolvers.access import grants, sites
from resolvers.core import clock
from resolvers.core.actor import Actor
from resolvers.core.models import (
    AntiPassback,
    Asset,
    Device,
    DeviceKind,
    DeviceStatus,
    GateDirection,
    ItemCategory,
    Person,
    PersonKind,
    Role,
    Zone,
    ZoneKind,
)
from resolvers.items import catalogue as items
from resolvers.people import people
from resolvers.runtime import Runtime

_PRC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_prc_id(region: str, born: str, sequence: str) -> str:
    """A well-formed 18-character PRC ID number (for demo and test data)."""
    body = region + born + sequence
    total = sum(int(d) * w for d, w in zip(body, _PRC_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


@dataclass
class DemoSite:
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, password, roles
    device_id: str = ""
    device_secret: str = ""
    gates: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        lines = ["Demo logins (username / password / roles):"]
        lines += [f"  {u:<10} {p}   {r}" for u, p, r in self.logins]
        lines.append(
            "Second factor: `make serve` sets GATEHOUSE_SECOND_FACTOR=optional, so admin and security sign in\n"
            "  with the password alone; under the default (required) they act without ADMIN / SECURITY_ADMIN\n"
            "  until they enrol a TOTP (startTotpEnrollment, confirmTotpEnrollment) and sign in with a code."
        )
        lines.append(f"Demo gate device: id {self.device_id}  secret {self.device_secret}")
        lines.append("Gates: " + ", ".join(f"{name} = {gid}" for name, gid in self.gates.items()))
        return "\n".join(lines)


async def is_empty() -> bool:
    return not await Person.all().exists()


async def load_demo(rt: Runtime) -> DemoSite:
    async with in_transaction():  # all of the demo or none of it
        return await _load(rt)


async def _load(rt: Runtime) -> DemoSite:
    site = DemoSite()
    # Onboarding checks who hands out roles; the loader acts as an admin who is not stored.
    system = Actor(
        person_id=0,
        session_id=0,
        display_name="demo loader",
        kind=PersonKind.EMPLOYEE,
        roles=frozenset({Role.ADMIN}),
        department_id=None,
    )

    eng = await people.create_department("Engineering", None, None)
    fin = await people.create_department("Finance", None, None)
    fac = await people.create_department("Facilities", None, None)
    sec = await people.create_department("Security", None, None)
    hr_dept = await people.create_department("Human Resources", None, None)
    # Names as the site's people write them: Simplified and Traditional Chinese, Latin with
    # diacritics. The web app's screenshots check every one is drawn with real glyphs
    # (tests/test_web_glyphs.py). A department of its own, so the English-named demo above keeps
    # the members, grants and reviews the tests count.
    rnd = await people.create_department("研发部", None, None)

    lobby = await sites.create_zone(rt, sites.ZoneSpec("Lobby", None, AntiPassback.HARD, ZoneKind.PUBLIC))
    eng_office = await sites.create_zone(
        rt, sites.ZoneSpec("Engineering office", str(lobby.id), AntiPassback.OFF, ZoneKind.OFFICE, str(eng.id))
    )
    fin_office = await sites.create_zone(
        rt, sites.ZoneSpec("Finance office", str(lobby.id), AntiPassback.OFF, ZoneKind.OFFICE, str(fin.id))
    )
    mgmt = await sites.create_zone(
        rt, sites.ZoneSpec("Management area", str(lobby.id), AntiPassback.SOFT, ZoneKind.MANAGEMENT)
    )
    maint = await sites.create_zone(
        rt, sites.ZoneSpec("Maintenance area", str(lobby.id), AntiPassback.OFF, ZoneKind.MAINTENANCE, str(fac.id))
    )

    gate_specs = [
        ("Lobby turnstile in", lobby, GateDirection.IN),
        ("Lobby turnstile out", lobby, GateDirection.OUT),
        ("Engineering door", eng_office, GateDirection.BOTH),
        ("Finance door", fin_office, GateDirection.BOTH),
        ("Management door", mgmt, GateDirection.IN),
        ("Maintenance door", maint, GateDirection.IN),
    ]
    gate_ids = []
    for name, zone, direction in gate_specs:
        gate = await sites.create_gate(rt, name, str(zone.id), direction)
        site.gates[name] = str(gate.id)
        gate_ids.append(str(gate.id))
    device, secret = await sites.register_device(rt, "Lobby scanner", DeviceKind.QR_SCANNER, gate_ids)
    site.device_id, site.device_secret = str(device.id), secret
    # The demo's device is installed and commissioned already (a device opens doors only in
    # service): the site's installer did the checklist; a real one goes through commissionDevice.
    await Device.filter(id=device.id).update(status=DeviceStatus.COMMISSIONED)

    staff = [
        ("admin", "Ada Admin", sec, "Security manager", [Role.ADMIN]),
        ("security", "Sam Security", sec, "Security officer", [Role.SECURITY_ADMIN]),
        ("hr", "Hana HR", hr_dept, "HR officer", [Role.HR]),
        ("guard", "Gao Guard", sec, "Guard", [Role.GUARD]),
        ("alice", "Alice Li", eng, "Engineer", []),
        ("carol", "Carol Chen", eng, "Engineering manager", [Role.DEPARTMENT_HEAD]),
        ("bob", "Bob Wang", fin, "Accountant", []),
        ("dave", "Dave Zhou", fac, "Maintenance technician", []),
        # Appended after dave so earlier demo people keep their ID numbers.
        ("fiona", "Fiona Xu", fin, "Finance manager", [Role.DEPARTMENT_HEAD]),
        ("wendy", "Wendy Sun", fac, "Warehouse keeper", [Role.WAREHOUSE]),
        ("paul", "Paul Ma", fin, "Buyer", [Role.PROCUREMENT]),
        ("amy", "Amy Hu", fac, "Asset manager", [Role.ASSET_MANAGER]),
        ("eve", "Eve Lin", sec, "Chief operating officer", [Role.EXECUTIVE]),
        ("audrey", "Audrey Qian", sec, "Internal auditor", [Role.AUDITOR]),
        ("lina", "李娜", rnd, "软件工程师", []),
        ("zhangwei", "張偉", rnd, "測試工程師", []),
        ("zoe", "Zoë Ångström", rnd, "Designer", []),
        # The supervision team (POLICY 7.1): security leads it, finance joins.
        ("sophie", "苏菲", sec, "Supervision lead", [Role.SUPERVISOR]),
        ("marta", "Märta Lindqvist", fin, "Finance controller", [Role.FINANCE]),
    ]
    created: dict[str, Person] = {}
    for i, (username, name, dept, position, roles) in enumerate(staff):
        data = people.OnboardInput(
            display_name=name,
            gender=None,
            id_number=make_prc_id("110101", f"19{80 + i}0101", f"{100 + i:03d}"),
            phone=f"+86138000000{i:02d}",
            department_id=str(dept.id),
            position=position,
            username=username,
            roles=roles,
        )
        person, password = await people.onboard_employee(rt, system, data)
        created[username] = person
        site.logins.append((username, password, ",".join(sorted(person.roles))))

    # Heads are named as HR names them (setDepartmentHead). Facilities, Security and Human
    # Resources have none: their approvals go up to the fallback roles (README "Approvals").
    await people.set_department_head(str(eng.id), str(created["carol"].id))
    await people.set_department_head(str(fin.id), str(created["fiona"].id))
    warehouse = await items.create_location("Main warehouse", str(maint.id))
    paper = await items.create_item(
        "A4 paper", "80 g/m2, 500 sheets", ItemCategory.OFFICE_SUPPLIES, False, "ream", None
    )
    await items.add_stock(paper.id, warehouse.id, 40)
    await items.move("RECEIVE", paper.id, quantity=40, location_id=warehouse.id, notes="opening stock")
    laptop = await items.create_item("Laptop", "14-inch", ItemCategory.OTHER, True, None, str(eng.id))
    for _ in range(3):
        asset = await Asset.create(item_id=laptop.id, location_id=warehouse.id, owner_department_id=eng.id)
        await items.move("RECEIVE", laptop.id, asset_id=asset.id, location_id=warehouse.id, notes="opening stock")
    # In the catalogue, not yet bought: a name in Chinese beside the English ones.
    await items.create_item("笔记本电脑", "13 英寸，轻薄", ItemCategory.OTHER, True, None, str(rnd.id))
    # The maintenance area's requests go to the security officer until Facilities has a head.
    await Zone.filter(id=maint.id).update(responsible_id=created["security"].id)
    rt.topology_changed()
    # Grants are given by the demo admin, so the record says who gave them.
    admin = created["admin"]
    system = Actor(
        person_id=admin.id,
        session_id=0,
        display_name=admin.display_name,
        kind=PersonKind.EMPLOYEE,
        roles=frozenset({Role.ADMIN}),
        department_id=None,
    )
    await grants.grant_access(rt, system, str(eng_office.id), None, str(eng.id), None, None)
    await grants.grant_access(rt, system, str(fin_office.id), None, str(fin.id), None, None)
    await grants.grant_access(rt, system, str(lobby.id), None, str(sec.id), None, None)
    await grants.grant_access(rt, system, str(mgmt.id), str(created["carol"].id), None, None, None)
    await grants.grant_access(
        rt, system, str(maint.id), str(created["dave"].id), None, None, clock.now() + timedelta(days=90)
    )
    return site
