"""Alerts raised to guards (device offline, door forced, watchlist, overstays, anomalies): stored,
then pushed."""
