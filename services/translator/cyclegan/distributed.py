"""CycleGAN training on several GPUs of one node: data parallel, one process per GPU.

Rank 0 is the worker's own process (it holds the job: progress, checkpoints, cancellation); ranks 1..N-1
are child processes started with this module as their program (`python -m`), because a Celery worker's
processes are daemonic and may not use multiprocessing. They meet over TCP on localhost (NCCL on CUDA,
gloo on CPU).

The four networks are used several times per backward pass (cycle and identity losses), which
`DistributedDataParallel`'s reducer handles only with extra care; averaging each network's gradients
with one flattened all-reduce before every optimizer step is the same arithmetic as DDP with none of
its restrictions. Each rank trains on its own batch, so a step sees `batch_size × ranks` images.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .training import ImageSource, TrainConfig, TrainResult, TrainState, World, train

# How long ranks wait for each other to start (the children import torch first) and at any collective.
RENDEZVOUS_TIMEOUT = timedelta(minutes=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RankJob:
    """What a child rank needs, pickled to a file: the config, the images (picklable sources), the state
    to resume from, and how to reach rank 0."""

    cfg: TrainConfig
    domain_a: Sequence[ImageSource]
    domain_b: Sequence[ImageSource]
    resume: TrainState | None
    devices: list[int] | None  # GPU per rank; None: every rank on the CPU (gloo)
    size: int
    port: int
    backend: str

    def device(self, rank: int) -> str:
        return "cpu" if self.devices is None else f"cuda:{self.devices[rank]}"


def _join(job: RankJob, rank: int) -> None:
    if job.devices is not None:
        torch.cuda.set_device(job.devices[rank])
    dist.init_process_group(
        job.backend,
        init_method=f"tcp://127.0.0.1:{job.port}",
        rank=rank,
        world_size=job.size,
        timeout=RENDEZVOUS_TIMEOUT,
    )


def check_devices(devices: list[int]) -> None:
    """Refuse a list naming GPUs this worker does not have (before any process starts, not a hang)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [d for d in devices if d >= count]
    if missing:
        has = f"{count} GPU{'s' if count != 1 else ''}" + (f" (0-{count - 1})" if count else "")
        raise ValueError(
            f"options.devices {devices} names GPU {', '.join(map(str, missing))} but this worker sees "
            f"{has}; name only GPUs it has, or leave devices out to train on the worker's device"
        )


def train_distributed(
    cfg: TrainConfig,
    domain_a: Sequence[ImageSource],
    domain_b: Sequence[ImageSource],
    *,
    devices: list[int] | None,
    world_size: int | None = None,
    resume: TrainState | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_epoch_end: Callable[[int, list[Any]], None] | None = None,
    on_epoch_generator: Callable[[int, Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train with one rank per GPU in `devices` (NCCL), or, with `devices=None`, `world_size` CPU ranks
    on gloo (what tests run). This process is rank 0 and runs the callbacks; the rest are children."""
    if devices is not None:
        check_devices(devices)
        size, backend = len(devices), "nccl"
    else:
        if not world_size or world_size < 1:
            raise ValueError("give devices, or world_size for CPU ranks")
        size, backend = world_size, "gloo"
    job = RankJob(cfg, list(domain_a), list(domain_b), resume, devices, size, free_port(), backend)
    with tempfile.TemporaryDirectory(prefix="cyclegan_ddp_") as tmp:
        path = Path(tmp) / "job.pkl"
        path.write_bytes(pickle.dumps(job))
        # The children import this package from wherever this process did.
        root = str(Path(__file__).resolve().parents[3])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        children = [
            subprocess.Popen([sys.executable, "-m", __name__, str(path), str(rank)], env=env)
            for rank in range(1, size)
        ]
        try:
            _join(job, 0)
            try:
                result = train(
                    cfg,
                    job.domain_a,
                    job.domain_b,
                    resume=resume,
                    on_checkpoint=on_checkpoint,
                    on_progress=on_progress,
                    on_epoch_end=on_epoch_end,
                    on_epoch_generator=on_epoch_generator,  # rank 0 alone (e.g. the KID probe)
                    should_stop=should_stop,
                    device=job.device(0),
                    world=World(0, size),
                )
            finally:
                dist.destroy_process_group()
        except BaseException:
            for child in children:
                child.kill()
            raise
        finally:
            codes = [child.wait() for child in children]
        failed = [rank for rank, code in enumerate(codes, start=1) if code != 0]
        if failed:
            raise RuntimeError(
                f"data-parallel ranks {failed} failed (exit {codes}); the worker's log has why"
            )
    return result


def _child(path: Path, rank: int) -> None:
    job: RankJob = pickle.loads(path.read_bytes())
    _join(job, rank)
    try:
        train(
            job.cfg,
            job.domain_a,
            job.domain_b,
            resume=job.resume,
            device=job.device(rank),
            world=World(rank, job.size),
        )
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _child(Path(sys.argv[1]), int(sys.argv[2]))
