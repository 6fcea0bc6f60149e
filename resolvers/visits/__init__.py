"""Visits: invitation, registration, approval, check-in and out, emergency walk-ins, badges,
watchlist, and their upkeep (expiry, reminders, overstays, retention)."""
