import numpy as np
import pytest

from services.evaluator.bootstrap import paired_difference, percentile_interval
from services.evaluator.evaluate import DetectionSet, evaluate
from services.evaluator.slices import ImageMeta


def synthetic(n_img, seed=0, noise=4.0):
    """Each image: a few labels, noisy detections of most of them, some background boxes."""
    rng = np.random.default_rng(seed)
    n_gt = rng.integers(1, 6, n_img)
    gi = np.repeat(np.arange(n_img), n_gt)
    xy = rng.uniform(0, 300, (gi.size, 2))
    gb = np.concatenate([xy, xy + rng.uniform(20, 80, (gi.size, 2))], 1)
    gc = rng.integers(0, 2, gi.size)
    hit = rng.random(gi.size) < 0.8
    pb = gb[hit] + rng.normal(0, noise, (hit.sum(), 4))
    pconf = rng.uniform(0.3, 1.0, hit.sum())
    n_bg = rng.integers(0, 4, n_img)
    bi = np.repeat(np.arange(n_img), n_bg)
    bxy = rng.uniform(0, 300, (bi.size, 2))
    bb = np.concatenate([bxy, bxy + rng.uniform(20, 80, (bi.size, 2))], 1)
    meta = ImageMeta(
        occluded=rng.integers(0, 15, n_img), weather=rng.choice(np.array(["clear", "rainy"], object), n_img)
    )
    return DetectionSet.create(
        ("car", "truck"), meta, gi, gc, gb,
        np.concatenate([gi[hit], bi]), np.concatenate([gc[hit], rng.integers(0, 2, bi.size)]),
        np.concatenate([pconf, rng.uniform(0, 0.6, bi.size)]), np.concatenate([pb, bb]),
    )  # fmt: skip


def all_row(ev, slice_name="all"):
    return next(r for r in ev.rows if r["slice"] == slice_name and r["class"] == "all")


def test_interval_contains_estimate_and_is_deterministic():
    ds = synthetic(400)
    a = evaluate(ds, slice_by=("occlusion", "weather"), n_boot=100, seed=3)
    b = evaluate(ds, slice_by=("occlusion", "weather"), n_boot=100, seed=3)
    assert a.rows == b.rows
    for r in a.rows:
        assert r["ap50_low"] <= r["ap50"] <= r["ap50_high"], r
        assert r["ap50_low"] < r["ap50_high"]
    c = evaluate(ds, slice_by=("occlusion",), n_boot=100, seed=4)
    assert all_row(c)["ap50_low"] != all_row(a)["ap50_low"]


def test_interval_narrower_with_more_images():
    small = all_row(evaluate(synthetic(100, seed=1), n_boot=150, seed=0))
    large = all_row(evaluate(synthetic(1600, seed=1), n_boot=150, seed=0))
    assert large["ap50_high"] - large["ap50_low"] < 0.6 * (small["ap50_high"] - small["ap50_low"])


def test_unit_weights_reproduce_the_point_estimate():
    ds = synthetic(300, seed=2)
    ev = evaluate(ds, slice_by=("occlusion", "weather"), n_boot=0)
    for s, streams in zip(ev.slices, ev.streams, strict=True):
        _, m = streams.ap50(np.ones(len(s.images), dtype=np.int64))
        assert m == pytest.approx(ev.map50(s.name), abs=1e-12)


def test_paired_difference_with_itself_is_zero_and_detects_a_better_model():
    ds = synthetic(400, seed=5)
    ev = evaluate(ds, slice_by=("occlusion",), n_boot=0)
    for row in paired_difference(ev, ev, n_boot=50, seed=1):
        assert row["diff"] == 0.0 and row["diff_low"] == 0.0 and row["diff_high"] == 0.0
    worse = synthetic(400, seed=5, noise=12.0)  # same labels and images, sloppier boxes
    ev_worse = evaluate(worse, slice_by=("occlusion",), n_boot=0)
    row = next(r for r in paired_difference(ev_worse, ev, n_boot=100, seed=1) if r["slice"] == "all")
    assert row["diff"] > 0 and row["diff_low"] > 0 and row["diff_low"] <= row["diff"] <= row["diff_high"]


def test_paired_difference_refuses_different_datasets():
    a = evaluate(synthetic(50), n_boot=0)
    b = evaluate(synthetic(60), n_boot=0)
    with pytest.raises(ValueError, match="same images"):
        paired_difference(a, b)
    c = evaluate(synthetic(50), slice_by=("weather",), n_boot=0)
    with pytest.raises(ValueError, match="identical slices"):
        paired_difference(a, c)


def test_percentile_interval_plain_and_bias_corrected():
    s = np.arange(1001) / 1000.0
    assert percentile_interval(s, 0.95) == pytest.approx((0.025, 0.975))
    assert percentile_interval(s, 0.95, estimate=0.5) == pytest.approx((0.025, 0.975), abs=2e-3)
    lo, hi = percentile_interval(s, 0.95, estimate=0.3)  # samples biased upwards: interval moves down
    assert lo < 0.025 and hi < 0.975 and lo <= 0.3 <= hi
    assert percentile_interval(np.array([np.nan]), 0.95) == (None, None)


def test_fast_weighted_ap_equals_reference_curve_ap():
    from services.evaluator.ap import ap_fast, ap_from_counts

    rng = np.random.default_rng(0)
    for _ in range(2000):
        k = int(rng.integers(0, 30))
        w = rng.integers(0, 3, k)  # multiplicity 0 = image not drawn
        tp = np.cumsum(w)
        fp = np.cumsum(rng.integers(0, 4, k) * rng.integers(0, 2, k))
        n_l = max(1, int(tp[-1]) if k else 1) + int(rng.integers(0, 5))
        assert ap_fast(tp, fp, n_l) == pytest.approx(ap_from_counts(tp[w > 0], fp[w > 0], n_l), abs=1e-12)
