"""Benchmark: full sliced evaluation at BDD100K scale vs pycocotools' COCOeval, in one run.

Input (synthetic, seeded): 70,000 images of 1280x720, ~1.3 M labels (car/van/truck, log-normal box
sizes), ~5 M predictions (jittered matches and duplicates of labels with high confidence, plus
low-confidence background boxes down to 0.001 as YOLO emits them), per-image occluded-vehicle
counts, weather and time of day with BDD100K's proportions.

Timed: our evaluation with occlusion buckets [5, 10, all] + weather + timeofday slices, all classes,
bootstrap intervals (B below) for every row; and COCOeval (bbox) on the same input as COCO dicts, on
the full input if asked (--coco-full), else on a random image subsample extrapolated linearly to the
full size (labelled as such). Checked: our AP50 per class equals ultralytics' ``ap_per_class`` fed
with ultralytics' ``match_predictions`` TP matrix on an image subsample, to 1e-6.

Run: .venv/bin/python -m bench.evaluate [--images 70000] [--boot 200] [--coco-images 3000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from services.evaluator.evaluate import DetectionSet, evaluate
from services.evaluator.matching import match_detections
from services.evaluator.slices import ImageMeta

CLASSES = ("car", "van", "truck")
CLASS_P = (0.82, 0.06, 0.12)
WEATHER = ("clear", "overcast", "undefined", "snowy", "rainy", "partly cloudy", "foggy")
WEATHER_P = (0.535, 0.125, 0.115, 0.08, 0.073, 0.07, 0.002)
TIMEOFDAY = ("daytime", "night", "dawn/dusk", "undefined")
TIMEOFDAY_P = (0.527, 0.4, 0.071, 0.002)
W, H = 1280, 720


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    w = np.clip(np.exp(rng.normal(np.log(45), 0.9, n)), 4, W * 0.9)
    h = np.clip(w / np.exp(rng.normal(0.2, 0.25, n)), 4, H * 0.9)
    x1 = rng.uniform(0, W - w)
    y1 = rng.uniform(0, H - h)
    return np.stack([x1, y1, x1 + w, y1 + h], 1)


def make_dataset(n_images: int = 70_000, seed: int = 0) -> DetectionSet:
    """~18.6 labels and ~71 predictions per image on average."""
    rng = np.random.default_rng(seed)
    n_gt_img = rng.negative_binomial(4, 4 / (4 + 18.6), n_images)
    gt_image = np.repeat(np.arange(n_images), n_gt_img)
    n_gt = gt_image.size
    gt_cls = rng.choice(3, n_gt, p=CLASS_P)
    gt_boxes = _boxes(rng, n_gt)
    occluded = np.bincount(gt_image[rng.random(n_gt) < 0.45], minlength=n_images)

    # detections of labels: hit with p 0.8, jitter proportional to size, confidence by quality
    det = rng.random(n_gt) < 0.8
    dup = det & (rng.random(n_gt) < 0.3)
    src = np.concatenate([np.flatnonzero(det), np.flatnonzero(dup)])
    wh = np.repeat(gt_boxes[src, 2:] - gt_boxes[src, :2], 2, axis=1)
    jitter = rng.normal(0, 0.08, (src.size, 4)) * wh
    jitter[det.sum() :] *= 2.5  # duplicates sit worse
    m_boxes = gt_boxes[src] + jitter
    m_conf = np.clip(rng.beta(5, 2, src.size) - np.linspace(0, 0, src.size), 0.001, 1)
    m_conf[det.sum() :] *= 0.5
    m_cls = np.where(rng.random(src.size) < 0.05, rng.integers(0, 3, src.size), gt_cls[src])

    # background boxes: fill up to ~71 predictions per image, mostly low confidence
    n_bg_img = rng.poisson(np.maximum(71 - 1.04 * n_gt_img, 5))
    bg_image = np.repeat(np.arange(n_images), n_bg_img)
    bg_boxes = _boxes(rng, bg_image.size)
    bg_conf = np.clip(0.001 + rng.exponential(0.03, bg_image.size), 0.001, 1)
    bg_cls = rng.choice(3, bg_image.size, p=CLASS_P)

    pred_boxes = np.concatenate([m_boxes, bg_boxes])
    pred_boxes[:, [0, 2]] = np.clip(pred_boxes[:, [0, 2]], 0, W)
    pred_boxes[:, [1, 3]] = np.clip(pred_boxes[:, [1, 3]], 0, H)
    meta = ImageMeta(
        occluded=occluded,
        weather=rng.choice(np.array(WEATHER, dtype=object), n_images, p=WEATHER_P),
        timeofday=rng.choice(np.array(TIMEOFDAY, dtype=object), n_images, p=TIMEOFDAY_P),
    )
    return DetectionSet.create(
        CLASSES, meta, gt_image, gt_cls, gt_boxes,
        np.concatenate([gt_image[src], bg_image]), np.concatenate([m_cls, bg_cls]),
        np.concatenate([m_conf, bg_conf]).astype(np.float32), pred_boxes,
    )  # fmt: skip


def subset(ds: DetectionSet, images: np.ndarray) -> DetectionSet:
    """The same data restricted to some images (renumbered 0..k-1)."""
    member = np.zeros(ds.n_images, dtype=bool)
    member[images] = True
    local = np.cumsum(member) - 1
    g, p = member[ds.gt_image], member[ds.pred_image]
    meta = ImageMeta(
        occluded=ds.meta.occluded[member],
        weather=None if ds.meta.weather is None else ds.meta.weather[member],
        timeofday=None if ds.meta.timeofday is None else ds.meta.timeofday[member],
    )
    return DetectionSet.create(
        ds.class_names, meta, local[ds.gt_image[g]], ds.gt_cls[g], ds.gt_boxes[g],
        local[ds.pred_image[p]], ds.pred_cls[p], ds.pred_conf[p], ds.pred_boxes[p],
    )  # fmt: skip


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def coco_eval_seconds(ds: DetectionSet) -> tuple[float, float]:
    """Wall time of pycocotools' bbox COCOeval (index + loadRes + evaluate + accumulate); its AP50."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    t = time.perf_counter()
    xywh = np.concatenate([ds.gt_boxes[:, :2], ds.gt_boxes[:, 2:] - ds.gt_boxes[:, :2]], 1).astype(float)
    gt = {
        "images": [{"id": int(i), "width": W, "height": H} for i in range(ds.n_images)],
        "categories": [{"id": c, "name": n} for c, n in enumerate(ds.class_names)],
        "annotations": [
            {"id": k + 1, "image_id": int(i), "category_id": int(c), "bbox": b.tolist(), "area": float(b[2] * b[3]),
             "iscrowd": 0}
            for k, (i, c, b) in enumerate(zip(ds.gt_image, ds.gt_cls, xywh, strict=True))
        ],
    }  # fmt: skip
    pb = ds.pred_boxes.astype(float)
    dets = np.column_stack(
        [ds.pred_image, pb[:, :2], pb[:, 2:] - pb[:, :2], ds.pred_conf, ds.pred_cls]
    ).astype(float)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes(dets)
        ev = COCOeval(coco, res, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return time.perf_counter() - t, float(ev.stats[1])


def ultralytics_check(ds: DetectionSet) -> float:
    """Max |our AP - ultralytics' ap_per_class(tp from its match_predictions)| over classes x 10 IoUs."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo_cfg_"))
    import torch
    from ultralytics.models.yolo.detect.val import DetectionValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    from services.evaluator.ap import ap_per_class as our_ap_per_class

    torch.set_num_threads(1)
    v = DetectionValidator.__new__(DetectionValidator)
    v.iouv = torch.linspace(0.5, 0.95, 10)
    v.niou = 10
    g_order = np.argsort(ds.gt_image, kind="stable")
    p_order = np.argsort(ds.pred_image, kind="stable")
    g_start = np.searchsorted(ds.gt_image[g_order], np.arange(ds.n_images + 1))
    p_start = np.searchsorted(ds.pred_image[p_order], np.arange(ds.n_images + 1))
    stats = {"tp": [], "conf": [], "cls": [], "target": []}
    for i in range(ds.n_images):
        g = g_order[g_start[i] : g_start[i + 1]]
        p = p_order[p_start[i] : p_start[i + 1]]
        p = p[np.argsort(-ds.pred_conf[p], kind="stable")]
        pcls = torch.tensor(ds.pred_cls[p], dtype=torch.float32)
        tcls = torch.tensor(ds.gt_cls[g], dtype=torch.float32)
        if g.size == 0 or p.size == 0:
            tp = np.zeros((p.size, 10), dtype=bool)
        else:
            iou = box_iou(torch.from_numpy(ds.gt_boxes[g]), torch.from_numpy(ds.pred_boxes[p]))
            tp = v.match_predictions(pcls, tcls, iou).numpy()
        stats["tp"].append(tp)
        stats["conf"].append(ds.pred_conf[p])
        stats["cls"].append(pcls.numpy())
        stats["target"].append(tcls.numpy())
    tp, conf, cls, target = (np.concatenate(stats[k], 0) for k in ("tp", "conf", "cls", "target"))
    ref = ap_per_class(tp, conf, cls, target)
    m = match_detections(
        ds.gt_image, ds.gt_cls, ds.gt_boxes, ds.pred_image, ds.pred_cls, ds.pred_conf, ds.pred_boxes
    )
    if not np.array_equal(m.tp_matrix(), tp):
        raise AssertionError("TP matrix differs from ultralytics' match_predictions")
    ours = our_ap_per_class(m.tp_bits, m.conf, m.cls, target)
    ev = evaluate(ds, slice_by=(), n_boot=0).rows[0]
    return max(
        float(np.abs(ours.ap - ref[5]).max()),
        float(np.abs(ours.precision - ref[2]).max()),
        float(np.abs(ours.recall - ref[3]).max()),
        abs(ev["ap50"] - float(ref[5][:, 0].mean())),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=70_000)
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples per slice")
    ap.add_argument("--coco-images", type=int, default=5_000, help="COCOeval subsample (extrapolated)")
    ap.add_argument("--coco-full", action="store_true", help="run COCOeval on the full input instead")
    ap.add_argument("--check-images", type=int, default=3_000, help="images for the ultralytics check")
    args = ap.parse_args()

    ds, t_gen = _timed(lambda: make_dataset(args.images))
    print(
        f"input: {ds.n_images} images, {ds.gt_image.size} labels, {ds.pred_image.size} predictions ({t_gen:.1f} s)"
    )
    slice_by = ("occlusion", "weather", "timeofday")
    m, t_match = _timed(
        lambda: match_detections(
            ds.gt_image, ds.gt_cls, ds.gt_boxes, ds.pred_image, ds.pred_cls, ds.pred_conf, ds.pred_boxes
        )
    )
    ev0, t_slices = _timed(lambda: evaluate(ds, slice_by=slice_by, n_boot=0, match=m))
    ev, t_full = _timed(lambda: evaluate(ds, slice_by=slice_by, n_boot=args.boot))
    _, t_all_only = _timed(lambda: evaluate(ds, slice_by=(), n_boot=0))
    n_slices = len(ev.slices)
    print(f"ours: matching {t_match:.1f} s; {n_slices} slices x all classes, no bootstrap {t_slices:.1f} s")
    print(
        f"ours: FULL sliced evaluation incl. matching + bootstrap B={args.boot}: {t_full:.1f} s  (target < 60 s)"
    )
    print(f"ours: single 'all' slice, no bootstrap (what COCOeval computes): {t_all_only:.1f} s")
    all_row = next(r for r in ev.rows if r["slice"] == "all" and r["class"] == "all")
    print(f"ours: mAP50 all = {all_row['ap50']:.4f} [{all_row['ap50_low']:.4f}, {all_row['ap50_high']:.4f}]")

    if args.coco_full:
        t_coco, coco_ap50 = coco_eval_seconds(ds)
        label = "full input"
    else:
        rng = np.random.default_rng(1)
        sub = subset(ds, np.sort(rng.choice(ds.n_images, min(args.coco_images, ds.n_images), replace=False)))
        t_sub, coco_ap50 = coco_eval_seconds(sub)
        _, t_ours_sub = _timed(lambda: evaluate(sub, slice_by=(), n_boot=0))
        print(
            f"COCOeval on a {sub.n_images}-image subsample: {t_sub:.1f} s (ours, same subsample, 'all' only: "
            f"{t_ours_sub:.2f} s, {t_sub / t_ours_sub:.0f}x)"
        )
        t_coco = t_sub * ds.n_images / sub.n_images
        label = f"EXTRAPOLATED linearly from {sub.n_images} images"
    print(f"COCOeval (bbox, AP50 {coco_ap50:.4f}): {t_coco:.1f} s [{label}]")
    print(f"ratio COCOeval / ours full sliced+bootstrap: {t_coco / t_full:.1f}x  (target >= 5x)")
    print(f"ratio COCOeval / ours single slice: {t_coco / t_all_only:.1f}x")

    rng = np.random.default_rng(2)
    check = subset(ds, np.sort(rng.choice(ds.n_images, min(args.check_images, ds.n_images), replace=False)))
    diff, t_check = _timed(lambda: ultralytics_check(check))
    ok = "OK" if diff <= 1e-6 else "FAILED"
    print(
        f"ultralytics check on {check.n_images} images: max |diff| = {diff:.3g} (tol 1e-6) {ok} ({t_check:.1f} s)"
    )
    if diff > 1e-6:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
