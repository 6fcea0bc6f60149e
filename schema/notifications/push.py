"""Web Push from the phone app (issue 16): the server's VAPID public key, and the signed-in person's
browser subscriptions (resolvers/notifications/push_subscriptions.py checks and keeps them)."""

from __future__ import annotations

import strawberry

from resolvers.core.errors import ErrorCode
from resolvers.core.errors import UserError as DomainUserError
from resolvers.notifications import push_subscriptions
from schema.core.context import Info, actor_of
from schema.core.payloads import UserError, attempt
from schema.core.permissions import IsAuthenticated


@strawberry.input(description="What the browser's pushManager.subscribe() returned (PushSubscription.toJSON()).")
class PushSubscriptionInput:
    endpoint: str = strawberry.field(description="The push service's https URL for this browser (at most 1024).")
    p256dh: str = strawberry.field(description="keys.p256dh: the browser's P-256 public key, base64url (65 bytes).")
    auth: str = strawberry.field(description="keys.auth: the 16-byte auth secret, base64url.")
    user_agent: str | None = strawberry.field(
        default=None, description="navigator.userAgent, to tell the person's browsers apart (cut to 256)."
    )


@strawberry.type(description="Whether the subscription was stored or removed; `errors` says what to fix.")
class PushSubscriptionPayload:
    ok: bool = strawberry.field(description="True when the change was made (or there was nothing to remove).")
    errors: list[UserError] = strawberry.field(description="What to fix; empty when ok.")


@strawberry.type
class PushQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The application server key (VAPID public key, base64url) to subscribe with; null when "
        "Web Push is not configured on this server.",
    )
    def push_public_key(self, info: Info) -> str | None:
        settings = info.context.rt.settings.webpush
        return settings.public_key if settings is not None else None


@strawberry.type
class PushMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Send notifications to this browser: store its push subscription for the caller (the same "
        "endpoint again replaces it; past 10 browsers the oldest is dropped). UNAVAILABLE when Web Push is "
        "not configured.",
    )
    async def register_push_subscription(self, info: Info, input: PushSubscriptionInput) -> PushSubscriptionPayload:
        person_id = actor_of(info).person_id

        async def work() -> bool:
            if info.context.rt.settings.webpush is None:
                raise DomainUserError(ErrorCode.UNAVAILABLE, "Web Push is not configured on this server")
            data = push_subscriptions.SubscriptionInput(input.endpoint, input.p256dh, input.auth, input.user_agent)
            await push_subscriptions.register(person_id, data)
            return True

        ok, errors = await attempt(work())
        return PushSubscriptionPayload(ok=bool(ok), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Stop notifications to the browser with this endpoint (one of the caller's own); ok also "
        "when it was already gone.",
    )
    async def remove_push_subscription(self, info: Info, endpoint: str) -> PushSubscriptionPayload:
        await push_subscriptions.remove(actor_of(info).person_id, endpoint)
        return PushSubscriptionPayload(ok=True, errors=[])
