"""Prediction-to-ground-truth matching, identical to ultralytics' validator, vectorised over images.

ultralytics (``DetectionValidator._process_batch`` + ``BaseValidator.match_predictions``, greedy branch)
computes, per image, the float32 IoU of every ground-truth box with every prediction (predictions in
descending confidence), zeroes pairs of different classes, and then for each IoU threshold lets each
prediction in turn claim the unclaimed ground truth with the highest IoU (first index on ties) if that
IoU reaches the threshold. The matching of one image does not depend on any other image, so it is done
once per evaluation and every slice reuses it.

Here the same greedy result is computed for all images at once: only same-class pairs with IoU >= 0.5
can ever match, so those candidate pairs are enumerated per (image, class) group in chunks, expanded to
one entry per threshold they reach, and resolved in rounds. In each round a prediction is resolved when it
is the earliest unresolved prediction on every ground truth it is a candidate for: no earlier prediction
can then take any of its candidates, so it claims exactly what the sequential greedy loop would give it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# torch.linspace(0.5, 0.95, 10) as float32, the thresholds ultralytics compares float32 IoUs against.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10).astype(np.float32)
N_THRESHOLDS = IOU_THRESHOLDS.shape[0]
_IOU_EPS = np.float32(1e-7)  # box_iou's eps, added in float32 as torch does
_PAIR_CHUNK = 4_000_000  # candidate pairs per IoU chunk: bounds memory to a few hundred MB


@dataclass(frozen=True)
class MatchResult:
    """Predictions in evaluation order (by image, then descending confidence) with their TP flags.

    ``tp_bits`` packs the 10 per-threshold TP flags into one uint16 (bit t = correct at IOU_THRESHOLDS[t])
    so that selecting a slice moves 2 bytes per prediction instead of 10.
    """

    order: np.ndarray  # index into the caller's prediction arrays, evaluation order
    image: np.ndarray  # int64 image index per prediction, evaluation order
    cls: np.ndarray  # int64 class per prediction
    conf: np.ndarray  # float32 confidence per prediction
    tp_bits: np.ndarray  # uint16

    def tp_matrix(self) -> np.ndarray:
        """(N, 10) bool matrix, as ultralytics' ``stats['tp']``."""
        return ((self.tp_bits[:, None] >> np.arange(N_THRESHOLDS, dtype=np.uint16)) & 1).astype(bool)


