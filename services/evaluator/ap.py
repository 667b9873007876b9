"""Average precision exactly as ``ultralytics.utils.metrics.ap_per_class``, without its O(N) curves.

ultralytics builds, per class and IoU threshold, the full precision/recall arrays over all N
predictions, takes the precision envelope and reads it at 101 recall points with ``np.interp``.
``np.interp`` only ever reads, for a query x, the LAST point whose recall is <= x and the point after
it; recall is constant between true positives, so only the first and last point of every run of
equal recall matter, and within a run precision only falls (the envelope of a point in a run is its
own precision or the envelope after the run). Keeping those two points per true positive gives the same
floats from the same operations (int64 counts divided as ultralytics divides them), hence the same AP to
the last bit, at O(TP) cost. The precision/recall curves on the 1000-point confidence grid are likewise
read only at the two neighbours of each grid point.

The weighted form (integer multiplicity per prediction and per label) serves the bootstrap: a
resample is a weight vector, nothing is copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-16  # ap_per_class' eps
_AP_X = np.linspace(0, 1, 101)  # 101-point interpolation (COCO), as ultralytics
_CURVE_X = np.linspace(0, 1, 1000)
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy >= 2 renamed it


@dataclass(frozen=True)
class ClassAP:
    """Per-class results for the classes present in the ground truth, as ultralytics returns them."""

    classes: np.ndarray  # int, sorted unique target classes
    n_labels: np.ndarray  # int, ground-truth boxes per class
    ap: np.ndarray  # (nc, 10)
    precision: np.ndarray  # (nc,) at the max mean-F1 confidence
    recall: np.ndarray  # (nc,)


def ap_from_counts(tp_cum: np.ndarray, fp_before: np.ndarray, n_labels, eps: float = EPS) -> float:
    """101-point AP of a ranked list given, at each true positive k (in rank order), the cumulative
    TP count including k and the cumulative FP count before k. Counts are integers (weights allowed).

    Equals ultralytics' ``compute_ap(recall, precision)`` on the full curve; the points used are the
    first and last of each constant-recall run (see module docstring).
    """
    tp_cum = np.asarray(tp_cum, dtype=np.int64)
    fp_before = np.asarray(fp_before, dtype=np.int64)
    k = tp_cum.size
    denom = n_labels + eps
    rec = tp_cum / denom
    start_p = tp_cum / (tp_cum + fp_before)
    end_p = np.empty(k, dtype=np.float64)
    if k:
        end_p[:-1] = tp_cum[:-1] / (tp_cum[:-1] + fp_before[1:])
        end_p[-1] = 0.0  # trailing false positives and the zero-precision sentinel
        first_end = 0.0 if fp_before[0] > 0 else 1.0
    else:
        first_end = 0.0
    mrec = np.empty(2 * k + 3, dtype=np.float64)
    mpre = np.empty(2 * k + 3, dtype=np.float64)
    mrec[0:2] = 0.0
    mpre[0], mpre[1] = 1.0, first_end
    mrec[2:-1:2] = rec
    mrec[3:-1:2] = rec
    mpre[2:-1:2] = start_p
    mpre[3:-1:2] = end_p
    mrec[-1], mpre[-1] = 1.0, 0.0
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    return float(_trapezoid(np.interp(_AP_X, mrec, mpre), _AP_X))


def ap_fast(tp_cum: np.ndarray, fp_before: np.ndarray, n_labels, eps: float = EPS) -> float:
    """``ap_from_counts`` in O(K) passes over the TPs plus O(101 log K), for the bootstrap.

    Same curve: the envelope at a run's start is the reverse running max of the run starts, at its
    end max(end precision, next start's envelope); ``np.interp`` is evaluated by hand at the 101
    recall points (same segments, arithmetic may differ in the last bit). Leading entries with zero
    cumulative TP (true positives of images drawn zero times) are skipped.
    """
    tp_cum = np.asarray(tp_cum)
    n0 = int(np.searchsorted(tp_cum, 0, side="right"))
    tp_cum, fp_before = tp_cum[n0:], np.asarray(fp_before)[n0:]
    k = tp_cum.size
    if k == 0:
        return 0.0
    tp64 = tp_cum.astype(np.float64)
    rec = tp64 / (n_labels + eps)
    start_env = np.maximum.accumulate((tp64 / (tp64 + fp_before))[::-1])[::-1]  # envelope at run starts
    x = _AP_X
    j = np.searchsorted(rec, x, side="right") - 1  # last run whose recall <= x (-1: the zero-recall run)
    nxt = np.minimum(j + 1, k - 1)
    # end of run j: precision before the next TP, or 0 after the last one; run -1 ends at 0 or 1
    end_p = np.where(j >= k - 1, 0.0, tp64[np.maximum(j, 0)] / (tp64[np.maximum(j, 0)] + fp_before[nxt]))
    end_p = np.where(j < 0, 0.0 if fp_before[0] > 0 else 1.0, end_p)
    next_env = np.where(j >= k - 1, 0.0, start_env[nxt])
    x0 = np.where(j < 0, 0.0, rec[np.maximum(j, 0)])
    y0 = np.maximum(end_p, next_env)
    x1 = np.where(j >= k - 1, 1.0, rec[nxt])
    y1 = np.where(j >= k - 1, 0.0, start_env[nxt])
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(x == x0, y0, y0 + (y1 - y0) / (x1 - x0) * (x - x0))
    return float(_trapezoid(y, x))


def _curves(conf_c: np.ndarray, tp_pos: np.ndarray, n_labels, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision on the 1000-point confidence grid (ultralytics' r_curve / p_curve rows)."""
    xp_full = -conf_c.astype(np.float64)  # nondecreasing
    q = -_CURVE_X
    j = np.searchsorted(xp_full, q, side="right") - 1  # the index np.interp reads, and j + 1
    idx = np.unique(np.concatenate((j, j + 1)))
    idx = idx[(idx >= 0) & (idx < xp_full.size)]
    tpc = np.searchsorted(tp_pos, idx, side="right").astype(np.int64)  # TPs at positions <= idx
    xp = xp_full[idx]
    recall = tpc / (n_labels + eps)
    precision = tpc / (idx.astype(np.int64) + 1)  # tpc / (tpc + fpc)
    return np.interp(q, xp, recall, left=0), np.interp(q, xp, precision, left=1)


def _smooth(y: np.ndarray, f: float = 0.05) -> np.ndarray:
    """ultralytics.utils.metrics.smooth: box filter of width fraction f."""
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]), 0)
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def ap_per_class(
    tp_bits: np.ndarray,
    conf: np.ndarray,
    pred_cls: np.ndarray,
    target_cls: np.ndarray,
    n_thresholds: int = 10,
    eps: float = EPS,
) -> ClassAP:
    """ultralytics' ``ap_per_class`` on TP flags packed as bits (bit t = TP at threshold t).

    The inputs must be in the order ultralytics would concatenate them (image by image): the
    confidence sort is the same unstable ``np.argsort(-conf)``, so tied confidences are ranked
    identically and the result is bit-identical.
    """
    conf = np.asarray(conf, dtype=np.float32)
    i = rank_by_confidence(conf)
    return ap_per_class_ranked(
        np.asarray(tp_bits)[i], conf[i], np.asarray(pred_cls)[i], target_cls, n_thresholds, eps
    )


