"""Frames the server sends to a gate device (DEVICE_PROTOCOL.md v1 and the README's
protocol additions).

Devices ignore fields they do not know, and frame types they do not know (`snapshot`,
`revoke` and `events_ack` go only to devices whose hello said "offline"). The tests
validate every frame a real session sends against the schemas published from these.
"""

from typing import Annotated, Literal, NotRequired, TypedDict

from devices.frames.kit import Doc, FrameType, compile_frames, pattern, whole

Ref = Annotated[str | int, Doc("The ref of the frame this answers, as the device sent it.")]
Id = Annotated[str, pattern(r"[0-9]+", "an id"), Doc("A server id, as text.")]
Time = Annotated[str, Doc("ISO 8601 with an offset.")]
Millis = Annotated[int, whole(0), Doc("Milliseconds.")]
GateDirection = Literal["IN", "OUT", "BOTH"]


class WelcomeGate(TypedDict):
    """A gate this device serves."""

    id: Id
    name: str
    direction: Annotated[GateDirection, Doc("IN gates enter their zone, OUT gates leave it; BOTH need a direction.")]
    zoneId: Id


class Welcome(TypedDict):
    """The answer to a good `hello`."""

    type: Literal["welcome"]
    deviceId: Id
    serverTime: Time
    gates: list[WelcomeGate]
    heartbeatSeconds: Annotated[int, whole(1)]
    snapshotKey: Annotated[str, Doc("Protocol addition: the Ed25519 public key (standard base64) signing snapshots.")]


class DecisionPerson(TypedDict):
    displayName: str


class DecisionOpen(TypedDict):
    gateId: Id
    durationMs: Millis


class Decision(TypedDict):
    """The answer to a `scan` or a `face`: exactly one each. `person` and `open` appear only when
    granted; a denied scan never opens anything and never names anyone."""

    type: Literal["decision"]
    ref: Ref
    granted: bool
    reason: Annotated[
        str,
        pattern(r"[a-z_]+", "a reason code"),
        Doc("`ok`, a PASS_TOKEN.md code or a policy code (`no_access`, `outside_schedule`, `anti_passback`, …)."),
    ]
    person: NotRequired[DecisionPerson]
    open: NotRequired[DecisionOpen]
    next: NotRequired[
        Annotated[
            Literal["scan", "face"],
            Doc('With `second_factor` only: the factor that completes it at this gate within 30 s ("Faces").'),
        ]
    ]


class Error(TypedDict):
    """A frame the server could not take; the connection stays open."""

    type: Literal["error"]
    ref: Annotated[Ref | None, Doc("The refused frame's ref, or null when it had none (or was not JSON).")]
    code: Annotated[
        Literal["bad_message", "server_error"],
        Doc("bad_message: the frame is wrong (fix the device); server_error: the server failed on a good frame."),
    ]
    message: Annotated[str, Doc("For people: what was wrong.")]


class Command(TypedDict):
    """Do something at a gate; acknowledge with `ack` (resent until acknowledged)."""

    type: Literal["command"]
    id: Annotated[str, pattern(r"c-[0-9]+", "c-<number>"), Doc("Echo it in the `ack`.")]
    command: Literal["open", "lockdown", "release"]
    gateId: NotRequired[Id]
    durationMs: NotRequired[Millis]
    reason: NotRequired[Annotated[str, Doc("Why, for the gate's log.")]]
    hold: NotRequired[
        Annotated[bool, Doc("Protocol addition (evacuation): with `open`, hold the door open until `release`.")]
    ]


class ScheduleWindow(TypedDict):
    """A weekly window in the snapshot's time zone; an end before the start crosses midnight."""

    weekdays: Annotated[list[Annotated[int, whole(1, 7)]], Doc("1 (Monday) to 7 (Sunday).")]
    start: Annotated[str, pattern(r"([01][0-9]|2[0-3]):[0-5][0-9]", "HH:MM")]
    end: Annotated[str, pattern(r"([01][0-9]|2[0-3]):[0-5][0-9]", "HH:MM")]


class SnapshotAccess(TypedDict):
    """Gates a credential opens, when (no schedule windows: any time)."""

    gateIds: list[Id]
    validFrom: Time | None
    validUntil: Time | None
    schedule: list[ScheduleWindow]


