"""The YOLOv5 architectures a user may train, and the ultralytics model config each one builds.

What the user gets: ultralytics' YOLOv5 configs are the "u" variants (YOLOv5u, e.g. ``yolov5nu``):
the YOLOv5 v6.0 CSP backbone and PANet neck (C3 blocks, SPPF) with ultralytics' anchor-free,
decoupled detection head (distribution focal loss, task-aligned assigner) - not the anchor-based head
of the original ultralytics/yolov5 repository. Checkpoints of the original repository do not load;
ultralytics-format checkpoints such as ``yolov5nu.pt`` do. P6 variants add a stride-64 output and
are meant for large input sizes (1280).
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
