"""Notifications (issue 16): thin GraphQL over resolvers/notifications."""
