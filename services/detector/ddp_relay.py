"""Progress, checkpoints and cancellation across ultralytics' multi-GPU (DDP) launch.

With several GPUs ultralytics trains in child processes it starts with `torch.distributed.run`; the
callbacks go along pickled (cloudpickle), so they cannot hold the job (its database sessions, locks, the
store client). Here the children's callbacks hold only a folder: rank 0 appends one JSON line per event
(an epoch's record, a checkpoint written, the final validation) to a file there, and stops when a stop
file appears. A thread in the worker's own process reads those lines, hands them to the job's callbacks,
and creates the stop file when the job asks to stop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

EVENTS = "events.jsonl"
STOP = "stop"


class StopRequested(Exception):
    """Raised inside a DDP child when the worker asked to stop (the child exits; last.pt stays)."""


def _append(folder: Path, event: dict[str, Any]) -> None:
    with open(folder / EVENTS, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


def _rank_zero() -> bool:
    import os

    return int(os.environ.get("RANK", "-1")) in (-1, 0)


def on_train_batch_end(folder: Path, trainer: Any) -> None:
    if (folder / STOP).exists():
        raise StopRequested("stop requested")


def on_train_epoch_end(folder: Path, trainer: Any) -> None:
    trainer.sim2real_pending = (trainer.epoch + 1, {k: float(v) for k, v in (trainer.tloss or {}).items()})


def on_model_save(folder: Path, trainer: Any) -> None:
    if not _rank_zero():
        return
    # best before last, as in the single-process path: a resume trusts last.pt's record of the best.
    if trainer.best_fitness == trainer.fitness and Path(trainer.best).is_file():
        _append(folder, {"type": "checkpoint", "path": str(trainer.best)})
    _append(folder, {"type": "checkpoint", "path": str(trainer.last)})


def on_fit_epoch_end(folder: Path, record: Callable[[Any, int, dict[str, float]], Any], trainer: Any) -> None:
    if not _rank_zero():
        return
    pending = getattr(trainer, "sim2real_pending", None)
    if pending is None:  # ultralytics' final validation of best.pt
        _append(
            folder, {"type": "final", "metrics": {k: float(v) for k, v in (trainer.metrics or {}).items()}}
        )
        return
    trainer.sim2real_pending = None
    _append(folder, {"type": "epoch", "record": record(trainer, *pending).to_dict()})
    if (folder / STOP).exists() and pending[0] < trainer.epochs:
        raise StopRequested("stop requested")


def child_callbacks(folder: Path, record: Callable[[Any, int, dict[str, float]], Any]) -> dict[str, Callable]:
    """The callbacks to register for a DDP run: picklable (module functions bound to a path)."""
    return {
        "on_train_batch_end": partial(on_train_batch_end, folder),
        "on_train_epoch_end": partial(on_train_epoch_end, folder),
        "on_model_save": partial(on_model_save, folder),
        "on_fit_epoch_end": partial(on_fit_epoch_end, folder, record),
    }


class Relay:
    """The worker-side reader: `deliver(event)` for every line rank 0 writes; `should_stop()` polled."""

    def __init__(
        self,
        folder: Path,
        deliver: Callable[[dict[str, Any]], None],
        should_stop: Callable[[], bool] | None = None,
        every_s: float = 1.0,
    ) -> None:
        self.folder = folder
        self.deliver = deliver
        self.should_stop = should_stop
        self.every_s = every_s
        self._offset = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ddp-relay", daemon=True)
        self.error: BaseException | None = None
        folder.mkdir(parents=True, exist_ok=True)
        for name in (EVENTS, STOP):
            (folder / name).unlink(missing_ok=True)

    @property
    def stop_requested(self) -> bool:
        return (self.folder / STOP).exists()

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.poll()  # what the children wrote last
        if self.error is not None and exc[0] is None:
            raise self.error

    def _loop(self) -> None:
        while not self._done.wait(self.every_s):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - kept for the worker thread to raise; ask children to stop
                self.error = exc
                (self.folder / STOP).touch()
                return

    def poll(self) -> None:
        """Deliver the complete lines written since the last poll; create the stop file when asked."""
        path = self.folder / EVENTS
        if path.exists():
            with open(path, encoding="utf-8") as f:
                f.seek(self._offset)
                while (line := f.readline()).endswith("\n"):
                    self._offset = f.tell()
                    self.deliver(json.loads(line))
        if self.should_stop is not None and not self.stop_requested and self.should_stop():
            (self.folder / STOP).touch()
