"""The detectors a user may train and the training arguments they may set: the API validates requests with
these and the detector worker builds its models from them. Data only: no ultralytics, no torch.

The YOLOv5 architectures: ultralytics' YOLOv5 configs are the "u" variants (YOLOv5u, e.g. ``yolov5nu``):
the YOLOv5 v6.0 CSP backbone and PANet neck (C3 blocks, SPPF) with ultralytics' anchor-free,
decoupled detection head (distribution focal loss, task-aligned assigner) - not the anchor-based head
of the original ultralytics/yolov5 repository. Checkpoints of the original repository do not load;
ultralytics-format checkpoints such as ``yolov5nu.pt`` do. P6 variants add a stride-64 output and
are meant for large input sizes (1280).

The training arguments and what values each takes are frozen here as data (the API and the detector
worker check with the same table); tests/detector checks them against the installed
ultralytics' ``DEFAULT_CFG_DICT``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

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
# The training arguments a request sets as its own top-level fields.
REQUEST_FIELDS = frozenset({"model", "epochs", "imgsz", "batch", "seed"})
OWN_TRAIN_ARGS = frozenset(
    {
        "model", "epochs", "imgsz", "batch", "seed", "device", "workers", "optimizer", "lr0", "patience",
        "deterministic", "amp",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Hyperparameter:
    """What values one passthrough argument takes. ``kind``: "number" (a finite int or float in
    [low, high]), "int" (an integer in [low, high]), "bool", "choice" (one of ``choices``, which may hold
    True/False), "fraction" (ultralytics' dataset fraction: a ratio in (0, 1] or a count > 1), "scale" (a
    number in [0, 1] or a [min, max] pair) or "freeze" (null, a layer count, or a list of layer indices or
    module names)."""

    kind: str
    low: float = 0.0
    high: float = 1.0
    choices: tuple = ()
    nullable: bool = False  # null means ultralytics' own choice (its default is null)

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable ("must be ..."), or None."""
        if value is None and self.nullable:
            return None
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind == "choice":
            return (
                None if _in(value, self.choices) else f"must be one of {', '.join(map(_json, self.choices))}"
            )
        if self.kind == "int":
            if _is_int(value) and self.low <= value <= self.high:
                return None
            return f"must be an integer from {_num(self.low)} to {_num(self.high)}"
        if self.kind == "number":
            if _is_number(value) and self.low <= value <= self.high:
                return None
            return f"must be a number from {_num(self.low)} to {_num(self.high)}"
        if self.kind == "fraction":
            if _is_number(value) and (0 < value <= 1 or (_is_int(value) and 1 < value <= 2**31 - 1)):
                return None
            return "must be a ratio in (0, 1] or an image count > 1"
        if self.kind == "scale":
            pair = (
                isinstance(value, list) and len(value) == 2 and all(_is_number(v) and v >= 0 for v in value)
            )
            if (pair and value[0] <= value[1]) or (_is_number(value) and 0 <= value <= 1):
                return None
            return "must be a number from 0 to 1 or a [min, max] pair of non-negative numbers"
        if self.kind == "freeze":
            if value is None or (_is_int(value) and 0 <= value <= 1000):
                return None
            if (
                isinstance(value, list)
                and len(value) <= 1000
                and all(
                    (_is_int(v) and 0 <= v <= 1000) or (isinstance(v, str) and 0 < len(v) <= 100)
                    for v in value
                )
            ):
                return None
            return "must be null, a layer count from 0 to 1000, or a list of layer indices or module names"
        raise AssertionError(self.kind)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) and abs(value) < 2**53) or (isinstance(value, float) and math.isfinite(value))


def _in(value: Any, choices: tuple) -> bool:
    # True == 1 in Python: compare types too, so 1 is not taken for True.
    return any(type(value) is type(c) and value == c for c in choices)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _json(value: Any) -> str:
    return json.dumps(value)


_FRACTION = Hyperparameter("number", 0.0, 1.0)
_GAIN = Hyperparameter("number", 0.0, 1000.0)
_BOOL = Hyperparameter("bool")

