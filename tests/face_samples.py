"""Real photos shipped inside packages (no download) for the face tests, encoded once per process.

Astronaut: skimage's Eileen Collins, head and shoulders only (rows 0-320: the mission patch below
is found as a second "face" once the picture is a JPEG). Grace Hopper: matplotlib's sample. The
variants each change one thing, as a gate's camera would: JPEG quality, greyscale, a mirror
image, a smaller picture. camera() shows no face; the two portraits side by side show two.
"""

from __future__ import annotations

import base64
import functools
import io
import sqlite3
from typing import Any

import pytest

from resolvers.faces.encoding import encode_photo, packages_present
from tests.harness import IN_CI, Site, World


def require_faces() -> None:
    """The face tests need face_recognition (make test installs it): under CI=true its absence
    fails them, elsewhere they skip saying why."""
    if packages_present():
        return
    why = 'face_recognition is not installed (make test installs it: README "Faces")'
    if IN_CI:
        pytest.fail(why)
    pytest.skip(why)


def _np() -> Any:
    import numpy as np

    return np


def jpeg(pixels: Any, quality: int = 90) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(pixels: Any) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


@functools.cache
def astronaut() -> Any:
    from skimage import data

    return data.astronaut()[:320].copy()


@functools.cache
def grace() -> Any:
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return _np().asarray(Image.open(io.BytesIO(f.read())).convert("RGB")).copy()


def variants(pixels: Any) -> dict[str, bytes]:
    """The same face as a gate might see it: each changes one thing."""
    from PIL import Image

    np = _np()
    image = Image.fromarray(pixels)
    grey = np.asarray(image.convert("L"))
    return {
        "jpeg60": jpeg(pixels, 60),
        "greyscale": jpeg(np.stack([grey] * 3, axis=-1)),
        "flip": jpeg(pixels[:, ::-1].copy()),
        "scale": jpeg(np.asarray(image.resize((pixels.shape[1] * 3 // 4, pixels.shape[0] * 3 // 4)))),
    }


def no_face() -> bytes:
    from skimage import data

    return png(data.camera())


def two_faces() -> bytes:
    from PIL import Image

    np = _np()
    a, g = astronaut(), grace()
    height = a.shape[0]
    g_small = np.asarray(Image.fromarray(g).resize((g.shape[1] * height // g.shape[0], height)))
    return jpeg(np.concatenate([a, g_small], axis=1))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@functools.cache
def embedding(photo: bytes) -> tuple[float, ...]:
    """The test process's own encoding of a photo (cached: ~130 ms each)."""
    encoded = encode_photo(photo)
    assert encoded.problem is None, encoded.problem
    return encoded.embedding


ENROL = (
    "mutation($id: ID!, $p: String!, $v: String!) { enrolFace(personId: $id, photo: $p, consentVersion: $v)"
    " { face { enrolled } errors { code message field } } }"
)


async def enrol(world: World, username: str, photo: bytes) -> None:
    """HR enrols the demo person `username` with `photo`, attesting the current consent."""
    version = (await world.api.ok('{ faceConsent(language: "en") { version } }', as_="hr"))["faceConsent"]["version"]
    answer = await world.api.ok(ENROL, {"id": world.ids.people[username], "p": b64(photo), "v": version}, as_="hr")
    assert answer["enrolFace"]["errors"] == [], answer


def rows(site: Site, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of the site's SQLite database file, read beside the server."""
    with sqlite3.connect(site.database_url.split("sqlite://", 1)[1]) as db:
        return db.execute(sql, args).fetchall()
