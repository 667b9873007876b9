"""Power analysis on constructed numbers: every expected value below is worked out by hand from the formula
δ(n) = (t[0.975, n−1] + t[0.8, n−1]) · sqrt(seed_var / n + image_var), with t quantiles from printed tables."""

from __future__ import annotations

import pytest

from services.common import power

# Student t quantiles as printed in tables (df: (t[0.975], t[0.8])).
T_TABLE = {
    1: (12.706205, 1.376382),
    2: (4.302653, 1.060660),
    3: (3.182446, 0.978472),
    9: (2.262157, 0.883404),
    11: (2.200985, 0.875530),
    12: (2.178813, 0.872609),
}


def test_t_quantiles_match_the_tables_and_scipy() -> None:
    from scipy.stats import t

    for df, (q975, q80) in T_TABLE.items():
        assert power.t_ppf(0.975, df) == pytest.approx(q975, abs=1e-6)
        assert power.t_ppf(0.8, df) == pytest.approx(q80, abs=1e-6)
    for df in (1, 2, 3, 4, 7, 30, 199, 201, 1000, 9999):
        for p in (0.6, 0.8, 0.975, 0.995):
            assert power.t_ppf(p, df) == pytest.approx(t.ppf(p, df), abs=1e-8)
            assert power.t_ppf(1 - p, df) == pytest.approx(-t.ppf(p, df), abs=1e-8)
        for x in (-2.5, 0.0, 0.7, 3.0):
            assert power.t_cdf(x, df) == pytest.approx(t.cdf(x, df), abs=1e-10)


def test_detectable_difference_by_hand() -> None:
    # 3 seeds, seed variance 4e-4 (sd 0.02), image variance 1e-5:
    # (4.302653 + 1.060660) * sqrt(4e-4 / 3 + 1e-5) = 5.363313 * 0.0119722 = 0.064211
    assert power.detectable_difference(4e-4, 1e-5, 3) == pytest.approx(0.064211, abs=2e-6)
    # 10 seeds: (2.262157 + 0.883404) * sqrt(4e-5 + 1e-5) = 3.145561 * 0.00707107 = 0.022243
    assert power.detectable_difference(4e-4, 1e-5, 10) == pytest.approx(0.022243, abs=2e-6)
    assert power.detectable_difference(4e-4, 1e-5, 1) is None  # no variance from one seed


def test_seeds_needed_by_hand() -> None:
    # n = 12: (2.200985 + 0.875530) * sqrt(4e-4/12 + 1e-5) = 3.076515 * 0.0065828 = 0.020252 > 0.02
    # n = 13: (2.178813 + 0.872609) * sqrt(4e-4/13 + 1e-5) = 3.051422 * 0.0063851 = 0.019484 <= 0.02
    assert power.seeds_needed(4e-4, 1e-5, 0.02) == 13
    # δ(3) = 0.0642 <= 0.07; δ(2) = (12.706205 + 1.376382) * sqrt(2e-4 + 1e-5) = 0.2041 > 0.07
    assert power.seeds_needed(4e-4, 1e-5, 0.07) == 3
    assert power.detectable_difference(4e-4, 1e-5, 2) == pytest.approx(0.20408, abs=1e-4)


def test_a_target_below_the_image_floor_is_unreachable() -> None:
    # floor = (1.959964 + 0.841621) * sqrt(1e-4) = 0.028016: more seeds cannot detect 0.02.
    assert power.difference_floor(1e-4) == pytest.approx(0.028016, abs=1e-6)
    assert power.seeds_needed(1e-6, 1e-4, 0.02) is None
    table = power.plan(1e-6, 1e-4, [0.02, 0.05], [3])
    (unreachable, reachable) = table["needed"]
    assert (
        unreachable["seeds"] is None
        and "0.0280" in unreachable["note"]
        and "more images" in unreachable["note"]
    )
    # 0.05: δ(3) = 5.363313 * sqrt(1e-6/3 + 1e-4) = 0.053723 > 0.05;
    #       δ(4) = (3.182446 + 0.978472) * sqrt(1e-6/4 + 1e-4) = 4.160918 * 0.0100125 = 0.041661 <= 0.05
    assert reachable["seeds"] == 4 and reachable["note"] is None
    assert table["detectable"] == [
        {"seeds": 3, "difference": pytest.approx(power.detectable_difference(1e-6, 1e-4, 3))}
    ]
