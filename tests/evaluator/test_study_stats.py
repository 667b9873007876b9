"""Gap closure and the crossed bootstrap over images and seeds: constructed numbers, and the interval's
coverage over simulated studies."""

from __future__ import annotations

import numpy as np
import pytest

from services.evaluator.bootstrap import bootstrap_ap50
from services.evaluator.evaluate import evaluate
from services.evaluator.study_stats import gap_closure, power_variances, resampled_map50, seed_resampled
from tests.evaluator.test_eval_bootstrap import synthetic


def test_gap_closure_by_hand() -> None:
    # Arms: baseline 0.30, translated 0.40, oracle 0.50, other 0.35 -> gaps 0.10/0.20 = 0.5 and 0.05/0.20 = 0.25.
    point = np.array([0.30, 0.40, 0.50, 0.35])
    # Replicates: the oracle − baseline gap stays 0.20; the translated arm's ratio runs 0.3 .. 0.7 around
    # its estimate 0.5 (so the bias correction is zero and the interval is the plain percentile one):
    # quantiles 2.5 % and 97.5 % of [0.3, 0.4, 0.5, 0.6, 0.7] = 0.3 + 0.1·0.1, 0.6 + 0.1·0.9 = 0.31, 0.69.
    replicates = np.array(
        [
            [0.30] * 5,
            [0.36, 0.38, 0.40, 0.42, 0.44],
            [0.50] * 5,
            [0.35] * 5,
        ]
    )
    translated, other = gap_closure(point, replicates, baseline=0, oracle=2)
    assert translated["arm_index"] == 1 and other["arm_index"] == 3
    assert translated["gap"] == pytest.approx(0.5) and other["gap"] == pytest.approx(0.25)
    assert translated["gap_low"] == pytest.approx(0.31) and translated["gap_high"] == pytest.approx(0.69)
    assert other["gap_low"] == pytest.approx(0.25) and other["gap_high"] == pytest.approx(0.25)
    assert translated["denominator"] == pytest.approx(0.2)
    assert (translated["denominator_low"], translated["denominator_high"]) == pytest.approx((0.2, 0.2))
    assert translated["note"] is None
    # Without a bootstrap: the ratio, no interval.
    (plain, _) = gap_closure(point, None, baseline=0, oracle=2)
    assert plain["gap"] == pytest.approx(0.5) and plain["gap_low"] is None


def test_no_ratio_when_the_oracle_is_not_distinguishable_from_the_baseline() -> None:
    point = np.array([0.30, 0.40, 0.31])
    replicates = np.array([[0.30] * 5, [0.40] * 5, [0.27, 0.29, 0.31, 0.33, 0.35]])
    (row,) = gap_closure(point, replicates, baseline=0, oracle=2)
    assert row["gap"] is None and row["gap_low"] is None
    assert row["denominator_low"] < 0 < row["denominator_high"]
    assert "includes 0" in row["note"] and "not distinguishably better" in row["note"]
    (same,) = gap_closure(np.array([0.3, 0.4, 0.3]), None, baseline=0, oracle=2)
    assert same["gap"] is None and "the same mAP50" in same["note"]


def test_seed_resampling_draws_the_same_seeds_for_every_arm() -> None:
    # values[a, s, b] = 10·a + s: a replicate's mean is 10·a + (mean of the drawn seed indices).
    values = np.add.outer(10.0 * np.arange(2), np.arange(3))[:, :, None].repeat(50, axis=2)
    reps = seed_resampled(values, np.random.default_rng(0))
    assert reps.shape == (2, 50)
    np.testing.assert_allclose(reps[1] - reps[0], 10.0)
    assert len(np.unique(reps[0])) > 3  # the draws vary between replicates
    assert set(np.round(reps[0] * 3).astype(int)) <= set(range(7))  # sums of three seed indices 0..2


def test_shared_resamples_are_the_evaluations_own() -> None:
    """Each evaluation resampled with the same multiplicities as its own bootstrap (same seed and slice)."""
    evs = [evaluate(synthetic(200, seed=k), n_boot=0) for k in range(2)]
    assert [s.name for s in evs[0].slices][2] == "all"  # the slice both share image for image
    grid = [[evs[0].streams[2]], [evs[1].streams[2]]]
    values = resampled_map50(grid, 30, seed=5, slice_pos=2)
    for a in range(2):
        _, means = bootstrap_ap50(grid[a][0], 30, 5, 2)
        np.testing.assert_allclose(values[a, 0], means)


def test_power_variances_by_hand() -> None:
    points = np.array([[0.30, 0.32, 0.31], [0.35, 0.36, 0.38]])
    # Differences 0.05, 0.04, 0.07: mean 0.05333, squared deviations 1.111e-5 + 1.7778e-4 + 2.7778e-4 = 4.6667e-4,
    # over n − 1 = 2: 2.3333e-4.
    resampled = np.zeros((2, 3, 4))
    resampled[1] = [[0.0, 0.02, 0.0, 0.02], [0.0, 0.0, 0.0, 0.0], [0.01, 0.03, 0.01, 0.03]]
    # Per seed, the variance over resamples (ddof 1) of the differences: 1.3333e-4, 0, 1.3333e-4 -> mean 8.889e-5.
    seed_var, image_var = power_variances(points, resampled, arm=1, baseline=0)
    assert seed_var == pytest.approx(2.3333e-4, rel=1e-4)
    assert image_var == pytest.approx(8.8889e-5, rel=1e-4)
    assert power_variances(points[:, :1], resampled[:, :1], 1, 0)[0] is None


def _simulated_study(rng: np.random.Generator, seeds: int, images: int, n_boot: int) -> dict:
    """Three arms scored per image on a shared evaluation set: arm a's score of image i with seed s is
    μ_a + c_a·u_i + v_as + e_asi (u: image difficulty, shared; v: training seed; e: noise); the study's
    statistic is the mean score, resampled exactly as resampled_map50 resamples mAP50."""
    mu, c = np.array([0.30, 0.40, 0.50]), np.array([1.0, 0.9, 0.8])
    u = rng.normal(0, 0.15, images)
    x = (
        mu[:, None, None]
        + c[:, None, None] * u
        + rng.normal(0, 0.01, (3, seeds, 1))
        + rng.normal(0, 0.1, (3, seeds, images))
    )
    w = rng.multinomial(images, np.full(images, 1 / images), size=n_boot)  # one image resample per replicate
    values = np.einsum("asn,bn->asb", x, w) / images
    (row,) = gap_closure(x.mean(axis=(1, 2)), seed_resampled(values, rng), baseline=0, oracle=2)
    return row


def test_gap_closure_interval_covers_the_true_gap_at_its_nominal_rate() -> None:
    """400 seeded studies of 5 seeds × 200 images; the true gap is (0.40 − 0.30) / (0.50 − 0.30) = 0.5."""
    hits = 0
    for k in range(400):
        row = _simulated_study(np.random.default_rng([2026, k]), seeds=5, images=200, n_boot=200)
        assert row["gap"] is not None
        hits += row["gap_low"] <= 0.5 <= row["gap_high"]
    print(f"coverage {hits / 400:.4f}")
    assert 0.92 <= hits / 400 <= 0.98, hits / 400
