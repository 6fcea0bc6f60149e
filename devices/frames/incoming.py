"""Frames a gate device sends (DEVICE_PROTOCOL.md v1 and the README's protocol additions).

A frame that misses a declared field or has one of the wrong type or out of range is
answered with an `error` frame (`bad_message`, its ref echoed); fields not declared here
are ignored, so firmware one release ahead keeps working. `face` frames (a v1 extension,
DEVICE_PROTOCOL.md "Faces") come only from devices whose hello declared "face".
"""

import math
from typing import Annotated, Literal, NotRequired, TypedDict

from devices.frames.kit import (
    MOMENT,
    Doc,
    FrameType,
    Rule,
    at_least_items,
    at_most_items,
    compile_frames,
    pattern,
    text,
    whole,
)
from resolvers.devices.offline_uploads import MAX_BATCH

Ref = Annotated[
    Annotated[str, text(1, 128)] | int,
    Doc("Chosen by the device, unique per device (a counter is fine); the answer carries it back."),
]
GateRef = Annotated[str, Doc("A gate id from `welcome.gates`.")]
Direction = Literal["IN", "OUT"]
Counter = Annotated[int, whole(0)]


class Hello(TypedDict):
    """The first frame, within 5 s of the upgrade. Answered by `welcome`, or a close with
    4401 (bad or missing credentials, retired device)."""

    type: Literal["hello"]
    deviceId: Annotated[str, Doc("The id `registerDevice` returned.")]
    secret: Annotated[str, Doc("The device secret, shown once at registration or rotation.")]
    firmware: NotRequired[Annotated[str, Doc("Firmware version, shown to administrators (first 64 characters).")]]
    capabilities: NotRequired[
        Annotated[
            list[str],
            Doc(
                '"offline": the device decides alone when its link is down (snapshots, revoke);'
                ' "face": it sends `face` frames.'
            ),
        ]
    ]
    faceKey: NotRequired[
        Annotated[
            str,
            Doc(
                'Protocol addition, with capabilities "offline" and "face": the terminal\'s X25519 public key,'
                " standard base64 of 32 bytes; its snapshots then carry `faceTemplates` encrypted to it"
                ' (README "Faces", offline terminals). A bad key is answered `bad_message` after `welcome`.'
            ),
        ]
    ]


class Scan(TypedDict):
    """A credential presented at a gate. Answered by exactly one `decision` with the same ref;
    a retry (same ref and credential) gets the same decision again and records nothing."""

    type: Literal["scan"]
    ref: Ref
    gateId: GateRef
    credential: Annotated[
        str,
        pattern(r"\S*", "a string holding the token alone, with no whitespace or newline"),
        Doc("The scanned text, exactly as read: the whole string must be the token."),
    ]
    direction: NotRequired[
        Annotated[Direction | None, Doc("Required at a gate whose direction is BOTH; ignored elsewhere.")]
    ]


# A JPEG of at most 512 KiB, as standard base64.
MAX_FACE_IMAGE_CHARS = (512 * 1024 + 2) // 3 * 4
EMBEDDING = Rule(
    "exactly 128 finite numbers",
    lambda v: len(v) == 128 and all(math.isfinite(x) for x in v),
    {"minItems": 128, "maxItems": 128},
)


class Face(TypedDict):
    """A face at a gate, from a device whose hello declared "face" (DEVICE_PROTOCOL.md "Faces"):
    exactly one of `image` and `embedding`. Answered by one `decision` with the same ref, as a
    scan is; a `second_factor` decision carries `next` ("scan")."""

    type: Literal["face"]
    ref: Ref
    gateId: GateRef
    image: NotRequired[
        Annotated[
            str,
            text(1, MAX_FACE_IMAGE_CHARS),
            Doc("One JPEG of at most 512 KiB, standard base64: the server detects and encodes the face."),
        ]
    ]
    embedding: NotRequired[
        Annotated[
            list[float],
            EMBEDDING,
            Doc("The 128-d face_recognition encoding the terminal computed (68-point landmarks, one jitter)."),
        ]
    ]
    liveness: NotRequired[Annotated[bool, Doc("The terminal's own anti-spoofing verdict; absent: it did not check.")]]
    direction: NotRequired[
        Annotated[Direction | None, Doc("Required at a gate whose direction is BOTH; ignored elsewhere.")]
    ]


