"""The gate decision and what it leaves: the decision, the event log (group commit), presence for
anti-passback, event queries, and guards' manual entries and remote opens."""
