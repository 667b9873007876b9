"""Power analysis for paired detector comparisons over training seeds (pure Python: the API plans with it,
the experiment job reports with it).

The model. An experiment trains arm A and the baseline B with the same seeds s = 1..n and evaluates both on
one evaluation set. The paired per-seed difference d_s = mAP50(A, s) − mAP50(B, s) varies with the training
seed (variance ``seed_var``: the sample variance of d_s over seeds) and, because the evaluation set is one
sample of images, every d_s shares an image-sampling error (variance ``image_var``: the mean over seeds of
the variance of d_s over paired image-bootstrap resamples). Averaging n seeds shrinks only the first:

    SE(n) = sqrt(seed_var / n + image_var)

A two-sided paired test at level α with power 1 − β (Student t with n − 1 degrees of freedom, the
usual approximation for the paired t-test's power) detects differences of at least

    δ(n) = (t[1 − α/2, n − 1] + t[1 − β, n − 1]) · SE(n)                 (minimum detectable difference)

and a target difference δ* needs the smallest n ≥ 2 with δ(n) ≤ δ*. As n grows δ(n) falls to
(z[1 − α/2] + z[1 − β]) · sqrt(image_var): a target below that floor cannot be reached with more seeds on
this evaluation set, only with more evaluation images (``seeds_needed`` returns None and says so).
"""

from __future__ import annotations

import math
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.8
DEFAULT_TARGET = 0.02
MAX_SEEDS = 10_000
_SERIES_DF = 200  # above this, quantiles from the Cornish-Fisher expansion (error < 1e-8)


def t_cdf(t: float, df: int) -> float:
    """Student t CDF for integer degrees of freedom: the exact finite series (Abramowitz & Stegun 26.7.3)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:  # odd: (2/π)(θ + sinθ cosθ (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + ...)), ν − 2 terms' powers
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        a = 2 / math.pi * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))
    else:  # even: sinθ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ...)
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        a = s * total
    return 0.5 + math.copysign(a / 2, t)


def t_ppf(p: float, df: int) -> float:
    """Student t quantile for integer degrees of freedom (bisection on `t_cdf`, to 1e-10)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_ppf(1 - p, df)
    if df > _SERIES_DF:  # Abramowitz & Stegun 26.7.5
        z = NormalDist().inv_cdf(p)
        g = (
            (z**3 + z) / 4,
            (5 * z**5 + 16 * z**3 + 3 * z) / 96,
            (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
            (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
        )
        return z + sum(gk / df ** (k + 1) for k, gk in enumerate(g))
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    while hi - lo > 1e-10 * max(1.0, hi):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def _multiplier(n: int, alpha: float, power: float) -> float:
    return t_ppf(1 - alpha / 2, n - 1) + t_ppf(power, n - 1)


def detectable_difference(
    seed_var: float, image_var: float, n_seeds: int, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """δ(n) of the module docstring; None below 2 seeds (a paired t-test needs a variance)."""
    if n_seeds < 2:
        return None
    return _multiplier(n_seeds, alpha, power) * math.sqrt(seed_var / n_seeds + image_var)


def difference_floor(image_var: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The limit of δ(n) as n → ∞: what this evaluation set's size allows at best."""
    nd = NormalDist()
    return (nd.inv_cdf(1 - alpha / 2) + nd.inv_cdf(power)) * math.sqrt(image_var)


def seeds_needed(
    seed_var: float, image_var: float, target: float, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """The smallest n ≥ 2 with δ(n) ≤ target; None when the target is at or below the floor (or needs more
    than MAX_SEEDS seeds)."""
    if target <= difference_floor(image_var, alpha, power):
        return None
    lo, hi = 2, 2
    while detectable_difference(seed_var, image_var, hi, alpha, power) > target:  # type: ignore[operator]
        if hi >= MAX_SEEDS:
            return None
        lo, hi = hi, min(hi * 2, MAX_SEEDS)
    while lo < hi:  # δ(n) decreases with n: the first n that reaches the target
        mid = (lo + hi) // 2
        if detectable_difference(seed_var, image_var, mid, alpha, power) <= target:  # type: ignore[operator]
            hi = mid
        else:
            lo = mid + 1
    return lo


def unreachable_note(image_var: float, alpha: float = ALPHA, power: float = POWER) -> str:
    """Why `seeds_needed` found no number of seeds."""
    return (
        "unreachable with more seeds: the evaluation set's image-sampling error alone limits the detectable "
        f"difference to {difference_floor(image_var, alpha, power):.4f} (or more than {MAX_SEEDS} seeds "
        "would be needed); evaluate on more images"
    )


def plan(
    seed_var: float,
    image_var: float,
    targets: list[float],
    n_seeds: list[int],
    alpha: float = ALPHA,
    power: float = POWER,
) -> dict:
    """The power table: detectable difference at each seed count, seeds needed for each target."""
    floor = difference_floor(image_var, alpha, power)
    needed = {t: seeds_needed(seed_var, image_var, t, alpha, power) for t in targets}
    return {
        "seed_variance": seed_var,
        "image_variance": image_var,
        "alpha": alpha,
        "power": power,
        "detectable": [
            {"seeds": n, "difference": detectable_difference(seed_var, image_var, n, alpha, power)}
            for n in n_seeds
        ],
        "needed": [
            {
                "target": t,
                "seeds": needed[t],
                "note": None if needed[t] is not None else unreachable_note(image_var, alpha, power),
            }
            for t in targets
        ],
        "floor": floor,
    }
