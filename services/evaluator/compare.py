"""Paired comparison of two stored evaluations of the same images: mAP50(b) − mAP50(a) per slice, with a
bootstrap interval over identical image resamples. Used by the compare_evaluations job (experiments resample
all their evaluations at once: services.evaluator.study_stats)."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.core.storage import ObjectStore
from services.evaluator.bootstrap import paired_difference
from services.evaluator.evaluate import evaluate
from services.evaluator.persist import load_detection_set


def compare_stored(
    store: ObjectStore,
    key_a: str,
    key_b: str,
    buckets: Sequence[int | None],
    slice_by: Sequence[str],
    n_boot: int,
    seed: int,
) -> list[dict]:
    """`key_a`, `key_b`: the evaluations' stored detection sets (their `matches_key`)."""
    ev_a = evaluate(load_detection_set(store, key_a), buckets, slice_by, n_boot=0)
    ev_b = evaluate(load_detection_set(store, key_b), buckets, slice_by, n_boot=0)
    return paired_difference(ev_a, ev_b, n_boot=n_boot, seed=seed)
