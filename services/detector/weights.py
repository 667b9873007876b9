"""Checks that a user-supplied ``.pt`` file is an ultralytics detection checkpoint before anything uses it.

Trust: an ultralytics checkpoint is a pickle of the whole model, and ultralytics loads it with
``torch.load(weights_only=False)`` by default - unpickling an uploaded file can run arbitrary code.
This module always loads with ultralytics' restricted loader (``weights_only=True`` plus an allow-list
of torch/ultralytics classes), and ``prepare_ultralytics`` turns that loader on for the whole process
(``ULTRALYTICS_SAFE_LOAD=1``), so later loads of the same file by the trainer or predictor are
restricted too. A file that needs anything outside the allow-list is refused. That narrows the risk,
it does not remove it (a bug in torch's restricted unpickler would reopen it): accept weight uploads
from authenticated users only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.common.detectors import get_architecture


class WeightsError(ValueError):
    """The file is not a usable ultralytics detection checkpoint; the message says what to supply instead."""


def _names_list(names: Any) -> list[str]:
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    if isinstance(names, list | tuple):
        return [str(n) for n in names]
    return []


def inspect_weights(path: Path) -> dict[str, Any]:
    """Describe a checkpoint: architecture, class names, training image size, epoch and resumability.

    ``architecture`` is the YOLOv5 name (e.g. ``yolov5s``) or None for other ultralytics detectors.
    Raises WeightsError for anything that is not an ultralytics detection checkpoint.
    """
    import torch

    path = Path(path)
    if path.suffix != ".pt":
        raise WeightsError(f"{path.name}: detector weights must be an ultralytics .pt checkpoint")
    if not path.is_file() or path.stat().st_size == 0:
        raise WeightsError(f"{path.name}: weights file is missing or empty")

    from ultralytics.nn.tasks import torch_safe_load

    try:
        ckpt, _ = torch_safe_load(str(path), safe_only=True)
    except (TypeError, ModuleNotFoundError, AttributeError, RuntimeError, ValueError, EOFError) as e:
        # Checkpoints of the original ultralytics/yolov5 repository land here too (they pickle `models.yolo`).
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"{path.name} is not a loadable ultralytics checkpoint ({first}); upload a .pt written by "
            "ultralytics >= 8 (e.g. yolov5su.pt or a best.pt/last.pt from a training here)"
        ) from e
    if not isinstance(ckpt, dict):
        raise WeightsError(f"{path.name} holds a {type(ckpt).__name__}, not an ultralytics checkpoint dict")
    model = ckpt.get("ema") if ckpt.get("ema") is not None else ckpt.get("model")
    if not isinstance(model, torch.nn.Module) or not isinstance(getattr(model, "yaml", None), dict):
        raise WeightsError(f"{path.name} is a torch file without an ultralytics model; upload a YOLO .pt")
    from ultralytics.nn.tasks import guess_model_task

    task = getattr(model, "task", None) or guess_model_task(model)
    if task != "detect":
        raise WeightsError(f"{path.name} is a {task} model; a detector needs an ultralytics detection model")

    yaml_file = str(model.yaml.get("yaml_file", ""))
    try:
        architecture: str | None = get_architecture(Path(yaml_file).name).name if yaml_file else None
    except ValueError:
        architecture = None
    train_args = ckpt.get("train_args") or {}
    imgsz = train_args.get("imgsz")
    epoch = ckpt.get("epoch", -1)
    epochs = train_args.get("epochs")
    return {
        "architecture": architecture,
        "yaml": Path(yaml_file).name or None,
        "class_names": _names_list(getattr(model, "names", None)),
        "imgsz": int(imgsz) if isinstance(imgsz, int | float) else None,
        "epoch": int(epoch) if isinstance(epoch, int) else -1,  # 0-based; -1 for a finished (stripped) one
        "epochs": int(epochs) if isinstance(epochs, int) else None,
        "resumable": isinstance(epoch, int) and epoch >= 0 and ckpt.get("optimizer") is not None,
        "ultralytics_version": ckpt.get("version"),
    }
