"""The gate device fleet: lifecycle, health and maintenance, commands, lockdowns and evacuations,
offline snapshots and uploads."""