class SnapshotCredential(TypedDict):
    cid: str
    publicKey: Annotated[str, Doc("The credential's Ed25519 public key, standard base64.")]
    period: Annotated[int, whole(1), Doc("Token step in seconds.")]
    personId: Id
    name: str
    validUntil: Time | None
    access: list[SnapshotAccess]


class SnapshotGate(TypedDict):
    id: Id
    zoneId: Id
    direction: GateDirection


class SnapshotFaceTemplates(TypedDict):
    """Protocol addition, for a hello with "offline", "face" and `faceKey`: the face templates this
    terminal may match, encrypted to its key (README "Faces", offline terminals): X25519 with
    `ephemeralKey`, HKDF-SHA256 (salt: ephemeral then terminal public key, info
    "gatehouse face templates v1"), AES-256-GCM with associated data
    "gatehouse-face-templates|device=<deviceId>|version=<version>|issuedAt=<issuedAt>"."""

    algorithm: Literal["X25519-HKDF-SHA256-AES-256-GCM"]
    ephemeralKey: Annotated[str, Doc("The server's one-off X25519 public key, standard base64.")]
    nonce: Annotated[str, Doc("AES-GCM nonce (12 bytes), standard base64.")]
    ciphertext: Annotated[
        str,
        Doc('JSON {"matchDistance", "people": [{"personId", "name", "access", "template"}]}, encrypted; base64.'),
    ]
    count: Annotated[int, whole(0), Doc("How many people it holds.")]


class SnapshotFaceTemplatesOmitted(TypedDict):
    """More templates than GATEHOUSE_FACE_OFFLINE_MAX: none sent; match faces online."""

    omitted: Literal["over_limit"]
    count: Annotated[int, whole(0)]
    limit: Annotated[int, whole(0)]


class SnapshotBody(TypedDict):
    """What a gate needs to decide alone; valid 24 h from issuedAt."""

    version: Literal[1]
    deviceId: Id
    issuedAt: Time
    validUntil: Time
    timeZone: Annotated[str, Doc("IANA time zone of the site (schedule windows are local times there).")]
    gates: list[SnapshotGate]
    credentials: list[SnapshotCredential]
    revoked: Annotated[list[str], Doc("Credential ids (cid) revoked lately.")]
    lockedGates: list[Id]
    evacuatedGates: list[Id]
    faceTemplates: NotRequired[SnapshotFaceTemplates | SnapshotFaceTemplatesOmitted]


class Snapshot(TypedDict):
    """Protocol addition: signed offline data, after `welcome` and whenever access changes.
    Verify `signature` over the canonical JSON of `snapshot` (keys sorted, no spaces, ASCII)
    with `welcome.snapshotKey`, then answer `snapshot_ack`."""

    type: Literal["snapshot"]
    snapshot: SnapshotBody
    signature: Annotated[str, Doc("Ed25519 signature, standard base64.")]


class Revoke(TypedDict):
    """Protocol addition: credentials that died (offboarding); refuse them offline at once."""

    type: Literal["revoke"]
    credentialIds: Annotated[list[str], Doc("Credential ids (cid).")]


class EventsAck(TypedDict):
    """Protocol addition: the answer to `events`; every event up to `upTo` is stored."""

    type: Literal["events_ack"]
    ref: Ref | None
    upTo: Annotated[int, Doc("The highest seq of the batch; drop buffered events up to it.")]
    stored: Annotated[int, whole(0)]
    duplicates: Annotated[int, whole(0), Doc("Events stored before (a resent batch).")]


class ItemResult(TypedDict):
    """Protocol addition: the answer to `item`."""

    type: Literal["item_result"]
    ref: Ref
    known: Annotated[bool, Doc("The label names an asset the server knows.")]
    name: NotRequired[str | None]
    problem: Annotated[
        Literal["no_declaration", "forged_label", "unknown_asset", "scrapped", "not_yours"] | None,
        Doc("null when the item may pass; otherwise the gate stays shut until a guard decides."),
    ]
    checkId: NotRequired[Id]


OUTGOING: dict[str, FrameType] = compile_frames(
    "server → device",
    Welcome,
    Decision,
    Error,
    Command,
    Snapshot,
    Revoke,
    EventsAck,
    ItemResult,
)
