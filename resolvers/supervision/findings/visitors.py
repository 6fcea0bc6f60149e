"""Visitors (POLICY 3.2, 7.2): visitors walked in without a booking."""

from __future__ import annotations

from resolvers.core.models import Visit
from resolvers.runtime import Runtime
from resolvers.supervision.findings import common
from resolvers.supervision.proposals import Period, Proposal, source


@source("walk_ins", "visitors", "Visitors walked in without booking")
async def walk_ins(rt: Runtime, period: Period) -> list[Proposal]:
    """Every emergency visit filed in the period: a visitor at the gate with no booking
    (POLICY 3.2.3 allows it, signed by the host's head; the inspector judges whether the
    emergency was one). The host's department answers. Its status and whoever approved it are
    evidence: one still waiting or turned down is worth as much of a look as one let in."""
    visits = (
        await Visit.filter(emergency=True, created_at__gte=period.start, created_at__lt=period.end)
        .order_by("id")
        .values_list(
            "id", "host_id", "visitor_id", "visitor_name", "status", "approved_by_id", "created_at", "checked_in_at"
        )
    )
    names = await common.people(v[1] for v in visits)
    out = []
    for visit_id, host_id, visitor_id, visitor_name, status, approved_by, created_at, checked_in_at in visits:
        host, dept = names.get(host_id, (f"#{host_id}", None))
        out.append(
            Proposal(
                source="walk_ins",
                area="visitors",
                key=f"walk_ins:{visit_id}",
                summary=f"{visitor_name} walked in without booking on {common.local_day(rt, created_at)}, host {host}"
                f" ({str(getattr(status, 'value', status)).lower().replace('_', ' ')})",
                department_id=dept,
                subject_type="visit",
                subject_id=str(visit_id),
                evidence={
                    "visitId": visit_id,
                    "hostId": host_id,
                    "visitorId": visitor_id,
                    "status": str(getattr(status, "value", status)),
                    "approvedById": approved_by,
                    "filedAt": created_at.isoformat(),
                    "checkedInAt": common.iso(checked_in_at),
                },
            )
        )
    return out
