"""GraphQL for supervision (POLICY 7): the team, inspections, findings, rectification notices."""
