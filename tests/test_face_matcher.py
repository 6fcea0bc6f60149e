"""The matcher's float32 short-list never changes an answer: on galleries full of near ties, every
match equals the exact rule (a full float64 norm and sort, the threshold, the ambiguity margin)."""

from __future__ import annotations

import numpy as np

from resolvers.faces.matcher import AMBIGUITY_MARGIN, Gallery, Match


def exact(people: list[int], matrix: np.ndarray, embedding: np.ndarray, threshold: float) -> Match:
    distances = np.linalg.norm(matrix - embedding, axis=1)
    order = np.argsort(distances, kind="stable")
    best, best_distance = int(order[0]), float(distances[order[0]])
    if best_distance > threshold:
        return Match(None, best_distance, "unknown")
    if len(order) > 1:
        second_distance = float(distances[order[1]])
        if (
            second_distance <= threshold
            and people[int(order[1])] != people[best]
            and second_distance - best_distance < AMBIGUITY_MARGIN
        ):
            return Match(None, best_distance, "ambiguous")
    return Match(people[best], best_distance)


def test_every_answer_is_the_exact_rules_answer_near_ties_included() -> None:
    rng = np.random.default_rng(15)
    base = rng.normal(size=(1000, 128))
    base *= 1.4 / np.linalg.norm(base, axis=1, keepdims=True)
    # Clusters of templates a hair apart (float32 cannot order them) and exact duplicates.
    near = base[:50] + rng.normal(scale=1e-6, size=(50, 128))
    matrix = np.vstack([base, near, base[50:60]])
    people = list(range(len(matrix)))
    people[-10:] = people[50:60]  # two templates of one person: never ambiguous with themselves
    gallery = Gallery(people, matrix)
    probes = [matrix[i] + rng.normal(scale=s, size=128) for i in range(0, 1060, 13) for s in (0.0, 0.01, 0.03, 0.2)]
    probes += list(rng.normal(size=(40, 128)))
    seen = set()
    for probe in probes:
        for threshold in (0.05, 0.45, 0.6):
            got, want = gallery.match(probe, threshold), exact(people, matrix, probe, threshold)
            assert (got.person_id, got.problem) == (want.person_id, want.problem)
            assert got.distance is not None and want.distance is not None
            assert abs(got.distance - want.distance) < 1e-12
            seen.add(want.problem)
    assert seen == {None, "unknown", "ambiguous"}  # every branch of the rule was exercised


def test_one_and_two_templates() -> None:
    one = Gallery([7], np.full((1, 128), 0.1))
    assert one.match(np.full(128, 0.1), 0.45) == Match(7, 0.0)
    two = Gallery([7, 8], np.vstack([np.full(128, 0.1), np.full(128, 0.101)]))
    assert two.match(np.full(128, 0.1), 0.45).problem == "ambiguous"
    assert Gallery([], np.zeros((0, 128))).match(np.zeros(128), 0.45) == Match(None, None, "unknown")
