"""What an experiment concludes across arms and seeds: gap closure against an oracle arm with a crossed
bootstrap over images and seeds, and the two variances its power analysis needs (``services.common.power``).

The resampling scheme (a crossed bootstrap). Every evaluation of an experiment scores the same evaluation
images, and each arm is trained once per seed, so images and training seeds are two crossed sources of
variation. A replicate b resamples both, independently:

* images: one multinomial resample w_b of the slice's n images (``bootstrap.image_resamples``), applied to
  every evaluation - every arm and every seed - which keeps arms paired on the same images;
* seeds: S draws with replacement from the S seeds, the same draws for every arm (arms are paired by seed).

An arm's replicate value is the mean over the drawn seeds of mAP50(arm, seed | w_b); gap closure per
replicate is (A_b − B_b) / (O_b − B_b) for arm A, baseline B, oracle O. Intervals are the bias-corrected
percentile intervals of ``bootstrap.percentile_interval``. When the interval of the denominator O − B
includes 0 the oracle is not distinguishably better than the baseline, the ratio has no stable meaning, and
the table says so instead of printing one.

Coverage, simulated (tests/evaluator/test_study_stats.py: 400 studies of 5 seeds × 200 images, image
variance dominating): 95 % for a nominal 95 %. Known limits: resampling both factors counts the per-image,
per-seed noise twice, so with no between-seed variance the interval is conservative (99.5 % simulated at
3 seeds); a bootstrap of S seeds reproduces only (S − 1)/S of the between-seed variance, so when that is a
large share of the total the interval is too narrow (90 % simulated at 10 seeds). With one seed only
images are resampled. Cost: arms × seeds × n_boot AP evaluations per slice (the per-resample cost is in
bootstrap.py), no more than the per-seed paired comparisons it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.evaluator.bootstrap import SliceStreams, image_resamples, percentile_interval


def resampled_map50(
    grid: Sequence[Sequence[SliceStreams]], n_boot: int, seed: int, slice_pos: int
) -> np.ndarray:
    """(arms, seeds, n_boot) mAP50 of each evaluation of one slice under shared image resamples.

    ``grid[a][s]``: the slice's streams of arm a's detector of seed s (all on the same images)."""
    n_arms, n_seeds = len(grid), len(grid[0])
    out = np.zeros((n_arms, n_seeds, n_boot))
    n_images = grid[0][0].n_images
    if n_images == 0:
        return out
    for b, w in enumerate(image_resamples(n_images, n_boot, seed, slice_pos)):
        for a in range(n_arms):
            for s in range(n_seeds):
                out[a, s, b] = grid[a][s].ap50(w)[1]
    return out


def seed_resampled(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(arms, n_boot) replicate means: replicate b averages the seeds drawn for it (with replacement, the
    same draws for every arm) at image resample b. ``values``: (arms, seeds, n_boot)."""
    _, n_seeds, n_boot = values.shape
    drawn = rng.integers(0, n_seeds, (n_boot, n_seeds))
    return values[:, drawn, np.arange(n_boot)[:, None]].mean(axis=2)


def gap_closure(
    point: np.ndarray,
    replicates: np.ndarray | None,
    baseline: int,
    oracle: int,
    level: float = 0.95,
) -> list[dict]:
    """Per arm (besides baseline and oracle) the fraction of the baseline→oracle gap it closes.

    ``point``: (arms,) mean mAP50 over seeds; ``replicates``: (arms, n_boot) from ``seed_resampled``, or
    None without a bootstrap. Each entry: ``gap`` (None when undefined), its interval, the denominator
    (oracle − baseline) with its interval, and ``note`` when there is no ratio."""
    denom = float(point[oracle] - point[baseline])
    d_low = d_high = None
    if replicates is not None and replicates.shape[1]:
        d_samples = replicates[oracle] - replicates[baseline]
        d_low, d_high = percentile_interval(d_samples, level, denom)
    out = []
    for a in range(len(point)):
        if a in (baseline, oracle):
            continue
        row: dict = {
            "arm_index": a,
            "gap": None,
            "gap_low": None,
            "gap_high": None,
            "denominator": denom,
            "denominator_low": d_low,
            "denominator_high": d_high,
            "note": None,
        }
        if d_low is not None and d_high is not None and d_low <= 0 <= d_high:
            row["note"] = (
                f"no ratio: the {level:.0%} interval of oracle − baseline [{d_low:.4f}, {d_high:.4f}] includes "
                "0, so the oracle is not distinguishably better than the baseline on this slice"
            )
        elif denom == 0:
            row["note"] = "no ratio: the oracle and the baseline score the same mAP50 on this slice"
        else:
            row["gap"] = float(point[a] - point[baseline]) / denom
            if d_low is not None:
                assert replicates is not None
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratios = (replicates[a] - replicates[baseline]) / (
                        replicates[oracle] - replicates[baseline]
                    )
                row["gap_low"], row["gap_high"] = percentile_interval(
                    ratios[np.isfinite(ratios)], level, row["gap"]
                )
        out.append(row)
    return out


def power_variances(
    points: np.ndarray, resampled: np.ndarray, arm: int, baseline: int
) -> tuple[float | None, float | None]:
    """(seed_var, image_var) of the paired difference arm − baseline (see ``services.common.power``).

    ``points``: (arms, seeds) mAP50 of each evaluation; ``resampled``: (arms, seeds, n_boot) under shared
    image resamples. seed_var: sample variance over seeds of the point differences (None below 2 seeds);
    image_var: mean over seeds of the variance over resamples of the difference (None below 2 resamples)."""
    diffs = points[arm] - points[baseline]
    seed_var = float(np.var(diffs, ddof=1)) if diffs.shape[0] >= 2 else None
    boot = resampled[arm] - resampled[baseline]
    image_var = float(np.var(boot, axis=1, ddof=1).mean()) if boot.shape[1] >= 2 else None
    return seed_var, image_var
