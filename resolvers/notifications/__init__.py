"""Notifications (issue 16): an outbox written with the change that caused it, sent by the leader."""
