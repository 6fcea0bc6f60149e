"""Who may call what: declared on fields, never checked by hand inside resolvers.

The role matrix (contracts/README.md "Who may call what") lives in ROLE_SETS; the
row-level rule for a person's own data lives in `OwnerOr`.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from resolvers.core.models import Role
from resolvers.core.models.people import REPORT_READERS
from schema.core.context import Info
from schema.core.errors import forbidden, unauthenticated

OPERATORS = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.HR})
PEOPLE_ADMINS = frozenset({Role.ADMIN, Role.HR})
SITE_ADMINS = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})
GATE_STAFF = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.GUARD})
GRANTORS = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.DEPARTMENT_HEAD})
AUDIT_READERS = frozenset({Role.ADMIN, Role.AUDITOR})
# Who may see another person's pass and access log (besides the person).
PERSONAL_OVERSIGHT = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})


SECOND_FACTOR_MISSING = (
    "this session passed no second factor, which ADMIN and SECURITY_ADMIN need: enrol one "
    "(startTotpEnrollment, confirmTotpEnrollment) and sign in again with a code"
)


class IsAuthenticated(BasePermission):
    message = "sign in first"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if info.context.actor is None:
            raise unauthenticated()
        return True


class IsEmployee(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor is None:
            raise unauthenticated()
        if not actor.is_employee:
            raise forbidden("only employees may do this")
        return True


class _HasRole(BasePermission):
    allowed: frozenset[Role] = frozenset()

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor is None:
            raise unauthenticated()
        if not actor.has_any(*self.allowed):
            if not actor.withheld_roles.isdisjoint(self.allowed):
                raise forbidden(SECOND_FACTOR_MISSING)
            raise forbidden(f"needs one of the roles {', '.join(sorted(r.value for r in self.allowed))}")
        return True


def HasRole(roles: frozenset[Role], name: str) -> type[BasePermission]:
    return type(name, (_HasRole,), {"allowed": roles})


IsOperator = HasRole(OPERATORS, "IsOperator")
IsPeopleAdmin = HasRole(PEOPLE_ADMINS, "IsPeopleAdmin")
IsSiteAdmin = HasRole(SITE_ADMINS, "IsSiteAdmin")
IsGateStaff = HasRole(GATE_STAFF, "IsGateStaff")
# Reads of people and the site: operators, gate staff, department heads (their own people) and auditors.
IsStaff = HasRole(OPERATORS | GATE_STAFF | {Role.AUDITOR, Role.SUPERVISOR, Role.DEPARTMENT_HEAD}, "IsStaff")
# The supervision team reads what an inspection checks (POLICY 7.2), as the auditors do.
ATTENDANCE_READERS = REPORT_READERS
IsAttendanceReader = HasRole(ATTENDANCE_READERS | {Role.DEPARTMENT_HEAD}, "IsAttendanceReader")
# Site-wide reports (the summaries): the attendance readers less department heads, who read
# their own department's only (as /reports/summary.pdf).
IsReportReader = HasRole(ATTENDANCE_READERS, "IsReportReader")
WAREHOUSE_STAFF = frozenset({Role.ADMIN, Role.WAREHOUSE})
ITEM_READERS = frozenset(
    {
        Role.ADMIN,
        Role.WAREHOUSE,
        Role.PROCUREMENT,
        Role.ASSET_MANAGER,
        Role.AUDITOR,
        Role.EXECUTIVE,
        Role.SECURITY_ADMIN,
        # Finance checks purchasing, requisition, borrowing and scrapping (POLICY 7.1).
        Role.FINANCE,
        Role.SUPERVISOR,
    }
)
IsWarehouse = HasRole(WAREHOUSE_STAFF, "IsWarehouse")
IsCatalogueKeeper = HasRole(WAREHOUSE_STAFF | {Role.ASSET_MANAGER}, "IsCatalogueKeeper")
IsItemReader = HasRole(ITEM_READERS, "IsItemReader")
# Stocktakes (README "Stocktakes"): the warehouse counts, asset management too, and the supervision
# team, whose inspections check stock accuracy by counting (POLICY 7.2).
STOCKTAKERS = WAREHOUSE_STAFF | {Role.ASSET_MANAGER, Role.SUPERVISOR}
IsStocktaker = HasRole(STOCKTAKERS, "IsStocktaker")
IsFrontDesk = HasRole(OPERATORS | GATE_STAFF, "IsFrontDesk")
IsEventReader = HasRole(GATE_STAFF | {Role.AUDITOR, Role.SUPERVISOR}, "IsEventReader")
IsReviewer = HasRole(SITE_ADMINS | {Role.AUDITOR, Role.SUPERVISOR, Role.DEPARTMENT_HEAD}, "IsReviewer")
IsGrantor = HasRole(GRANTORS, "IsGrantor")
IsAuditReader = HasRole(AUDIT_READERS, "IsAuditReader")
IsAdmin = HasRole(frozenset({Role.ADMIN}), "IsAdmin")
# Whether the site can be brought back (the backup runs): administrators and security, and the
# auditors who check it; what is in the backups is never shown, only that they were made.
IsBackupReader = HasRole(SITE_ADMINS | {Role.AUDITOR, Role.SUPERVISOR}, "IsBackupReader")


PERSONAL_DATA_READERS = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.HR, Role.GUARD})


class SeesPersonalNumbers(BasePermission):
    """Masked ID and phone numbers: the person themselves, HR and security (gate staff compare
    documents). A person reached through another record (an item's holder, a visit's host)
    shows everyone else null there, not an error, so listings stay readable."""

    message = "personal numbers are for the person, HR and security"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor is None:
            return False
        return getattr(source, "id", None) == str(actor.person_id) or actor.has_any(*PERSONAL_DATA_READERS)


class OwnerOrOversight(BasePermission):
    """A person's own pass and log: themselves, or ADMIN / SECURITY_ADMIN."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor is None:
            raise unauthenticated()
        if getattr(source, "id", None) == str(actor.person_id) or actor.has_any(*PERSONAL_OVERSIGHT):
            return True
        raise forbidden("only the person themselves or security may see this")


# Supervision (POLICY 7): the team runs inspections; ADMIN and AUDITOR read them too, the
# executives read the overview; a department's head answers its notices (checked per row).
SUPERVISORS = frozenset({Role.ADMIN, Role.SUPERVISOR})
SUPERVISION_READERS = SUPERVISORS | {Role.AUDITOR, Role.SECURITY_ADMIN}
IsSupervisor = HasRole(SUPERVISORS, "IsSupervisor")
# Those who may be on an inspection (HR, finance and audit join: POLICY 7.1); each step also
# checks the caller is the inspection's lead or a member.
INSPECTORS = SUPERVISORS | {Role.SECURITY_ADMIN, Role.HR, Role.FINANCE, Role.AUDITOR}
IsInspector = HasRole(INSPECTORS, "IsInspector")
IsSupervisionReader = HasRole(SUPERVISION_READERS, "IsSupervisionReader")
IsSupervisionOverseer = HasRole(SUPERVISION_READERS | {Role.EXECUTIVE}, "IsSupervisionOverseer")
