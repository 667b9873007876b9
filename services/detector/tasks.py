"""Adapts YOLOv5 training and inference to the queue."""

from __future__ import annotations

from services.common.worker import WorkerRuntime


def register(runtime: WorkerRuntime) -> None:
    """The detector's job kinds (train_detector, detect) are registered here as they are built."""
