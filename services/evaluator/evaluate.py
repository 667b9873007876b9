"""Sliced detection evaluation: match once, then ultralytics' AP per slice, with bootstrap intervals.

Rows per slice: one per class with ground truth in the slice, plus the ``all`` row. As in
ultralytics (``Metric.map50`` / ``mp`` / ``mr`` over ``ap_class_index``, i.e. ``np.unique(target_cls)``),
the ``all`` row averages over the classes that have ground truth in the slice: a class with labels but
no predictions counts as AP 0, a class with predictions but no labels is not averaged (and gets no
row). ``ap50_95`` of ``all`` is the mean of the whole (classes x 10) AP matrix, as ``Metric.map``.
Precision and recall are read at the confidence maximising the slice's smoothed mean F1, so a class's
P/R depend on the slice, exactly as ultralytics reports them. ``images`` is the number of images in
the slice for every row (ultralytics prints images containing the class instead); ``instances`` is
the number of ground-truth boxes of the class (all classes for ``all``) in the slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.common.evaluation import DEFAULT_BUCKETS
from services.evaluator.ap import ap_per_class_ranked, rank_by_confidence
from services.evaluator.bootstrap import SliceStreams, bootstrap_ap50, percentile_interval, slice_streams
from services.evaluator.matching import MatchResult, match_detections
from services.evaluator.slices import ImageMeta, Slice, build_slices

ALL_CLASSES = "all"


@dataclass(frozen=True)
class DetectionSet:
    """Ground truth and predictions of one dataset as flat arrays (boxes xyxy, pixels).

    Image indices refer to rows of ``meta``; class indices to ``class_names``.
    """

    class_names: tuple[str, ...]
    meta: ImageMeta
    gt_image: np.ndarray
    gt_cls: np.ndarray
    gt_boxes: np.ndarray
    pred_image: np.ndarray
    pred_cls: np.ndarray
    pred_conf: np.ndarray
    pred_boxes: np.ndarray

    @property
    def n_images(self) -> int:
        return self.meta.n_images

    @classmethod
    def create(
        cls,
        class_names: Sequence[str],
        meta: ImageMeta,
        gt_image: np.ndarray,
        gt_cls: np.ndarray,
        gt_boxes: np.ndarray,
        pred_image: np.ndarray,
        pred_cls: np.ndarray,
        pred_conf: np.ndarray,
        pred_boxes: np.ndarray,
    ) -> DetectionSet:
        """Validate shapes and ranges once, so evaluation code can trust the arrays."""
        n, nc = meta.n_images, len(class_names)
        arrays = {}
        for kind, image, klass, boxes in (
            ("gt", gt_image, gt_cls, gt_boxes),
            ("pred", pred_image, pred_cls, pred_boxes),
        ):
            image = np.asarray(image, dtype=np.int64).reshape(-1)
            klass = np.asarray(klass, dtype=np.int64).reshape(-1)
            boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
            if not image.shape[0] == klass.shape[0] == boxes.shape[0]:
                counts = f"{image.shape[0]} image indices, {klass.shape[0]} classes, {boxes.shape[0]} boxes"
                raise ValueError(f"{kind}: {counts}; give one of each per box")
            if image.size and (image.min() < 0 or image.max() >= n):
                raise ValueError(f"{kind}: image index outside [0, {n}) for a dataset of {n} images")
            if klass.size and (klass.min() < 0 or klass.max() >= nc):
                raise ValueError(f"{kind}: class index outside [0, {nc}) for classes {list(class_names)}")
            if not np.isfinite(boxes).all():
                raise ValueError(f"{kind}: boxes contain NaN or infinite coordinates")
            arrays[kind] = (image, klass, boxes)
        conf = np.asarray(pred_conf, dtype=np.float32).reshape(-1)
        if conf.shape[0] != arrays["pred"][0].shape[0]:
            raise ValueError(f"pred: {conf.shape[0]} confidences for {arrays['pred'][0].shape[0]} boxes")
        if not np.isfinite(conf).all():
            raise ValueError("pred: confidences contain NaN or infinite values")
        return cls(tuple(class_names), meta, *arrays["gt"], *arrays["pred"][:2], conf, arrays["pred"][2])


@dataclass(frozen=True)
class Evaluation:
    """Rows plus what a paired bootstrap comparison needs (slices and their ranked IoU-0.5 streams)."""

    rows: list[dict]
    slices: list[Slice]
    streams: list[SliceStreams]
    n_images: int

    def map50(self, slice_name: str) -> float:
        for r in self.rows:
            if r["slice"] == slice_name and r["class"] == ALL_CLASSES:
                return r["ap50"]
        raise KeyError(slice_name)


def _row(slice_name, klass, ap50, ap50_95, p, r, images, instances, interval) -> dict:
    return {
        "slice": slice_name,
        "class": klass,
        "ap50": float(ap50),
        "ap50_95": float(ap50_95),
        "precision": float(p),
        "recall": float(r),
        "images": int(images),
        "instances": int(instances),
        "ap50_low": interval[0],
        "ap50_high": interval[1],
    }


def evaluate(
    ds: DetectionSet,
    buckets: Sequence[int | None] = DEFAULT_BUCKETS,
    slice_by: Sequence[str] = ("occlusion",),
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    match: MatchResult | None = None,
) -> Evaluation:
    """Evaluate every slice and class; ``n_boot=0`` skips the bootstrap (intervals are None)."""
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    slices = build_slices(ds.meta, buckets, slice_by)
    if match is None:
        match = match_detections(
            ds.gt_image, ds.gt_cls, ds.gt_boxes, ds.pred_image, ds.pred_cls, ds.pred_conf, ds.pred_boxes
        )
    g_perm = np.argsort(ds.gt_image, kind="stable")  # labels in image order, as ultralytics concatenates
    gt_image, gt_cls = ds.gt_image[g_perm], ds.gt_cls[g_perm]
    rows: list[dict] = []
    all_streams: list[SliceStreams] = []
    for pos, s in enumerate(slices):
        member = np.zeros(ds.n_images, dtype=bool)
        member[s.images] = True
        local = np.cumsum(member) - 1  # slice-local image index
        pm, gm = member[match.image], member[gt_image]
        conf = match.conf[pm]
        rank = rank_by_confidence(conf)
        bits, cls_r = match.tp_bits[pm][rank], match.cls[pm][rank]
        res = ap_per_class_ranked(bits, conf[rank], cls_r, gt_cls[gm])
        streams = slice_streams(
            len(s.images), local[match.image[pm][rank]], cls_r, (bits & 1).astype(bool),
            local[gt_image[gm]], gt_cls[gm], res.classes,
        )  # fmt: skip
        all_streams.append(streams)
        no_ci = (None, None)
        class_ci = [no_ci] * len(res.classes)
        all_ci = no_ci
        if n_boot and len(res.classes):
            per_class, means = bootstrap_ap50(streams, n_boot, seed, pos)
            class_ci = [
                percentile_interval(per_class[:, k], level, res.ap[k, 0]) for k in range(len(res.classes))
            ]
            all_ci = percentile_interval(means, level, res.ap[:, 0].mean())
        nc = len(res.classes)
        rows.append(
            _row(
                s.name,
                ALL_CLASSES,
                res.ap[:, 0].mean() if nc else 0.0,
                res.ap.mean() if nc else 0.0,
                res.precision.mean() if nc else 0.0,
                res.recall.mean() if nc else 0.0,
                len(s.images),
                int(gm.sum()),
                all_ci,
            )  # fmt: skip
        )
        for k, c in enumerate(res.classes):
            rows.append(
                _row(
                    s.name,
                    ds.class_names[c],
                    res.ap[k, 0],
                    res.ap[k].mean(),
                    res.precision[k],
                    res.recall[k],
                    len(s.images),
                    res.n_labels[k],
                    class_ci[k],
                )  # fmt: skip
            )
    return Evaluation(rows=rows, slices=slices, streams=all_streams, n_images=ds.n_images)
