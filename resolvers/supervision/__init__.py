"""Supervision (POLICY.md §7): the team, inspections and their findings, rectification notices,
stocktakes."""
