"""Our matching + AP against ultralytics' own validator code on random data, to 1e-9 (in fact bit-equal)."""

import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo_cfg_"))
torch = pytest.importorskip("torch")
ul_val = pytest.importorskip("ultralytics.models.yolo.detect.val")
ul_metrics = pytest.importorskip("ultralytics.utils.metrics")

from services.evaluator.ap import ap_per_class  # noqa: E402
from services.evaluator.evaluate import DetectionSet, evaluate  # noqa: E402
from services.evaluator.matching import IOU_THRESHOLDS, box_iou_pairs, match_detections  # noqa: E402
from services.evaluator.slices import ImageMeta  # noqa: E402


def random_dataset(rng, n_img, n_cls=3, integer=False, conf_decimals=2, spread=100.0):
    """Labels plus jittered/duplicated/misclassified detections and background boxes; some images are
    empty, some have only false positives, some only labels; confidences rounded so ties occur."""
    gi, gc, gb, pi, pc, pf, pb = [], [], [], [], [], [], []
    for im in range(n_img):
        kind = rng.integers(0, 6)
        ng = 0 if kind == 0 else int(rng.integers(1, 12))
        xy = rng.uniform(0, spread, (ng, 2))
        b = np.concatenate([xy, xy + rng.uniform(5, 40, (ng, 2))], 1)
        if integer:
            b = np.round(b)
            if ng > 2:
                b[1] = b[0]  # identical labels: IoU ties decided by label order
        c = rng.integers(0, n_cls, ng)
        if kind == 1:  # labels but no predictions
            gi += [im] * ng
            gc.append(c)
            gb.append(b)
            continue
        src = np.repeat(np.arange(ng), rng.integers(0, 4, ng)) if kind != 2 else np.zeros(0, int)
        jb = b[src] + (
            np.round(rng.normal(0, 3, (src.size, 4))) if integer else rng.normal(0, 3, (src.size, 4))
        )
        nr = int(rng.integers(0, 6))
        xy = rng.uniform(0, 100, (nr, 2))
        rb = np.concatenate([xy, xy + rng.uniform(5, 40, (nr, 2))], 1)
        boxes = np.concatenate([jb, rb])
        cls = np.concatenate(
            [
                np.where(rng.random(src.size) < 0.85, c[src], rng.integers(0, n_cls, src.size)),
                rng.integers(0, n_cls, nr),
            ]
        )
        if kind == 2:  # only false positives: no labels
            ng = 0
            c, b = c[:0], b[:0]
        gi += [im] * ng
        gc.append(c)
        gb.append(b)
        pi += [im] * boxes.shape[0]
        pc.append(cls)
        pb.append(boxes)
        pf.append(np.round(rng.random(boxes.shape[0]), conf_decimals))
    cat = lambda parts, shape: np.concatenate(parts) if parts else np.zeros(shape)  # noqa: E731
    return (
        np.array(gi, dtype=np.int64), cat(gc, 0).astype(np.int64), cat(gb, (0, 4)),
        np.array(pi, dtype=np.int64), cat(pc, 0).astype(np.int64), cat(pf, 0), cat(pb, (0, 4)),
    )  # fmt: skip


def ultralytics_stats(gi, gc, gb, pi, pc, pf, pb, n_img):
    """Per image exactly what DetectionValidator.update_metrics feeds DetMetrics (preds by conf desc)."""
    v = ul_val.DetectionValidator.__new__(ul_val.DetectionValidator)
    v.iouv = torch.linspace(0.5, 0.95, 10)
    v.niou = 10
    tps, confs, clss, tcls = [], [], [], []
    for im in range(n_img):
        gm = gi == im
        pm = np.flatnonzero(pi == im)
        pm = pm[np.argsort(-pf[pm].astype(np.float32), kind="stable")]
        pcls = torch.tensor(pc[pm], dtype=torch.float32)
        tcl = torch.tensor(gc[gm], dtype=torch.float32)
        if tcl.shape[0] == 0 or pcls.shape[0] == 0:
            tp = np.zeros((pcls.shape[0], 10), dtype=bool)
        else:
            iou = ul_metrics.box_iou(torch.tensor(gb[gm]), torch.tensor(pb[pm]))
            tp = v.match_predictions(pcls, tcl, iou).cpu().numpy()
        tps.append(tp)
        confs.append(torch.tensor(pf[pm], dtype=torch.float32).numpy())
        clss.append(pcls.numpy())
        tcls.append(tcl.numpy())
    return [np.concatenate(x, 0) for x in (tps, confs, clss, tcls)]


