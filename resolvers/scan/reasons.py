"""Why a gate event happened: one code per rule, the same strings on the wire as always.

A reason knows what it means for the door (`grants`), whether it is a door alarm rather
than a decision, and whether it was reached before the token's signature was checked (then
the claimed credential proves nothing and the event names nobody: contracts/README.md).
Order and meaning: contracts/PASS_TOKEN.md and DEVICE_PROTOCOL.md.
"""

from __future__ import annotations

from enum import StrEnum

from resolvers.core.models import Decision


class Reason(StrEnum):
    # The door opens.
    OK = "ok"
    ANTI_PASSBACK_SOFT = "anti_passback_soft"  # let through, and flagged
    EXIT_AFTER_REVOCATION = "exit_after_revocation"  # DEVICE_PROTOCOL.md: leaving is never refused
    REMOTE_OPEN = "remote_open"  # a guard opened it
    # Not a door: a guard confirmed that someone on the muster list has left (an OUT passage on record).
    CONFIRMED_LEFT = "confirmed_left"
    # The pass itself (PASS_TOKEN.md, in the order checked).
    MALFORMED = "malformed"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"
    # The zone's policy.
    NO_ACCESS = "no_access"
    OUTSIDE_SCHEDULE = "outside_schedule"
    ANTI_PASSBACK = "anti_passback"
    LOCKDOWN = "lockdown"
    ESCORT_REQUIRED = "escort_required"
    BADGE_USED = "badge_used"
    # The device or the server.
    GATE_UNKNOWN = "gate_unknown"
    NOT_YOUR_GATE = "not_your_gate"
    # The device is not in service (never commissioned, or under repair): it opens nothing.
    DEVICE_NOT_IN_SERVICE = "device_not_in_service"
    SNAPSHOT_EXPIRED = "snapshot_expired"  # a gate deciding offline with a stale snapshot
    # An uploaded offline event the server cannot confirm: the token's step does not fit the time
    # the gate claims, or that time lies outside every snapshot the device was given.
    OFFLINE_MISMATCH = "offline_mismatch"
    UNAVAILABLE = "unavailable"  # the server failed while deciding: fail closed
    # Faces (DEVICE_PROTOCOL.md "Faces"; resolvers/faces/gate.py).
    FACE_UNAVAILABLE = "face_unavailable"  # no face recognition installed or enabled
    FACE_BAD_IMAGE = "face_bad_image"  # not a JPEG, no face, or more than one face
    FACE_UNKNOWN = "face_unknown"  # no enrolled template close enough
    FACE_AMBIGUOUS = "face_ambiguous"  # two different people both close enough
    LIVENESS_FAILED = "liveness_failed"  # the terminal reported `liveness: false`
    # A zone that needs face and pass: the first factor is held for the second (`next` says which).
    SECOND_FACTOR = "second_factor"
    # Door alarms: no decision was asked for.
    FORCED = "forced"
    HELD_OPEN = "held_open"

    # Looked up by value: a str hashes once and keeps it, an enum member hashes in Python each
    # time, and these are asked several times on every scan.
    @property
    def grants(self) -> bool:
        return self._value_ in _GRANTS

    @property
    def is_alarm(self) -> bool:
        return self._value_ in _ALARMS

    @property
    def verified(self) -> bool:
        """False when decided before the signature was checked: the event may not name anyone."""
        return self._value_ not in _UNVERIFIED

    @property
    def decision(self) -> Decision | None:
        if self.is_alarm:
            return None
        return Decision.GRANTED if self.grants else Decision.DENIED

    @classmethod
    def parse(cls, text: object) -> Reason | None:
        """The reason a device reports, or None when it is not one of ours."""
        if not isinstance(text, str):
            return None
        try:
            return cls(text)
        except ValueError:
            return None


_GRANTS = frozenset(
    r.value
    for r in (
        Reason.OK,
        Reason.ANTI_PASSBACK_SOFT,
        Reason.EXIT_AFTER_REVOCATION,
        Reason.REMOTE_OPEN,
        Reason.CONFIRMED_LEFT,
    )
)
_ALARMS = frozenset(r.value for r in (Reason.FORCED, Reason.HELD_OPEN))
_UNVERIFIED = frozenset(
    r.value
    for r in (
        Reason.MALFORMED,
        Reason.UNKNOWN_CREDENTIAL,
        Reason.EXPIRED,
        Reason.NOT_YET_VALID,
        Reason.BAD_SIGNATURE,
        Reason.OFFLINE_MISMATCH,
        # Refused before the token is looked at: the event must not name whoever it claims to be.
        Reason.DEVICE_NOT_IN_SERVICE,
        # Faces refused before (or without) a match: nobody was recognised.
        Reason.FACE_UNAVAILABLE,
        Reason.FACE_BAD_IMAGE,
        Reason.FACE_UNKNOWN,
        Reason.FACE_AMBIGUOUS,
        Reason.LIVENESS_FAILED,
    )
)
