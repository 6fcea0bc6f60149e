"""Web Push settings (README "Notifications", "Web Push"): the VAPID key pair the server signs its
push requests with (RFC 8292) and the contact the push services may write to.

The private key is given as a PEM file (`gatehouse vapid-keys --out FILE` writes one) or as a value
(PEM, or the raw 32-byte scalar in base64url as other Web Push tools print it). It is checked here,
at start, so a truncated key stops the server instead of every push failing later.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from resolvers.core.setting_values import SettingsError

KEY_FILE = "GATEHOUSE_VAPID_PRIVATE_KEY_FILE"
KEY_VALUE = "GATEHOUSE_VAPID_PRIVATE_KEY"
SUBJECT = "GATEHOUSE_VAPID_SUBJECT"

# RFC 8292 §2.1: a mailto: or https: URI the push service can reach the sender at.
_SUBJECT = re.compile(r"(mailto:[^\s@]+@[^\s@]+\.[^\s@]+|https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?)")


@dataclass(frozen=True)
class WebPushSettings:
    private_key: ec.EllipticCurvePrivateKey
    subject: str

    @property
    def public_key(self) -> str:
        """The application server key the browser subscribes with: the uncompressed P-256 point, base64url."""
        return public_key_text(self.private_key)


def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(pem, pkcs8, serialization.NoEncryption())


def parse_private_key(text: str, name: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM, or from base64url of its 32-byte scalar; SettingsError otherwise."""
    text = text.strip()
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            if len(raw) != 32:
                raise ValueError("not 32 bytes")
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except (ValueError, TypeError):
        raise SettingsError(
            f"{name} is not a P-256 private key (PEM, or 32 bytes in base64url): run `gatehouse vapid-keys --out FILE`"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SettingsError(f"{name} must be an EC P-256 (prime256v1) private key, as VAPID needs")
    return key


def webpush_settings(env: dict[str, str]) -> WebPushSettings | None:
    """None when no key is given (Web Push is off); SettingsError on a bad key or subject."""
    path = (env.get(KEY_FILE) or "").strip()
    value = (env.get(KEY_VALUE) or "").strip()
    subject = (env.get(SUBJECT) or "").strip()
    if path and value:
        raise SettingsError(f"{KEY_FILE} and {KEY_VALUE} are both set: give the VAPID key one way")
    if not path and not value:
        if subject:
            raise SettingsError(f"{SUBJECT} is set but no VAPID key is ({KEY_FILE} or {KEY_VALUE})")
        return None
    if path:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{KEY_FILE} {path!r} cannot be read: {exc.__class__.__name__}") from None
        key = parse_private_key(text, KEY_FILE)
    else:
        key = parse_private_key(value, KEY_VALUE)
    if not subject:
        raise SettingsError(f"{SUBJECT} is required with a VAPID key: mailto:you@example.com or https://your.site")
    if not _SUBJECT.fullmatch(subject):
        raise SettingsError(f"{SUBJECT} must be a mailto: address or an https: URL, got {subject!r}")
    return WebPushSettings(private_key=key, subject=subject)
