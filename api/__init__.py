"""Gatehouse server shell: settings, database, crypto, auth and the app factory."""
