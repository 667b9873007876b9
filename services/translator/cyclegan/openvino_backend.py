"""Run a torch module (a whole generator, or its head or tail) through OpenVINO's CPU plugin in fp32.

Why: OpenVINO keeps activations in blocked layouts and fuses padding, norms and activations, so the
convolutions outside the residual blocks (7×7 with 3 channels, stride-2 down/up-sampling at full
resolution) run 2–3× faster than eager PyTorch here. The precision hint must be forced to f32: its
default on this CPU is bf16, which is off by ~0.04 on the output. Shapes are dynamic (compiled once per
module, any size); converting and compiling takes ~10–20 s, so build once per loaded generator.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def available() -> bool:
    return importlib.util.find_spec("openvino") is not None


class OpenVinoModule:
    """A compiled fp32 CPU copy of ``module``; ``dynamic_shape`` uses -1 for dimensions that may vary.

    The copy is frozen: later changes to the module's weights are not seen. One inference runs at a time.
    """

    def __init__(
        self,
        module: nn.Module,
        example_input: torch.Tensor,
        dynamic_shape: Sequence[int],
        threads: int | None = None,
    ) -> None:
        import openvino as ov

        threads = threads or max(1, torch.get_num_threads())
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            # openvino traces with torch.jit (deprecated: FutureWarning), which warns that instance norm's
            # size check becomes a constant; the compiled shapes stay dynamic.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", FutureWarning)
            model = ov.convert_model(module.eval(), example_input=example_input, input=[tuple(dynamic_shape)])
        config = {
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
        }
        self._compiled = ov.Core().compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        with self._lock:
            out = self._request.infer({0: arr}, share_inputs=True)[0]
            return torch.from_numpy(np.array(out, copy=True))  # the request reuses its output buffer


class _ToChannelsLast(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).permute(0, 2, 3, 1)


class _FromChannelsLast(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 3, 1, 2))


def compile_head(head: nn.Module, in_channels: int) -> OpenVinoModule:
    """(N, C, H, W) image batch -> channels-last (N, H/4, W/4, C') features."""
    example = torch.zeros(1, in_channels, 32, 32)
    return OpenVinoModule(_ToChannelsLast(head), example, (-1, in_channels, -1, -1))


def compile_tail(tail: nn.Module, channels: int) -> OpenVinoModule:
    """Channels-last (N, h, w, C) features -> (N, C_out, 4h, 4w) image batch."""
    example = torch.zeros(1, 8, 8, channels)
    return OpenVinoModule(_FromChannelsLast(tail), example, (-1, -1, -1, channels))


def compile_generator(generator: nn.Module, in_channels: int) -> OpenVinoModule:
    """The whole generator: (N, C, H, W) -> (N, C_out, H, W)."""
    return OpenVinoModule(generator, torch.zeros(1, in_channels, 32, 32), (-1, in_channels, -1, -1))
