"""GraphQL input types: attendance."""

from __future__ import annotations

import strawberry


@strawberry.input(description="A new shift.")
class WorkScheduleInput:
    name: str = strawberry.field(description="A unique name.")
    weekdays: list[int] = strawberry.field(description="1 = Monday … 7 = Sunday")
    start: str = strawberry.field(description="HH:MM in the site's time zone")
    end: str = strawberry.field(description="HH:MM; before start means the shift ends the next day")
    grace_minutes: int = strawberry.field(default=5, description="Minutes late (or early) still on time, 0 to 240.")
