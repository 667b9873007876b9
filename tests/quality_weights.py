"""Inception-architecture weights with random values, written by the tests (no real weights are needed)."""

from __future__ import annotations

import io
import math

import torch

from services.translator.quality.fidelity import inception_architecture


def random_inception_pth(seed: int = 0) -> bytes:
    """The FID network's state_dict with He-normal convolutions (so features neither vanish nor explode
    through 94 layers), the rest as torch initialises it, saved as torch.save writes it."""
    state = inception_architecture(seed)
    gen = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if key.endswith("conv.weight"):
            state[key] = torch.randn(value.shape, generator=gen) * math.sqrt(2.0 / value[0].numel())
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()
