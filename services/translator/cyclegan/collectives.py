"""The collective operations of CycleGAN's data-parallel training (see distributed.py), in an initialised
`torch.distributed` group: the same weights everywhere, averaged gradients, one decision for all ranks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist
from torch import nn


def broadcast_parameters(nets: Iterable[nn.Module]) -> None:
    """Rank 0's weights everywhere (the seeded init already agrees; a resume state might not)."""
    for net in nets:
        for tensor in list(net.parameters()) + list(net.buffers()):
            dist.broadcast(tensor.data, src=0)


def average_gradients(nets: Sequence[nn.Module]) -> None:
    """Replace each gradient by its mean over the ranks (one all-reduce per call)."""
    grads = [p.grad for net in nets for p in net.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def agree(flag: bool) -> bool:
    """Rank 0's flag on every rank."""
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def checksums(nets: Iterable[nn.Module]) -> list[float]:
    """Every rank's sum of its parameters (float64), gathered: equal weights give equal sums."""
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    total = sum(float(p.detach().double().sum()) for net in nets for p in net.parameters())
    local = torch.tensor([total], dtype=torch.float64, device=device)
    gathered = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    return [float(t.item()) for t in gathered]