class HeartbeatStats(TypedDict, total=False):
    """Totals since the device booted; the server stores the differences."""

    scans: Counter
    decodeFailures: Counter
    recognitionAttempts: Counter
    recognitionSuccesses: Counter


class Heartbeat(TypedDict):
    """Sent every `heartbeatSeconds`; no frame for 3 × heartbeatSeconds marks the device offline."""

    type: Literal["heartbeat"]
    at: NotRequired[Annotated[str, Doc("The device's clock, ISO 8601.")]]
    stats: NotRequired[HeartbeatStats]


class Door(TypedDict):
    """A door sensor report; `forced` and `held_open` raise alerts to guards."""

    type: Literal["door"]
    gateId: GateRef
    state: Literal["opened", "closed", "forced", "held_open"]
    at: NotRequired[
        Annotated[str, Doc("When it happened, ISO 8601 with an offset; otherwise the server's time is used.")]
    ]


class Ack(TypedDict):
    """A command carried out (or taken on): the command's id."""

    type: Literal["ack"]
    id: Annotated[str, Doc('The `id` of the `command` frame, e.g. "c-17".')]


class SnapshotAck(TypedDict):
    """Protocol addition: an offline snapshot was verified and loaded."""

    type: Literal["snapshot_ack"]
    issuedAt: Annotated[str, Doc("The loaded snapshot's `issuedAt`.")]


class OfflineEvent(TypedDict):
    """A decision the gate took alone while its link was down."""

    seq: Annotated[
        int,
        whole(1, 2**62 - 1, says="a whole number from 1 to 2^62"),
        Doc("The device's sequence number; each (device, seq) is stored once."),
    ]
    gateId: GateRef
    at: Annotated[str, MOMENT, Doc("When the gate decided.")]
    credential: Annotated[str, text(0, 512), Doc("The scanned text.")]
    granted: bool
    reason: Annotated[str, text(1, 32), Doc("The reason code the gate decided with.")]
    direction: Direction
    ref: NotRequired[Annotated[Ref, Doc("The online scan's ref, when the gate gave up waiting for its answer.")]]
    method: NotRequired[
        Annotated[
            Literal["QR", "FACE"],
            Doc('Protocol addition: "FACE" for a face matched offline (`credential` then ""); absent: "QR".'),
        ]
    ]
    personId: NotRequired[Annotated[str, Doc("FACE: the `personId` of the template the terminal matched.")]]
    distance: NotRequired[Annotated[float, Doc("FACE: the match's embedding distance, as the terminal computed it.")]]
    liveness: NotRequired[Annotated[bool, Doc("FACE: the terminal's anti-spoofing verdict; absent: it did not check.")]]


class Events(TypedDict):
    """Protocol addition: offline decisions, uploaded on reconnect. Answered by `events_ack`."""

    type: Literal["events"]
    ref: NotRequired[Ref]
    events: Annotated[
        list[OfflineEvent],
        at_least_items(1, "a non-empty list"),
        at_most_items(MAX_BATCH, f"at most {MAX_BATCH} events long"),
    ]


class Item(TypedDict):
    """Protocol addition: an item label scanned at a gate. Answered by `item_result`."""

    type: Literal["item"]
    ref: Ref
    gateId: GateRef
    code: Annotated[str, Doc("The label's text.")]


INCOMING: dict[str, FrameType] = compile_frames(
    "device → server", Hello, Scan, Heartbeat, Door, Ack, SnapshotAck, Events, Item, Face
)
