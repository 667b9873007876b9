"""CycleGAN data-parallel training on CPU ranks over gloo: what runs on several GPUs with NCCL, minus CUDA."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from services.translator.cyclegan.collectives import agree, average_gradients
from services.translator.cyclegan.distributed import check_devices, free_port, train_distributed
from services.translator.cyclegan.training import TrainConfig, train

TINY = TrainConfig(
    ngf=4, ndf=4, n_blocks=1, n_layers_d=1, load_size=24, crop_size=16, n_epochs=1, n_epochs_decay=0,
    pool_size=2, checkpoint_every_iters=1, sample_count=1, seed=5,
)  # fmt: skip


def _domains() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(2)
    return (
        [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(4)],
        [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(3)],
    )


def _rank(rank: int, port: int, out: dict) -> None:
    """One of two gloo ranks: gradients rank+1 everywhere must average to 1.5; rank 0's flag wins."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        nets = [nn.Linear(3, 2), nn.Conv2d(2, 2, 1)]
        for net in nets:
            for p in net.parameters():
                p.grad = torch.full_like(p, float(rank + 1))
        average_gradients(nets)
        out[rank] = (
            [float(v) for net in nets for p in net.parameters() for v in p.grad.reshape(-1)],
            agree(rank == 0),
        )
    finally:
        dist.destroy_process_group()


def test_gradients_are_averaged_over_the_ranks_and_rank_zero_decides() -> None:
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_rank, args=(free_port(), out), nprocs=2)
        results = dict(out)
    for rank in (0, 1):
        grads, flag = results[rank]
        assert grads and all(g == 1.5 for g in grads)
        assert flag is True


def test_two_cpu_ranks_train_to_identical_weights_each_on_its_own_images() -> None:
    a, b = _domains()
    progress, checkpoints = [], []
    result = train_distributed(
        TINY, a, b, devices=None, world_size=2, on_progress=progress.append, on_checkpoint=checkpoints.append
    )
    # 4 images in A, batch 1 per rank, 2 ranks: 2 steps per epoch (one process would take 4).
    assert [p.iteration for p in progress] == [1, 2] and progress[-1].iterations_per_epoch == 2
    assert all(math.isfinite(v) for p in progress for v in p.losses.values())
    assert not result.stopped and result.state.global_step == 2
    assert len(result.replicas) == 2 and result.replicas[0] == result.replicas[1]  # weights identical
    assert checkpoints and checkpoints[-1].global_step == 2  # rank 0 ran the callbacks
    # Averaged gradients from two batches: not what one process makes from the same seed.
    single = train(TINY, a, b)
    g_single, g_dp = single.state.nets["G_A"], result.state.nets["G_A"]
    assert any(not torch.equal(g_single[k], g_dp[k]) for k in g_single)


@pytest.mark.slow
def test_a_stop_on_rank_zero_stops_every_rank_at_the_same_step() -> None:
    a, b = _domains()
    steps: list[int] = []
    result = train_distributed(
        TINY,
        a,
        b,
        devices=None,
        world_size=2,
        on_progress=lambda p: steps.append(p.global_step),
        should_stop=lambda: len(steps) >= 1,
    )
    assert result.stopped and result.state.global_step == 1
    assert result.replicas[0] == result.replicas[1]


def test_a_device_list_naming_missing_gpus_fails_before_any_process_starts(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(
        ValueError, match=r"options.devices \[0, 1\] names GPU 1 but this worker sees 1 GPU \(0-0\)"
    ):
        check_devices([0, 1])
    with pytest.raises(ValueError, match="names GPU 1"):
        train_distributed(TINY, *_domains(), devices=[0, 1])
