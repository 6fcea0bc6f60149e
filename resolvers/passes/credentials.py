"""Pass credentials: a phone's own key (bindPhone) or a custodial key the server keeps."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken
from tortoise.transactions import in_transaction

from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError
from resolvers.core.models import Credential, CredentialKind, CredentialStatus, Person, PersonKind, PersonStatus
from resolvers.runtime import Runtime
from resolvers.visits import visits

PRIVATE_KEY = "credential.private_key"


async def _replace_active(
    person_id: int,
    kind: CredentialKind,
    public_key: bytes,
    private_enc: bytes | None,
    device_name: str,
    *,
    unless_held: bool = False,
) -> Credential:
    """The person's one active credential from now on; with `unless_held`, the one already
    active if there is one (checked under the same lock, so two first uses issue one pass)."""
    now = clock.now()
    async with in_transaction():
        # Lock the person row so two binds at once cannot leave two active credentials.
        await Person.filter(id=person_id).select_for_update().first()
        if unless_held and (held := await active_credential(person_id)) is not None:
            return held
        await Credential.filter(person_id=person_id, status=CredentialStatus.ACTIVE).update(
            status=CredentialStatus.SUPERSEDED, ended_at=now
        )
        return await Credential.create(
            cid=passtoken.new_cid(),
            person_id=person_id,
            kind=kind,
            public_key=public_key,
            private_key_enc=private_enc,
            period=passtoken.DEFAULT_PERIOD,
            device_name=device_name,
        )


async def ensure_may_hold_pass(actor: Actor) -> None:
    """Employees hold a pass while active; a visitor's pass ends with the visit."""
    person = await Person.get_or_none(id=actor.person_id)
    if person is None or person.status is not PersonStatus.ACTIVE:
        raise UserError(ErrorCode.NOT_ALLOWED, "this account may not hold a pass")
    if person.kind is PersonKind.VISITOR:
        visit = await visits.visit_of_visitor(person.id)
        if visit is None or visit.status in visits.ENDED:
            raise UserError(ErrorCode.NOT_ALLOWED, "your visit has ended; the pass is no longer valid")


async def bind_phone(rt: Runtime, actor: Actor, public_key: str, device_name: str) -> Credential:
    raw = passtoken.decode_public_key(public_key)
    if raw is None:
        raise UserError(
            ErrorCode.INVALID,
            "must be a raw 32-byte Ed25519 public key in padded standard base64 (44 characters)",
            "publicKey",
        )
    name = validation.name(device_name, "deviceName", max_length=100)
    await ensure_may_hold_pass(actor)
    if await Credential.filter(public_key=raw).exists():
        raise UserError(ErrorCode.CONFLICT, "this key is already registered; generate a new key pair", "publicKey")
    credential = await _replace_active(actor.person_id, CredentialKind.PHONE, raw, None, name)
    rt.access_changed()
    return credential


async def issue_custodial(rt: Runtime, actor: Actor, device_name: str, *, unless_held: bool = False) -> Credential:
    """For a phone that cannot hold a key: the server keeps the pair, encrypted at rest."""
    name = validation.name(device_name, "deviceName", max_length=100)
    await ensure_may_hold_pass(actor)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    credential = await _replace_active(
        actor.person_id,
        CredentialKind.CUSTODIAL,
        public,
        rt.sealer.seal(private, PRIVATE_KEY),
        name,
        unless_held=unless_held,
    )
    rt.access_changed()
    return credential


async def active_credential(person_id: int) -> Credential | None:
    return await Credential.filter(person_id=person_id, status=CredentialStatus.ACTIVE).order_by("-id").first()


@dataclass(frozen=True)
class PassToken:
    token: str
    valid_until_unix: int
    step: int
    period: int


async def custodial_credential_for(rt: Runtime, actor: Actor) -> Credential:
    """The caller's custodial credential, issued on first use when they hold no pass at all."""
    await ensure_may_hold_pass(actor)
    credential = await active_credential(actor.person_id)
    if credential is None:
        # The app may ask for its first token by query and subscription at once: one pass for both.
        credential = await issue_custodial(rt, actor, "custodial pass", unless_held=True)
    if credential.kind is not CredentialKind.CUSTODIAL:
        raise UserError(
            ErrorCode.NOT_ALLOWED,
            "your pass is held by your phone; ask for a custodial pass to replace it (requestCustodialPass)",
        )
    return credential


def sign_current(rt: Runtime, credential: Credential, unix_seconds: float) -> PassToken:
    if credential.private_key_enc is None:
        raise UserError(ErrorCode.NOT_ALLOWED, "this pass is held by a phone")
    key = Ed25519PrivateKey.from_private_bytes(rt.sealer.open(credential.private_key_enc, PRIVATE_KEY))
    step = passtoken.current_step(unix_seconds, credential.period)
    return PassToken(
        token=passtoken.sign(credential.cid, step, key),
        valid_until_unix=passtoken.valid_until_unix(step, credential.period),
        step=step,
        period=credential.period,
    )


async def credential_still_active(credential_id: int) -> bool:
    return await Credential.filter(id=credential_id, status=CredentialStatus.ACTIVE, person__status="ACTIVE").exists()
