"""The channels a notification can leave by; each is configured by its own settings, none is required."""