@pytest.mark.parametrize(
    "seed,integer,decimals,spread",
    [
        (0, False, 2, 100.0),
        (1, True, 1, 100.0),
        (2, False, 6, 100.0),
        (3, True, 2, 100.0),
        (4, False, 2, 8.0),
    ],
)
def test_matching_and_ap_equal_ultralytics(seed, integer, decimals, spread):
    """spread 8: crowded images where predictions compete for several overlapping labels."""
    rng = np.random.default_rng(seed)
    n_img = 150
    data = random_dataset(rng, n_img, integer=integer, conf_decimals=decimals, spread=spread)
    tp, conf, pcls, tcls = ultralytics_stats(*data, n_img)
    ref = ul_metrics.ap_per_class(tp, conf, pcls, tcls)
    m = match_detections(*data)
    assert np.array_equal(m.tp_matrix(), tp)
    ours = ap_per_class(m.tp_bits, m.conf, m.cls, tcls)
    assert np.array_equal(ours.classes, ref[6])
    np.testing.assert_allclose(ours.ap, ref[5], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.precision, ref[2], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.recall, ref[3], rtol=0, atol=1e-9)


def test_evaluate_all_row_equals_ultralytics_means():
    rng = np.random.default_rng(5)
    n_img = 120
    data = random_dataset(rng, n_img)
    tp, conf, pcls, tcls = ultralytics_stats(*data, n_img)
    _, _, p, r, _, ap, *_ = ul_metrics.ap_per_class(tp, conf, pcls, tcls)
    ds = DetectionSet.create(("a", "b", "c"), ImageMeta(occluded=np.zeros(n_img, int)), *data)
    row = next(x for x in evaluate(ds, n_boot=0).rows if x["slice"] == "all" and x["class"] == "all")
    assert abs(row["ap50"] - ap[:, 0].mean()) < 1e-9
    assert abs(row["ap50_95"] - ap.mean()) < 1e-9
    assert abs(row["precision"] - p.mean()) < 1e-9
    assert abs(row["recall"] - r.mean()) < 1e-9
    assert row["images"] == n_img and row["instances"] == len(data[0])


def test_iou_is_bit_equal_to_box_iou_and_thresholds_to_iouv():
    rng = np.random.default_rng(0)
    a = np.concatenate([x := rng.uniform(0, 500, (2000, 2)), x + rng.uniform(1, 200, (2000, 2))], 1)
    b = a + rng.normal(0, 20, a.shape)
    ref = ul_metrics.box_iou(torch.tensor(a), torch.tensor(b)).numpy().diagonal()
    assert np.array_equal(box_iou_pairs(a, b), ref)
    assert np.array_equal(IOU_THRESHOLDS, torch.linspace(0.5, 0.95, 10).numpy())


def test_perfect_detector_scores_0995_and_no_predictions_zero():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], dtype=float)
    ds = DetectionSet.create(
        ("car",),
        ImageMeta(occluded=np.array([0, 0])),
        [0, 1],
        [0, 0],
        boxes,
        [0, 1],
        [0, 0],
        [0.9, 0.8],
        boxes,
    )
    row = evaluate(ds, n_boot=0).rows[0]
    assert row["ap50"] == pytest.approx(0.995) and row["ap50_95"] == pytest.approx(0.995)
    empty = DetectionSet.create(
        ("car",), ImageMeta(occluded=np.array([0, 0])), [0, 1], [0, 0], boxes, [], [], [], np.zeros((0, 4))
    )
    assert evaluate(empty, n_boot=0).rows[0]["ap50"] == 0.0


def test_detection_set_rejects_bad_input():
    meta = ImageMeta(occluded=np.zeros(2, int))
    box = np.array([[0, 0, 1, 1]], dtype=float)
    with pytest.raises(ValueError, match="image index"):
        DetectionSet.create(("car",), meta, [2], [0], box, [], [], [], np.zeros((0, 4)))
    with pytest.raises(ValueError, match="class index"):
        DetectionSet.create(("car",), meta, [0], [3], box, [], [], [], np.zeros((0, 4)))
    with pytest.raises(ValueError, match="confidences"):
        DetectionSet.create(("car",), meta, [0], [0], box, [0], [0], [], box)
