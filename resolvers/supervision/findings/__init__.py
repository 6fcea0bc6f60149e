"""The finding sources drawn from the data (issue 18): importing this package registers them
all with resolvers.supervision.proposals. The stocktakes register their own source."""

from resolvers.supervision.findings import access, data, devices, entry, items, visitors

__all__ = ["access", "data", "devices", "entry", "items", "visitors"]
