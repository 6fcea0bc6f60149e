"""The per-request context: the runtime, the caller (resolved once) and fresh loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from resolvers.core.actor import Actor
from resolvers.core.addresses import client_address
from resolvers.runtime import Runtime
from schema.core.loaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | None
    rt: Runtime
    actor: Actor | None
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.rt)

    @property
    def address(self) -> str:
        """The client's address; behind a trusted proxy, the address the proxy saw."""
        client = self.request.client
        forwarded = self.request.headers.get("x-forwarded-for")
        return client_address(client.host if client else "", forwarded, self.rt.settings.trusted_proxies)

    def fresh_loaders(self) -> None:
        """Subscriptions live long: each pushed item gets loaders of its own."""
        self.loaders = Loaders(self.rt)


Info = strawberry.Info[Context, None]


def actor_of(info: Info) -> Actor:
    """The caller of a field whose permission class already required a signed-in caller."""
    actor = info.context.actor
    assert actor is not None
    return actor
