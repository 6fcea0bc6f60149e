"""What every settings module shares: the error a bad value raises and the common readers.

Its own module so that the settings of each channel (settings_<name>.py) can raise the same
SettingsError as settings.py, which imports them, without an import cycle.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < 86400:
        raise SettingsError(f"{name} must be above 0 and below a day, got {raw}")
    return value
