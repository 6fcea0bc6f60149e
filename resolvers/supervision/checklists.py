"""The checklist an inspection starts from: per area of POLICY 7.2, written from the policy's
rules, plus one line per registered finding source of that area (what the data is asked)."""

from __future__ import annotations

from resolvers.supervision.proposals import AREAS, SOURCES, Area

TEMPLATES: dict[Area, tuple[str, ...]] = {
    "entry": (
        "People scan on entry and exit at every gate; nobody is let through unscanned (POLICY 2)",
        "No passes lent or used by another person (no impersonation)",
        "Access grants match each person's job; grant reviews are done on time",
    ),
    "visitors": (
        "Every visitor was booked and approved by a host before arriving (POLICY 3)",
        "Visitors are checked in with their document and leave by the visit's end",
    ),
    "items": (
        "Items are scanned at every step: receipt, issue, loan, return, scrapping (POLICY 4)",
        "Stock on the shelves matches the records (stock accuracy)",
        "Purchases, requisitions, loans and scrapping were approved by the right people",
    ),
    "devices": (
        "Gates, readers and doors are running; faults are reported and handled (POLICY 5)",
        "Devices are maintained on their plan",
    ),
    "data": (
        "Personal data is read only by those who need it; the audit log is complete (POLICY 6)",
        "Backups are made on schedule and can be restored",
    ),
}


def items_for(areas: list[str]) -> list[tuple[str, str]]:
    """(area, text) in the policy's order of areas."""
    lines: list[tuple[str, str]] = []
    for area in AREAS:
        if area not in areas:
            continue
        lines.extend((area, text) for text in TEMPLATES[area])
        for registered in sorted(SOURCES.values(), key=lambda r: r.name):
            if registered.area == area:
                lines.append((area, f"Checked in the data: {registered.title}"))
    return lines
