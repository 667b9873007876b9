"""Named VGG-19 activations (``conv1_1``, ``relu1_1``, …, ``relu5_4``) from [0, 1] RGB tensors.

Shares the frozen parameters of the ``features`` module from :mod:`.weights` (no copy), runs only up to
the deepest requested layer (conv5 at 1242×375 costs as much as everything before it), and can swap the
max-pools for average pools, which Gatys et al. (2016) report gives slightly smoother gradients.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(features: nn.Sequential) -> list[str]:
    """Names for each module of a VGG ``features`` stack: convB_I, reluB_I, poolB."""
    names: list[str] = []
    block, index = 1, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{index}")
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            names.append(f"pool{block}")
            block, index = block + 1, 0
        else:
            raise ValueError(f"unexpected module {type(module).__name__} in a VGG features stack")
    return names


def pool_count_before(features: nn.Sequential, layer: str) -> int:
    """How many 2× poolings run before ``layer`` (its input is downsampled by 2**count)."""
    names = layer_names(features)
    if layer not in names:
        raise ValueError(f"unknown VGG layer {layer!r}; choose from {', '.join(names)}")
    return sum(1 for n in names[: names.index(layer)] if n.startswith("pool"))


class VGGFeatures(nn.Module):
    """Returns ``{name: activation}`` for the requested layers; input is (N, 3, H, W) RGB in [0, 1]."""

    def __init__(self, features: nn.Sequential, layers: Iterable[str], pool: str = "max") -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        all_names = layer_names(features)
        wanted = list(dict.fromkeys(layers))
        if not wanted:
            raise ValueError("request at least one VGG layer")
        unknown = [n for n in wanted if n not in all_names]
        if unknown:
            raise ValueError(f"unknown VGG layers {unknown}; choose from {', '.join(all_names)}")
        depth = max(all_names.index(n) for n in wanted) + 1
        self.layers = nn.ModuleList(list(features)[:depth])  # shared parameters, no copy
        self.names = all_names[:depth]
        self.wanted = frozenset(wanted)
        self.pool = pool
        device = next(features.parameters()).device
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for name, module in zip(self.names, self.layers, strict=True):
            if isinstance(module, nn.ReLU):
                x = F.relu(x)  # never in place: the conv output may be a requested activation
            elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
                x = F.avg_pool2d(x, 2, 2) if self.pool == "avg" else F.max_pool2d(x, 2, 2)
            else:
                x = module(x)
            if name in self.wanted:
                out[name] = x
        return out