def box_iou_pairs(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Float32 IoU of paired rows, with exactly ultralytics' ``box_iou`` operation order and eps."""
    gt = np.asarray(gt, dtype=np.float32)
    pred = np.asarray(pred, dtype=np.float32)
    w = np.minimum(gt[:, 2], pred[:, 2]) - np.maximum(gt[:, 0], pred[:, 0])
    h = np.minimum(gt[:, 3], pred[:, 3]) - np.maximum(gt[:, 1], pred[:, 1])
    np.maximum(w, 0, out=w)
    np.maximum(h, 0, out=h)
    inter = w * h
    area_g = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    return inter / (area_g + area_p - inter + _IOU_EPS)


def evaluation_order(pred_image: np.ndarray, pred_conf: np.ndarray) -> np.ndarray:
    """Sort predictions by image, then descending confidence (stable: ties keep input order).

    This is the order ultralytics sees: images one after another, each image's NMS output by confidence.
    """
    conf = np.asarray(pred_conf, dtype=np.float32)
    by_conf = np.argsort(-conf, kind="stable")
    return by_conf[np.argsort(np.asarray(pred_image)[by_conf], kind="stable")]


def _candidate_pairs(
    gt_key: np.ndarray, gt_boxes: np.ndarray, pred_key: np.ndarray, pred_boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All same-(image, class) pairs with IoU >= the lowest threshold: (pred index, gt index, IoU).

    Pairs are enumerated group by group in chunks; pairs whose x-extents do not overlap (most of
    them) are dropped before the full IoU, which is then computed exactly as ``box_iou`` does.
    """
    p_perm = np.argsort(pred_key, kind="stable").astype(np.int32)
    g_perm = np.argsort(gt_key, kind="stable").astype(np.int32)
    pk, gk = pred_key[p_perm], gt_key[g_perm]
    keys = np.intersect1d(pk, gk)
    empty = np.zeros(0, dtype=np.int32)
    if keys.size == 0:
        return empty, empty, np.zeros(0, dtype=np.float32)
    p_start = np.searchsorted(pk, keys, side="left")
    p_count = np.searchsorted(pk, keys, side="right") - p_start
    g_start = np.searchsorted(gk, keys, side="left")
    g_count = np.searchsorted(gk, keys, side="right") - g_start
    # one row per prediction of a shared group: the prediction and the span of its group's labels
    row_pred = p_perm[np.repeat(p_start, p_count) + _ranges(p_count)]
    row_g_start = np.repeat(g_start, p_count)
    row_len = np.repeat(g_count, p_count)
    ends = np.cumsum(row_len)
    px1, px2 = pred_boxes[:, 0], pred_boxes[:, 2]
    gx1, gx2 = gt_boxes[:, 0], gt_boxes[:, 2]
    out_p, out_g, out_v = [], [], []
    lo = 0
    while lo < row_pred.size:
        base = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, base + _PAIR_CHUNK, side="right")), lo + 1)
        lens = row_len[lo:hi]
        pi = np.repeat(row_pred[lo:hi], lens)
        gi = g_perm[np.repeat(row_g_start[lo:hi], lens) + _ranges(lens)]
        overlap_x = np.minimum(gx2[gi], px2[pi]) > np.maximum(gx1[gi], px1[pi])
        pi, gi = pi[overlap_x], gi[overlap_x]
        iou = box_iou_pairs(gt_boxes[gi], pred_boxes[pi])
        keep = iou >= IOU_THRESHOLDS[0]
        out_p.append(pi[keep])
        out_g.append(gi[keep])
        out_v.append(iou[keep])
        lo = hi
    return np.concatenate(out_p), np.concatenate(out_g), np.concatenate(out_v)


def _ranges(counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges: [0..counts[0]), [0..counts[1]), ..."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return (np.arange(total, dtype=np.int64) - np.repeat(starts, counts)).astype(np.int32)


def _greedy_match(pi: np.ndarray, gi: np.ndarray, iou: np.ndarray, n_pred: int) -> np.ndarray:
    """Greedy matching of candidate pairs at every threshold; returns per-prediction TP bits.

    Prediction indices order the greedy loop (smaller = earlier); ties in IoU go to the smaller label
    index, as ``argmax`` does. Each (threshold, prediction) and (threshold, label) gets a dense id;
    entries are kept sorted by (label id, prediction id) so "earliest prediction per label" is the
    first entry of each label run.
    """
    o = np.lexsort((pi, gi))
    pi, gi, iou = pi[o], gi[o], iou[o]
    p_ids, p_c = np.unique(pi, return_inverse=True)
    g_ids, g_c = np.unique(gi, return_inverse=True)
    n_p, n_g = p_ids.size, g_ids.size
    parts = []
    for t, thr in enumerate(IOU_THRESHOLDS):
        sel = iou >= thr
        parts.append((t * n_p + p_c[sel], t * n_g + g_c[sel], iou[sel]))
    det = np.concatenate([d for d, _, _ in parts])
    gt = np.concatenate([g for _, g, _ in parts])
    val = np.concatenate([v for _, _, v in parts])
    n_det = N_THRESHOLDS * n_p
    claimed = np.zeros(N_THRESHOLDS * n_g, dtype=bool)
    won = []
    while det.size:
        new_run = np.empty(det.size, dtype=bool)
        new_run[0] = True
        np.not_equal(gt[1:], gt[:-1], out=new_run[1:])
        run_start = np.maximum.accumulate(np.where(new_run, np.arange(det.size), 0))
        earliest = det[run_start] == det  # this entry's prediction is the earliest one wanting its label
        blocked = np.zeros(n_det, dtype=bool)
        blocked[det[~earliest]] = True
        safe = ~blocked[det]  # earliest on every label it wants: its greedy choice is final
        s_idx = np.flatnonzero(safe)
        n_entries = np.bincount(det[s_idx], minlength=n_det)
        single = n_entries[det[s_idx]] == 1
        multi = s_idx[~single]
        multi = multi[np.lexsort((gt[multi], -val[multi], det[multi]))]
        first = np.ones(multi.size, dtype=bool)
        first[1:] = det[multi[1:]] != det[multi[:-1]]
        best = np.concatenate((s_idx[single], multi[first]))
        won.append(det[best])
        claimed[gt[best]] = True
        keep = ~safe & ~claimed[gt]
        det, gt, val = det[keep], gt[keep], val[keep]
    won_d = np.concatenate(won)
    pred = p_ids[won_d % n_p]
    # each (prediction, threshold) wins at most once, so summing the bit values ORs them
    bits = np.bincount(pred, weights=np.left_shift(1, won_d // n_p), minlength=n_pred)
    return bits.astype(np.uint16)


def match_detections(
    gt_image: np.ndarray,
    gt_cls: np.ndarray,
    gt_boxes: np.ndarray,
    pred_image: np.ndarray,
    pred_cls: np.ndarray,
    pred_conf: np.ndarray,
    pred_boxes: np.ndarray,
) -> MatchResult:
    """TP flags at the 10 IoU thresholds for every prediction, as ultralytics' validator computes them.

    Boxes are xyxy in any consistent unit (pixels); ground truth keeps its input order within an image,
    which decides IoU ties exactly as the label order does in ultralytics.
    """
    gt_image = np.asarray(gt_image, dtype=np.int64)
    gt_cls = np.asarray(gt_cls, dtype=np.int64)
    pred_image_in = np.asarray(pred_image, dtype=np.int64)
    order = evaluation_order(pred_image_in, pred_conf)
    p_image = pred_image_in[order]
    p_cls = np.asarray(pred_cls, dtype=np.int64)[order]
    p_conf = np.asarray(pred_conf, dtype=np.float32)[order]
    p_boxes = np.asarray(pred_boxes, dtype=np.float32)[order]
    g_perm = np.argsort(gt_image, kind="stable")  # gt index within an image keeps the input order
    g_boxes = np.asarray(gt_boxes, dtype=np.float32)[g_perm]
    n_cls = int(max(gt_cls.max(initial=0), p_cls.max(initial=0))) + 1
    pi, gi, iou = _candidate_pairs(
        gt_image[g_perm] * n_cls + gt_cls[g_perm], g_boxes, p_image * n_cls + p_cls, p_boxes
    )
    n_pred = p_image.size
    if n_pred == 0 or pi.size == 0:
        return MatchResult(order, p_image, p_cls, p_conf, np.zeros(n_pred, dtype=np.uint16))
    tp_bits = _greedy_match(pi, gi, iou, n_pred)
    return MatchResult(order=order, image=p_image, cls=p_cls, conf=p_conf, tp_bits=tp_bits)
