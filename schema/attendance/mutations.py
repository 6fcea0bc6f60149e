"""Root mutation fields: attendance."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from resolvers.attendance import attendance
from schema.attendance.inputs import WorkScheduleInput
from schema.attendance.types import (
    AssignmentPayload,
    AttendanceCorrectionPayload,
    AttendanceDay,
    WorkSchedule,
    WorkSchedulePayload,
)
from schema.core.context import Info, actor_of
from schema.core.payloads import attempt
from schema.core.permissions import (
    IsPeopleAdmin,
)


@strawberry.type
class AttendanceMutation:
    @strawberry.mutation(permission_classes=[IsPeopleAdmin], description="Add a shift people can be given.")
    async def create_work_schedule(self, input: WorkScheduleInput) -> WorkSchedulePayload:
        row, errors = await attempt(
            attendance.create_schedule(input.name, list(input.weekdays), input.start, input.end, input.grace_minutes)
        )
        return WorkSchedulePayload(schedule=WorkSchedule.of(row) if row else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsPeopleAdmin],
        description="Give a person or a whole department a shift; scheduleId null removes it.",
    )
    async def assign_work_schedule(
        self,
        schedule_id: strawberry.ID | None = None,
        person_id: strawberry.ID | None = None,
        department_id: strawberry.ID | None = None,
    ) -> AssignmentPayload:
        _, errors = await attempt(attendance.assign_schedule(schedule_id, person_id, department_id))
        return AssignmentPayload(ok=not errors, errors=errors)

    @strawberry.mutation(permission_classes=[IsPeopleAdmin], description="HR's correction of a day, with a reason.")
    async def correct_attendance(
        self,
        info: Info,
        person_id: strawberry.ID,
        day: date,
        reason: str,
        first_in: datetime | None = None,
        last_out: datetime | None = None,
    ) -> AttendanceCorrectionPayload:
        row, errors = await attempt(attendance.correct(actor_of(info), person_id, day, first_in, last_out, reason))
        if row is None:
            return AttendanceCorrectionPayload(errors=errors)
        days = await attendance.days_for(info.context.rt, [row.person_id], day, day)
        found = [AttendanceDay.of(d) for d in days.get(row.person_id, []) if d.day == day]
        return AttendanceCorrectionPayload(day=found[0] if found else None)
