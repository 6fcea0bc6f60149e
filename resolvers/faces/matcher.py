"""1:N matching of one embedding against every enrolled template, over a numpy matrix.

Anyone may leave through any exit, so a gate compares against everyone enrolled. At 50,000
templates a plain `norm(M - e)` costs ~35 ms (it writes an (N, 128) temporary); instead the
squared distances come from one float32 matrix-vector product, |M|² - 2 M·e + |e|² with |M|²
computed once, and only the few templates that float32 cannot tell from the two nearest are
measured again exactly in float64, so every answer is the one the exact norm would give
(bench/faces_bench.py: ~1 ms a face).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Two different people both within the threshold and this close to each other in distance: the
# face cannot tell them apart, so nobody is let in on it (`face_ambiguous`).
AMBIGUITY_MARGIN = 0.05
# How far float32 squared distances may be from the exact ones (embeddings have norms near 1;
# float32 rounding over 128 products is ~1e-6): templates this close to the second nearest are
# re-measured exactly, so float32 only narrows the search and never decides.
_APPROX_SLACK = 1e-3


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
        self._approx = np.ascontiguousarray(self.matrix, dtype=np.float32)
        self._approx_norms = np.einsum("ij,ij->i", self._approx, self._approx)

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
        # einsum, not `@`: BLAS splits the product over threads that, on a busy server, wait for
        # each other (p50 13 ms, p99 140 ms at 50,000 on a loaded 2-core machine, against 2 / 30 ms).
        products = np.einsum("ij,j->i", self._approx, embedding.astype(np.float32))
        squared = self._approx_norms - 2.0 * products
        if len(squared) > 2:
            second_nearest = squared[np.argpartition(squared, 1)[1]]
            candidates = np.flatnonzero(squared <= second_nearest + _APPROX_SLACK)
        else:
            candidates = np.arange(len(squared))
        exact = np.linalg.norm(self.matrix[candidates] - embedding, axis=1)
        ranked = np.argsort(exact, kind="stable")  # candidates ascend by index: ties keep that order
        best, best_distance = int(candidates[ranked[0]]), float(exact[ranked[0]])
        if best_distance > threshold:
            return Match(None, best_distance, "unknown")
        if len(ranked) > 1:
            second, second_distance = int(candidates[ranked[1]]), float(exact[ranked[1]])
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
