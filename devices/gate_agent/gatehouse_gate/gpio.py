"""A door relay on one GPIO line, through the kernel's GPIO character device (libgpiod v2).

The sysfs interface (/sys/class/gpio) is deprecated and gone from many kernels; the character
device (/dev/gpiochipN) is its replacement. libgpiod's Python binding (PyPI `gpiod`, the
`gpio` extra) is imported only when a GPIO door is asked for, so the agent runs without it.
The line is requested once, at start-up, as an output held inactive (door shut): a missing
chip or line, a line another program holds, or no permission stop the agent with one line.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

DEFAULT_CHIP = "/dev/gpiochip0"
CONSUMER = "gatehouse-gate"


class GpioUnavailable(ValueError):
    """The GPIO door cannot be driven; the message says why and what to do."""


def parse_spec(spec: str) -> tuple[str, int | str]:
    """`17`, `gpiochip1:17`, `/dev/gpiochip1:17` or a line name (`DOOR_RELAY`) → (chip path, line)."""
    chip, sep, line = spec.rpartition(":")
    if not line:
        raise GpioUnavailable(f"--door gpio:{spec}: name a line, as gpio:17 or gpio:gpiochip1:17")
    if not sep:
        chip = DEFAULT_CHIP
    elif "/" not in chip:
        chip = f"/dev/{chip}"
    return chip, int(line) if line.isascii() and line.isdigit() else line


def output_line(chip: str, line: int | str) -> Callable[[bool], None]:
    """Request `line` of `chip` as an output (inactive); return how to set it active or inactive."""
    try:
        import gpiod
        from gpiod.line import Direction, Value
    except ImportError:
        raise GpioUnavailable(
            "--door gpio needs libgpiod's Python binding: pip install 'gatehouse-gate[gpio]' (PyPI gpiod 2.x)"
        ) from None
    where = f"GPIO line {line!r} of {chip}"
    try:
        request = gpiod.request_lines(
            chip,
            consumer=CONSUMER,
            config={line: gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE)},
        )
    except FileNotFoundError:
        raise GpioUnavailable(f"{where}: there is no GPIO chip {chip} (see `gpiodetect`)") from None
    except PermissionError:
        raise GpioUnavailable(f"{where}: permission denied (the agent's user needs access to {chip})") from None
    except OSError as exc:
        why = {
            errno.EBUSY: "another program holds that line",
            errno.ENODEV: f"{chip} is not a GPIO chip",
            errno.ENOTTY: f"{chip} is not a GPIO chip",
            errno.EINVAL: "the chip has no such line",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        raise GpioUnavailable(f"{where}: {why}") from None
    except ValueError:  # a line name the chip does not have, or an offset past its last line
        raise GpioUnavailable(f"{where}: the chip has no such line (see `gpioinfo`)") from None

    def set_active(active: bool) -> None:
        request.set_value(line, Value.ACTIVE if active else Value.INACTIVE)

    return set_active
