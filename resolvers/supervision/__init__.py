"""Supervision (POLICY.md §7): the team, inspections and their findings, rectification notices,
stocktakes."""

# Finding sources register on import (proposals.source): importing the package registers them.
from resolvers.supervision import stock_difference  # noqa: F401