def rank_by_confidence(conf: np.ndarray) -> np.ndarray:
    """ultralytics' ranking permutation: ``np.argsort(-conf)`` on float32 (not stable; kept for ties)."""
    return np.argsort(-np.asarray(conf, dtype=np.float32))


def ap_per_class_ranked(
    tp_bits: np.ndarray,
    conf: np.ndarray,
    pred_cls: np.ndarray,
    target_cls: np.ndarray,
    n_thresholds: int = 10,
    eps: float = EPS,
) -> ClassAP:
    """``ap_per_class`` on predictions already ranked by ``rank_by_confidence``."""
    unique_classes, nt = np.unique(np.asarray(target_cls), return_counts=True)
    nc = unique_classes.shape[0]
    ap = np.zeros((nc, n_thresholds))
    p_curve, r_curve = np.zeros((nc, 1000)), np.zeros((nc, 1000))
    for ci, c in enumerate(unique_classes):
        sel = pred_cls == c
        n_l = nt[ci]
        if not sel.any() or n_l == 0:
            continue
        bits_c, conf_c = tp_bits[sel], conf[sel]
        for t in range(n_thresholds):
            pos = np.flatnonzero((bits_c >> t) & 1)
            tp_cum = np.arange(1, pos.size + 1, dtype=np.int64)
            ap[ci, t] = ap_from_counts(tp_cum, pos - tp_cum + 1, n_l, eps)
            if t == 0:
                r_curve[ci], p_curve[ci] = _curves(conf_c, pos, n_l, eps)
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
    k = _smooth(f1_curve.mean(0), 0.1).argmax() if nc else 0
    return ClassAP(
        classes=unique_classes.astype(int),
        n_labels=nt,
        ap=ap,
        precision=p_curve[:, k],
        recall=r_curve[:, k],
    )
