"""Supervision (POLICY.md §7): the team, inspections and their findings, rectification notices,
stocktakes."""

# Finding sources register on import (proposals.source): importing the package registers them.
# Both sets: without the data's own sources (findings/), a server's proposeFindings asked only
# the stocktakes' and no checklist had their lines.
from resolvers.supervision import findings, stock_difference  # noqa: F401
