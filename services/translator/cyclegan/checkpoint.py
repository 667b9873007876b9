"""Load generator weights from upstream pytorch-CycleGAN-and-pix2pix files (``latest_net_G_A.pth`` …)."""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .networks import GeneratorConfig, ResnetGenerator, build_generator


class CheckpointError(ValueError):
    """The file is not a generator state_dict this architecture can load."""


_STALE_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
_WRAPPER_KEYS = ("state_dict", "netG_A", "netG", "model", "generator")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_BLOCK_RE = re.compile(r"^model\.(\d+)\.conv_block\.")


def _read(source: bytes | Path | str | Mapping[str, Any]) -> Any:
    if isinstance(source, Mapping):
        return source
    try:
        if isinstance(source, bytes | bytearray):
            return torch.load(io.BytesIO(source), map_location="cpu", weights_only=True)
        return torch.load(Path(source), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as exc:
        first_line = _ANSI_RE.sub("", str(exc)).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise CheckpointError(
            "could not read the checkpoint as a plain PyTorch state_dict (only tensors and containers are "
            f"accepted, arbitrary pickled objects are refused): {first_line}"
        ) from exc


def _unwrap(obj: Any) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"checkpoint holds a {type(obj).__name__}, not a state_dict (a dict of parameter name -> tensor)"
        )
    if not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError("checkpoint is not a state_dict: expected a non-empty dict of name -> tensor")
    return dict(obj)


def clean_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DataParallel's ``module.`` prefix and drop InstanceNorm buffers left by old upstream versions
    (they used ``track_running_stats=True``; the norm layers hold no state now)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("module."):
            key = key[len("module.") :]
        if key.rsplit(".", 1)[-1] in _STALE_SUFFIXES:
            continue
        out[key] = value
    return out


def inspect_generator_state(state: Mapping[str, torch.Tensor]) -> GeneratorConfig:
    """Infer (ngf, n_blocks, input_nc, output_nc) of a ResnetGenerator state_dict."""
    state = clean_state_dict(_unwrap(state))
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4:
        raise CheckpointError("checkpoint has no 'model.1.weight' conv: not a ResnetGenerator state_dict")
    blocks = {int(m.group(1)) for k in state if (m := _BLOCK_RE.match(k))}
    n_blocks = len(blocks)
    if blocks and blocks != set(range(10, 10 + n_blocks)):
        raise CheckpointError(
            f"residual blocks at unexpected positions {sorted(blocks)}: not a ResnetGenerator"
        )
    last = state.get(f"model.{10 + n_blocks + 7}.weight")
    output_nc = int(last.shape[0]) if last is not None and last.dim() == 4 else 3
    return GeneratorConfig(
        ngf=int(first.shape[0]), n_blocks=n_blocks, input_nc=int(first.shape[1]), output_nc=output_nc
    )


def load_generator_state(
    source: bytes | Path | str | Mapping[str, Any], cfg: GeneratorConfig
) -> ResnetGenerator:
    """Build a generator for ``cfg`` and load the weights strictly; refuse mismatches with a fix."""
    state = clean_state_dict(_unwrap(_read(source)))
    model = build_generator(cfg)
    expected = model.state_dict()
    shapes_ok = state.keys() == expected.keys() and all(state[k].shape == expected[k].shape for k in expected)
    if not shapes_ok:
        try:
            found = inspect_generator_state(state)
            hint = (
                f"checkpoint has {found.n_blocks} residual blocks and ngf {found.ngf} "
                f"(input_nc {found.input_nc}, output_nc {found.output_nc}); "
                f"expected {cfg.n_blocks} blocks, ngf {cfg.ngf} — "
                f"pass n_blocks={found.n_blocks}, ngf={found.ngf}"
            )
        except CheckpointError as exc:
            missing = sorted(expected.keys() - state.keys())[:3]
            hint = (
                f"expected a ResnetGenerator with {cfg.n_blocks} blocks and ngf {cfg.ngf}; {exc}"
                f" (missing e.g. {missing})"
            )
        raise CheckpointError(hint)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.eval()
