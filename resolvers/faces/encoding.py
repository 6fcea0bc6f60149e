"""Photos to 128-d embeddings, in a process of its own.

`import face_recognition` loads ~100 MB of models in about a second, and one photo costs ~130 ms
of CPU (HOG detection and the ResNet encoding). In the server's event loop that would stall every
gate behind a face; so the work runs in one forkserver process per worker (a clean process, the
models preloaded once), and at most `MAX_WAITING` photos wait for it: past that the caller is
refused at once ("busy") rather than queued, because gates must never wait behind faces.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
from dataclasses import dataclass

from resolvers.core import helper_processes

log = logging.getLogger("gatehouse.faces")

MAX_WAITING = 4
MAX_PHOTO_BYTES = 512 * 1024
# A photo larger than this many pixels is refused before detection: a small JPEG can decode into a
# huge bitmap (a decompression bomb), and a gate or a selfie never needs more.
MAX_PIXELS = 4096 * 4096
EMBEDDING_SIZE = 128


class FacesBusy(helper_processes.HelperBusy):
    """More photos are waiting to be encoded than this worker takes on."""


@dataclass(frozen=True)
class Encoded:
    """`problem` is None and `embedding` holds 128 floats, or `problem` says why not:
    "not_image", "no_face" or "several_faces"."""

    problem: str | None
    embedding: tuple[float, ...] = ()


def packages_present() -> bool:
    """Whether face_recognition and its models could be imported, found without importing them."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("face_recognition", "face_recognition_models", "dlib")
    )


def encode_photo(data: bytes, formats: tuple[str, ...] = ("JPEG", "PNG")) -> Encoded:
    """Detect and encode the one face in a JPEG or PNG (runs in the encoding process); a gate's
    frame carries a JPEG only (DEVICE_PROTOCOL.md "Faces")."""
    import face_recognition
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in formats:
                return Encoded("not_image")
            if image.width * image.height > MAX_PIXELS:
                return Encoded("not_image")
            pixels = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return Encoded("not_image")
    # upsample=0: at 1, HOG also finds "faces" in printed patches and logos (STACK_NOTES.md).
    boxes = face_recognition.face_locations(pixels, number_of_times_to_upsample=0)
    if not boxes:
        return Encoded("no_face")
    if len(boxes) > 1:
        return Encoded("several_faces")
    vector = face_recognition.face_encodings(pixels, boxes)[0]
    return Encoded(None, tuple(float(x) for x in vector))


def _preload() -> None:
    # Dies with its forkserver (helper_processes.py), and yields the CPU to the server's gate
    # decisions: reading a photo costs ~130 ms of CPU on a machine whose cores the gates share.
    helper_processes.die_with_parent()
    os.nice(10)
    import face_recognition  # noqa: F401


class _Encoder:
    def __init__(self) -> None:
        self._helper = helper_processes.HelperPool(
            "face reading", MAX_WAITING, FacesBusy, "too many faces are being read: try again in a moment", _preload
        )

    async def encode(self, data: bytes, formats: tuple[str, ...] = ("JPEG", "PNG")) -> Encoded:
        return await self._helper.run(encode_photo, data, formats)

    @property
    def waiting(self) -> int:
        return self._helper.waiting

    def stop(self) -> None:
        self._helper.stop()


encoder = _Encoder()
