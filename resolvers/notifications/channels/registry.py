"""The channels this server has: each channel module's `build(rt)`, kept when configured.

Another channel is one line here (its module's `build`); none is required to run the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvers.notifications.channels import email, sms, webhook, webpush
from resolvers.notifications.channels.base import Channel

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

BUILDERS = [
    email.build,
    webhook.build,
    sms.build,
    webpush.build,
]


def build_channels(rt: Runtime) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for build in BUILDERS:
        channel = build(rt)
        if channel is not None:
            channels[channel.name] = channel
    return channels


_built: dict[int, dict[str, Channel]] = {}


def channels_of(rt: Runtime) -> dict[str, Channel]:
    """This process's channels for `rt`, built once."""
    found = _built.get(id(rt))
    if found is None:
        found = _built[id(rt)] = build_channels(rt)
    return found