# One definition of what each passthrough argument takes: the API refuses anything else at submit and the
# detector worker checks with the same table. The types follow ultralytics' cfg (CFG_FRACTION_KEYS,
# CFG_FLOAT_KEYS, CFG_INT_KEYS, CFG_BOOL_KEYS); the bounds are ours where ultralytics checks only the type
# (a negative `time` or a 1e308 gain would fail or overflow mid-training). tests/detector checks the table
# against the installed ultralytics' defaults.
HYPERPARAMETERS: dict[str, Hyperparameter] = {
    # schedule and optimisation
    "lrf": _FRACTION,
    "momentum": _FRACTION,
    "weight_decay": _FRACTION,
    "warmup_epochs": Hyperparameter("number", 0.0, 10_000.0),
    "warmup_momentum": _FRACTION,
    "warmup_bias_lr": _FRACTION,
    "cos_lr": _BOOL,
    "nbs": Hyperparameter("int", 1, 65_536),
    "time": Hyperparameter("number", 0.001, 8_760.0, nullable=True),  # hours; > 0, at most a year
    "close_mosaic": Hyperparameter("int", 0, 10_000),
    "freeze": Hyperparameter("freeze"),
    "dropout": _FRACTION,
    "fraction": Hyperparameter("fraction"),
    "single_cls": _BOOL,
    "rect": _BOOL,
    "multi_scale": _FRACTION,
    "cache": Hyperparameter("choice", choices=(False, True, "ram", "disk")),
    "compile": Hyperparameter(
        "choice",
        choices=(False, True, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    ),
    "channels_last": Hyperparameter("bool", nullable=True),
    "val": _BOOL,
    "plots": _BOOL,
    # loss gains
    "box": _GAIN,
    "cls": _GAIN,
    "dfl": _GAIN,
    # augmentation
    "hsv_h": _FRACTION,
    "hsv_s": _FRACTION,
    "hsv_v": _FRACTION,
    "degrees": Hyperparameter("number", 0.0, 180.0),
    "translate": _FRACTION,
    "scale": Hyperparameter("scale"),
    "shear": Hyperparameter("number", 0.0, 180.0),
    "perspective": _FRACTION,
    "flipud": _FRACTION,
    "fliplr": _FRACTION,
    "bgr": _FRACTION,
    "mosaic": _FRACTION,
    "mixup": _FRACTION,
    "cutmix": _FRACTION,
    "copy_paste": _FRACTION,
    "copy_paste_mode": Hyperparameter("choice", choices=("flip", "mixup")),
    "auto_augment": Hyperparameter("choice", choices=("randaugment", "autoaugment", "augmix")),
    "erasing": _FRACTION,
    # validation during training
    "iou": Hyperparameter("number", 0.01, 1.0),
    "max_det": Hyperparameter("int", 1, 10_000),
}


def check_hyperparameters(
    hyperparameters: Any, allowed: frozenset[str] = PASSTHROUGH_TRAIN_ARGS, where: str = ""
) -> None:
    """Raise ValueError naming ``<where>hyperparameters.<name>`` and what to send instead, for an argument
    the service owns, one it does not pass through (`allowed`), or a value of the wrong type or range.
    `where` is the path of the training settings in the request (an experiment's "model.")."""
    if not isinstance(hyperparameters, dict):
        raise ValueError(
            f"{where}hyperparameters: must be a mapping of ultralytics train arguments to values"
        )
    owned = sorted(k for k in hyperparameters if k in OWN_TRAIN_ARGS)
    if owned:
        top = [k for k in owned if k in REQUEST_FIELDS]
        fixed = [k for k in owned if k not in REQUEST_FIELDS]
        advice = []
        if top:
            advice.append(
                f"set {', '.join(where + k for k in top)} as a field of its own, not a hyperparameter"
            )
        if fixed:
            advice.append(
                f"{', '.join(fixed)} are chosen by the service (device, data loading, optimiser, "
                "schedule) and cannot be changed; leave them out"
            )
        fields = ", ".join(f"{where}hyperparameters.{k}" for k in owned)
        raise ValueError(f"{fields}: {'; '.join(advice)}")
    unknown = sorted(k for k in hyperparameters if k not in allowed)
    if unknown:
        raise ValueError(
            f"{where}hyperparameters: unknown or unsupported hyperparameter(s) {', '.join(map(repr, unknown))}; "
            f"valid ones include {', '.join(sorted(allowed)[:12])}, … (all: {len(allowed)} ultralytics train "
            "arguments)"
        )
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        problem = HYPERPARAMETERS[name].problem(value)
        if problem:
            shown = json.dumps(value)[:80] if _jsonable(value) else repr(value)[:80]
            raise ValueError(
                f"{where}hyperparameters.{name}: invalid hyperparameter value {shown}; {problem}"
            )


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
