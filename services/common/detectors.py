"""The detectors a user may train and the training arguments they may set: the API validates requests with
these and the detector worker builds its models from them. Data only: no ultralytics, no torch.

The YOLOv5 architectures: ultralytics' YOLOv5 configs are the "u" variants (YOLOv5u, e.g. ``yolov5nu``):
the YOLOv5 v6.0 CSP backbone and PANet neck (C3 blocks, SPPF) with ultralytics' anchor-free,
decoupled detection head (distribution focal loss, task-aligned assigner) - not the anchor-based head
of the original ultralytics/yolov5 repository. Checkpoints of the original repository do not load;
ultralytics-format checkpoints such as ``yolov5nu.pt`` do. P6 variants add a stride-64 output and
are meant for large input sizes (1280).

The training arguments are frozen here as data; tests/detector checks them against the installed
ultralytics' ``DEFAULT_CFG_DICT``.
"""

from __future__ import annotations

from dataclasses import dataclass

_SCALES = "nsmlx"


@dataclass(frozen=True)
class Architecture:
    name: str  # what users write, e.g. "yolov5s" or "yolov5s6"
    yaml: str  # packaged ultralytics config, e.g. "yolov5s.yaml" or "yolov5s-p6.yaml"
    scale: str  # n, s, m, l or x
    p6: bool  # stride-64 output level, meant for imgsz 1280
    max_stride: int  # image sizes are rounded up to a multiple of this


ARCHITECTURES: dict[str, Architecture] = {
    **{
        f"yolov5{s}": Architecture(f"yolov5{s}", f"yolov5{s}.yaml", s, p6=False, max_stride=32)
        for s in _SCALES
    },
    **{
        f"yolov5{s}6": Architecture(f"yolov5{s}6", f"yolov5{s}-p6.yaml", s, p6=True, max_stride=64)
        for s in _SCALES
    },
}


def get_architecture(name: str) -> Architecture:
    """Look up an architecture by the name a user wrote (case and a trailing ``u``/``.yaml`` tolerated)."""
    key = str(name).strip().lower().removesuffix(".yaml").removesuffix(".pt")
    key = key.replace("-p6", "6")
    if key.endswith("u") and key[:-1] in ARCHITECTURES:  # "yolov5nu" is ultralytics' name for the same model
        key = key[:-1]
    if key not in ARCHITECTURES:
        raise ValueError(f"unknown detector architecture {name!r}; choose one of: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[key]


# ultralytics train arguments a user may set through `hyperparameters`. The ones the config owns
# (OWN_TRAIN_ARGS: top-level fields of a training request) and the ones the detector's training module owns
# (data, output folders, resume, saving) are not in this set.
PASSTHROUGH_TRAIN_ARGS = frozenset(
    {
        # schedule and optimisation
        "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum", "warmup_bias_lr", "cos_lr",
        "nbs", "time", "close_mosaic", "freeze", "dropout", "fraction", "single_cls", "rect", "multi_scale",
        "cache", "compile", "channels_last", "val", "plots",
        # loss gains
        "box", "cls", "dfl",
        # augmentation
        "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear", "perspective", "flipud",
        "fliplr", "bgr", "mosaic", "mixup", "cutmix", "copy_paste", "copy_paste_mode", "auto_augment",
        "erasing",
        # validation during training
        "iou", "max_det",
    }
)  # fmt: skip
OWN_TRAIN_ARGS = frozenset(
    {
        "model", "epochs", "imgsz", "batch", "seed", "device", "workers", "optimizer", "lr0", "patience",
        "deterministic", "amp",
    }
)  # fmt: skip
