"""1:N matching of one embedding against every enrolled template, over a numpy matrix.

Anyone may leave through any exit, so a gate compares against everyone enrolled; at ~thousands
of people that is one vectorised norm over an (N, 128) matrix, well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Two different people both within the threshold and this close to each other in distance: the
# face cannot tell them apart, so nobody is let in on it (`face_ambiguous`).
AMBIGUITY_MARGIN = 0.05


@dataclass(frozen=True)
class Match:
    """`person_id` and `distance` of the best template, or `problem`: "unknown" or "ambiguous"."""

    person_id: int | None
    distance: float | None
    problem: str | None = None


class Gallery:
    """The templates one process matches against: person ids and their (N, 128) matrix."""

    def __init__(self, people: list[int], matrix: npt.NDArray[np.float64]) -> None:
        self.people = np.asarray(people, dtype=np.int64)
        self.matrix = matrix.reshape(len(people), 128) if people else np.zeros((0, 128))

    @classmethod
    def of(cls, templates: dict[int, npt.NDArray[np.float64]]) -> Gallery:
        people = sorted(templates)
        matrix = np.stack([templates[p] for p in people]) if people else np.zeros((0, 128))
        return cls(people, matrix)

    def __len__(self) -> int:
        return len(self.people)

    def match(self, embedding: npt.NDArray[np.float64], threshold: float) -> Match:
        if not len(self.people):
            return Match(None, None, "unknown")
        distances = np.linalg.norm(self.matrix - embedding, axis=1)
        order = np.argsort(distances)
        best = int(order[0])
        best_distance = float(distances[best])
        if best_distance > threshold:
            return Match(None, best_distance, "unknown")
        if len(order) > 1:
            second = int(order[1])
            second_distance = float(distances[second])
            if (
                second_distance <= threshold
                and self.people[second] != self.people[best]
                and second_distance - best_distance < AMBIGUITY_MARGIN
            ):
                return Match(None, best_distance, "ambiguous")
        return Match(int(self.people[best]), best_distance)


class _GalleryCache:
    """This worker's matching matrix, read at first use and dropped when templates change
    (realtime FacesChanged, from any worker)."""

    def __init__(self) -> None:
        self._gallery: Gallery | None = None
        self._generation = 0

    def invalidate(self) -> None:
        self._gallery = None
        self._generation += 1

    async def get(self, load: Callable[[], Awaitable[dict[int, npt.NDArray[np.float64]]]]) -> Gallery:
        if self._gallery is not None:
            return self._gallery
        generation = self._generation
        gallery = Gallery.of(await load())
        if generation == self._generation:  # no change arrived while reading
            self._gallery = gallery
        return gallery


gallery_cache = _GalleryCache()
