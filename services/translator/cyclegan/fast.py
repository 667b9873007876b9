"""Fast CPU forward for a trained ResnetGenerator: Winograd F(4×4, 3×3) residual blocks with fused C++ glue.

Why: at 1242×375 the 18 residual convolutions (256→256 at H/4×W/4) are most of the 705 GFLOP, and oneDNN
already runs them at this CPU's dense fp32 ceiling; only less arithmetic goes faster. Winograd F(4,3)
needs 36 instead of 144 multiplications per 4×4 output tile, so the 36 per-point GEMMs (torch.bmm, MKL)
do 4× less work than the direct convolution. An earlier version did the tile transforms as separate
torch ops and lost the whole gain to them (and to a channels-last instance norm); now every memory-bound
step is one pass of a small C++ kernel (cpu_kernels.py): reflection padding + normalise + ReLU + input
transform; output transform + crop + instance-norm statistics; normalise + residual add. Conv biases
are dropped: instance norm without affine subtracts the per-channel mean, which cancels a bias exactly.
The layers before and after the residual blocks run through OpenVINO when it is installed (2–3× faster
than eager on them, see openvino_backend.py), else eagerly.

Measured on the 2-core dev Xeon (Sapphire Rapids, KVM), 1242×375, 2 threads. One 256→256 conv, quiet:
oneDNN direct ~105 ms; here input transform ~10 ms + GEMMs ~31 ms + output transform ~12 ms. Whole
frame (bench/translate.py, interleaved with eager, load ~2.1 of which 2 our own): eager 3.42 s, this
1.55 s (2.2×; pairs 1.8–2.3×), 2.19 s (1.56×) with eager head/tail; OpenVINO whole-model 2.23 s (1.53×).
Breakdown of a 1.5 s frame: OpenVINO head 0.2 s, GEMMs 0.52 s, transforms 0.45 s, OpenVINO tail 0.3 s.
Tried and dropped: int8 AMX convolutions on operands split into two int8 limbs (Ozaki-style, three
products) — the per-tensor activation scale leaves ~1e-3 error at the output, and the six products
needed for fp32-like accuracy cost as much as fp32; chunks of fewer tiles (cache-sized) were slower.

Numerics: fp32, weights transformed in float64; F(4,3) adds ~1e-5 relative error per convolution, which
instance norm keeps from compounding (max |Δ| on the tanh output ~1e-4, checked in the tests).
The eager module stays the reference; this class only reads its weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import cpu_kernels, openvino_backend
from .networks import ResnetBlock, ResnetGenerator

# Lavin & Gray F(4x4, 3x3) weight transform with interpolation points 0, ±1, ±2, ∞ (the input and output
# transforms Bᵀ and Aᵀ are written out in the C++ kernels).
_G = [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
]
_EPS = 1e-5  # nn.InstanceNorm2d default


def winograd_weights(weight: torch.Tensor) -> torch.Tensor:
    """(K, C, 3, 3) conv weight -> (36, C, K) transformed weight G w Gᵀ, one (C×K) matrix per tile point."""
    g = torch.tensor(_G, dtype=torch.float64)
    u = torch.einsum("ir,kcrs,js->ijck", g, weight.detach().double().cpu(), g)
    k, c = weight.shape[0], weight.shape[1]
    return u.reshape(36, c, k).to(torch.float32).contiguous()


def _check_block_conv(conv: nn.Module) -> nn.Conv2d:
    if (
        not isinstance(conv, nn.Conv2d)
        or conv.kernel_size != (3, 3)
        or conv.stride != (1, 1)
        or conv.padding != (0, 0)
        or conv.dilation != (1, 1)
        or conv.groups != 1
    ):
        raise ValueError("the fast backend needs unpadded stride-1 3×3 convolutions in the residual blocks")
    return conv


class FastResnetGenerator:
    """Inference-only forward of a ResnetGenerator (CPU, fp32, no autograd) with Winograd residual blocks.

    ``openvino``: run the layers around the residual blocks through OpenVINO (None: when it is installed;
    compiling takes ~5–15 s once). ``chunk_tiles``: the most 4×4 output tiles transformed at once. Raises ``cpu_kernels.KernelBuildError`` when the C++ kernels cannot be
    built (no g++).
    """

    def __init__(
        self, generator: ResnetGenerator, *, openvino: bool | None = None, chunk_tiles: int = 4096
    ) -> None:
        self.lib = cpu_kernels.load()
        self.chunk_tiles = chunk_tiles
        layers = list(generator.model)
        first = next((i for i, m in enumerate(layers) if isinstance(m, ResnetBlock)), len(layers))
        n_blocks = sum(isinstance(m, ResnetBlock) for m in layers)
        self.head = nn.Sequential(*layers[:first]).eval()
        self.tail = nn.Sequential(*layers[first + n_blocks :]).eval()
        self.blocks = [
            (
                winograd_weights(_check_block_conv(b.conv_block[1]).weight),
                winograd_weights(_check_block_conv(b.conv_block[5]).weight),
            )
            for b in layers[first : first + n_blocks]
        ]
        self._ov_head = self._ov_tail = None
        if openvino is None:
            openvino = openvino_backend.available()
        if openvino and self.blocks:
            channels = self.blocks[0][0].shape[1]
            self._ov_head = openvino_backend.compile_head(self.head, generator.config.input_nc)
            self._ov_tail = openvino_backend.compile_tail(self.tail, channels)

    @property
    def uses_openvino(self) -> bool:
        return self._ov_head is not None

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"input height and width must be multiples of 4, got {tuple(x.shape[-2:])}")
        if x.shape[0] > 1:
            # One image at a time: the Winograd buffers grow with the batch (~2.3× the residual activation
            # each) and batching gains nothing on CPU; instance norm is per image, so this is exact.
            return torch.cat([self(x[i : i + 1]) for i in range(x.shape[0])])
        if not self.blocks:
            return self.tail(self.head(x.float()))
        if self._ov_head is not None:
            r = self._ov_head(x)  # channels-last (N, H, W, C) residual stream
        else:
            r = self.head(x.float()).permute(0, 2, 3, 1).contiguous()
        n, hh, ww, c = r.shape
        th, tw = math.ceil(hh / 4), math.ceil(ww / 4)
        # Whole tile rows per chunk, to bound the two Winograd buffers (36 × tiles × C floats each, 151 MB at
        # the default 4096 tiles = 1 MP frames in one chunk). Smaller chunks measured slower, not faster.
        rows = max(1, min(th, self.chunk_tiles // tw))
        nt = max(1, torch.get_num_threads())
        lib = self.lib
        v = torch.empty((36, n * rows * tw, c))
        m = torch.empty((36, n * rows * tw, c))
        y1, y2 = torch.empty_like(r), torch.empty_like(r)  # conv outputs (conv 2 reads y1 while writing y2)
        zeros, ones = torch.zeros((n, c)), torch.ones((n, c))
        s = torch.empty((n, c), dtype=torch.float64)
        sq = torch.empty_like(s)

        def conv_stats(src, mean, rstd, relu: bool, u: torch.Tensor, y: torch.Tensor):
            s.zero_()
            sq.zero_()
            for ty0 in range(0, th, rows):
                ty1 = min(th, ty0 + rows)
                tiles = n * (ty1 - ty0) * tw
                vc = v.view(-1)[: 36 * tiles * c].view(36, tiles, c)  # contiguous, also for the last chunk
                mc = m.view(-1)[: 36 * tiles * c].view(36, tiles, c)
                lib.wino_input(
                    src.data_ptr(), mean.data_ptr(), rstd.data_ptr(), int(relu), n, hh, ww, c, ty0, ty1, tw,
                    vc.data_ptr(), nt,
                )  # fmt: skip
                torch.bmm(vc, u, out=mc)
                lib.wino_output(
                    mc.data_ptr(), n, hh, ww, c, ty0, ty1, tw, y.data_ptr(), s.data_ptr(), sq.data_ptr(), nt
                )
            mu = s / (hh * ww)
            var = (sq / (hh * ww) - mu * mu).clamp_min_(0.0)
            return mu.float(), torch.rsqrt(var + _EPS).float()

        for u1, u2 in self.blocks:
            mean, rstd = conv_stats(r, zeros, ones, False, u1, y1)
            mean, rstd = conv_stats(y1, mean, rstd, True, u2, y2)
            lib.residual_add(r.data_ptr(), y2.data_ptr(), mean.data_ptr(), rstd.data_ptr(), n, hh * ww, c, nt)
        if self._ov_tail is not None:
            return self._ov_tail(r)
        return self.tail(r.permute(0, 3, 1, 2))
