"""People: departments, onboarding and offboarding, personal data, sign-in and sessions, rate
limits, the audit log, the CLI's first admin."""
