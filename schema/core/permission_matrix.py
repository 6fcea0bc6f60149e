"""The permission matrix, read off the permission classes declared on the schema's fields.

`gatehouse print-permissions` prints it; the README carries it; a test keeps the two equal,
and the refusal tests are generated from the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension

from resolvers.core.models import Role
from schema.core import permissions as p
from schema.root import schema

ROOTS = ("Query", "Mutation", "Subscription")
EVERY_ROLE = frozenset(Role)


@dataclass(frozen=True)
class Row:
    root: str
    field: str
    who: str
    roles: frozenset[Role] | None  # None: anyone, even signed out
    employees_only: bool = False
    row_rule: str = ""


def _describe(classes: list[type]) -> tuple[str, frozenset[Role] | None, bool]:
    if not classes:
        return "anyone", None, False
    names = []
    roles: frozenset[Role] = EVERY_ROLE
    employees = False
    for cls in classes:
        if issubclass(cls, p._HasRole):
            roles = roles & cls.allowed
            names.append(", ".join(sorted(r.value for r in cls.allowed)))
        elif cls is p.IsEmployee:
            employees = True
            names.append("any employee")
        elif cls is p.IsAuthenticated:
            names.append("signed in")
        else:
            names.append(cls.__name__)
    return " and ".join(names), roles, employees


ROW_RULES = {
    # Supervision (POLICY 7): each step on an inspection is for its lead and members only.
    "inspections": "HR, FINANCE: those they lead or are members of",
    "inspection": "HR, FINANCE: those they lead or are members of",
    "startInspection": "the inspection's lead or members",
    "proposeFindings": "the inspection's lead or members",
    "confirmFinding": "the inspection's lead or members",
    "dismissFinding": "the inspection's lead or members; a reason",
    "addFinding": "the inspection's lead or members",
    "answerChecklistItem": "the inspection's lead or members",
    "reportInspection": "the inspection's lead or members",
    "issueRectificationNotice": "the inspection's lead or members",
    "verifyRectificationNotice": "the inspection's lead or members",
    "returnRectificationNotice": "the inspection's lead or members; a reason",
    "answerRectificationNotice": "the head or deputy of the notice's department",
    "myRectificationNotices": "those to the departments the caller heads or deputises for",
    "rectificationNotice": "ADMIN, AUDITOR, SECURITY_ADMIN, SUPERVISOR, or the head or deputy of its department",
    "approveVisit": "the visit's host (an emergency visit: its approver, as an item request's head step; "
    "never the host)",
    "rejectVisit": "the visit's host (an emergency visit: its approver too)",
    "overrideEmergencyVisit": "not the caller's own visit; a reason, audited",
    "pendingEmergencyVisits": "those the caller may sign now",
    "approveItemRequest": "the current step's approver now: the head or deputy, the next level up (no head, "
    "the requester is the head, or escalated), the step's role, the fallback roles; never the requester",
    "rejectItemRequest": "as approveItemRequest",
    "overrideItemRequest": "never the caller's own request; a reason, audited",
    "approvalQueue": "the requests the caller may decide now (as approveItemRequest)",
    "approvalQueueUpdates": "as approvalQueue",
    "endVisit": "the visit's host",
    "zonesToInviteTo": "those the caller may enter (ADMIN, SECURITY_ADMIN: all)",
    "addVisitEscort": "the visit's host",
    "visit": "its host, its visitor, or GUARD, SECURITY_ADMIN, ADMIN",
    "grantAccess": "a DEPARTMENT_HEAD only for their department's people, on zones their department owns",
    "revokeGrant": "as grantAccess",
    "markGrantReviewed": "as grantAccess",
    "approveAccessRequest": "the zone's responsible head, or SECURITY_ADMIN, ADMIN",
    "rejectAccessRequest": "as approveAccessRequest",
    "onboardEmployee": "only ADMIN gives ADMIN, SECURITY_ADMIN, AUDITOR, SUPERVISOR or GUARD",
    "erasePersonalData": "an offboarded person (or a visitor between visits); only ADMIN erases a holder of "
    "ADMIN, SECURITY_ADMIN, AUDITOR, SUPERVISOR or GUARD; a sign-in or confirmIdentity within "
    "GATEHOUSE_CONFIRMATION_MINUTES",
    "offboardEmployee": "only ADMIN offboards a holder of ADMIN, SECURITY_ADMIN, AUDITOR, SUPERVISOR or GUARD",
    "person": "a DEPARTMENT_HEAD sees their own department's people only",
    "people": "a DEPARTMENT_HEAD sees their own department's people only",
    "me": "the caller's own record; `pass`, `accessLog`, `visit`, `hostedVisits` of another person: "
    "ADMIN, SECURITY_ADMIN only",
    "bindPhone": "for the caller; a visitor only while the visit lasts",
    "passTokens": "for the caller; a visitor only while the visit lasts",
    "passToken": "for the caller; a visitor only while the visit lasts",
    # Second factor and confirmation (README "Second factor and confirmation").
    "evacuate": "a sign-in or confirmIdentity within GATEHOUSE_CONFIRMATION_MINUTES",
    "lockdown": "of the whole site: a sign-in or confirmIdentity within GATEHOUSE_CONFIRMATION_MINUTES",
    "assignAlert": "to an active ADMIN, GUARD or SECURITY_ADMIN",
    "remoteOpen": "a sign-in or confirmIdentity within GATEHOUSE_CONFIRMATION_MINUTES",
    "startTotpEnrollment": "for the caller; while a second factor is active, a current code",
    "disableTotp": "for the caller",
}


def rows() -> list[Row]:
    out = []
    for root in ROOTS:
        definition = schema.get_type_by_name(root)
        assert definition is not None
        for f in sorted(definition.fields, key=lambda f: f.graphql_name or f.python_name):  # type: ignore[union-attr]
            classes: list[type] = []
            for ext in f.extensions:
                if isinstance(ext, PermissionExtension):
                    classes += [type(perm) for perm in ext.permissions]
                elif isinstance(ext, FieldExtension):
                    continue
            name = schema.config.name_converter.get_graphql_name(f)
            who, roles, employees = _describe(classes)
            out.append(Row(root, name, who, roles, employees, ROW_RULES.get(name, "")))
    return out


def markdown() -> str:
    lines = ["| operation | who may call it | row-level rule |", "|---|---|---|"]
    for r in rows():
        lines.append(f"| {r.root.lower()} `{r.field}` | {r.who} | {r.row_rule} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
