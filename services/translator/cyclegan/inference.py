"""Full-resolution CycleGAN inference: uint8 RGB frames in, translated uint8 RGB frames of the same size out.

Sizes: the generator needs sides that are multiples of 4 (two stride-2 downsamplings) and at least 8
(reflection padding at H/4). Each image is padded (reflect, or replicate when the image is too small to
reflect) and the output is cropped back with the same offsets, so pixels — and any labels — stay aligned.

Tiling: images above ``max_tile_pixels`` are cut into overlapping tiles whose outputs are blended with
linear (feathered) weights. Instance norm normalises each tile with its own statistics, so tiles of very
different content (sky vs road) come out slightly differently toned; a generous overlap and feathering
hide the seams, but the untiled result is the reference — raise the budget when memory allows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .networks import ResnetGenerator

Backend = Literal["eager", "fast", "openvino", "auto"]
BACKENDS: tuple[str, ...] = ("eager", "fast", "openvino", "auto")
MIN_SIDE = 8
SELF_CHECK_TOLERANCE = 1e-3  # on the [-1, 1] output scale

log = logging.getLogger(__name__)


def build_backend(generator: ResnetGenerator, backend: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The CPU forward for ``backend`` ('fast': Winograd residual blocks + OpenVINO head/tail when installed;
    'openvino': the whole model in OpenVINO fp32), or None for 'eager'. Raises when it is unavailable."""
    if backend == "eager":
        return None
    if backend == "fast":
        from .fast import FastResnetGenerator

        return FastResnetGenerator(generator)
    if backend == "openvino":
        from . import openvino_backend

        if not openvino_backend.available():
            raise RuntimeError("backend 'openvino' needs the openvino package (pip install openvino)")
        return openvino_backend.compile_generator(generator, generator.config.input_nc)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def self_check(generator: ResnetGenerator, forward: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Largest output difference from the eager module on a small random input (odd tile counts)."""
    x = torch.rand(1, generator.config.input_nc, 36, 52, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        return float((forward(x).float() - generator(x).float()).abs().max())


def choose_backend(generator: ResnetGenerator) -> tuple[str, Callable[[torch.Tensor], torch.Tensor] | None]:
    """'auto' on CPU: the fastest backend that builds here and matches eager on a small input, else eager."""
    for name in ("fast", "openvino"):
        try:
            forward = build_backend(generator, name)
            diff = self_check(generator, forward) if forward is not None else 0.0
        except Exception as e:  # noqa: BLE001 - any failure of an optional backend means: use the next one
            log.warning("CycleGAN backend %r unavailable (%s); trying the next one", name, e)
            continue
        if diff <= SELF_CHECK_TOLERANCE:
            return name, forward
        log.warning("CycleGAN backend %r differs from eager by %.2e; not used", name, diff)
    return "eager", None


def _padding(size: int) -> tuple[int, int]:
    target = max(MIN_SIDE, math.ceil(size / 4) * 4)
    extra = target - size
    return extra // 2, extra - extra // 2


def pad_to_model(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Pad (N, C, H, W) so both sides are multiples of 4 (and >= 8); returns the padded batch and offsets
    (top, bottom, left, right) to crop with."""
    h, w = x.shape[-2:]
    top, bottom = _padding(h)
    left, right = _padding(w)
    if top == bottom == left == right == 0:
        return x, (0, 0, 0, 0)
    # Reflection needs pad < size; tiny images (1×1, 2×3, …) fall back to edge replication.
    mode = "reflect" if max(top, bottom) < h and max(left, right) < w else "replicate"
    return F.pad(x, (left, right, top, bottom), mode=mode), (top, bottom, left, right)


def _to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    arr = np.stack(images).astype(np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).div_(127.5).sub_(1.0)


def _to_uint8(y: torch.Tensor) -> list[np.ndarray]:
    # Upstream truncates ((y+1)/2*255).astype(uint8); rounding is the unbiased choice.
    arr = ((y.float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8).permute(0, 2, 3, 1)
    return [np.ascontiguousarray(a) for a in arr.cpu().numpy()]


def _check_image(i: int, img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"image {i}: expected an H×W×3 uint8 RGB array, got {desc}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"image {i} is empty: {img.shape}")


def tile_grid(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``size`` with at least ``overlap`` shared pixels."""
    if tile >= size:
        return [0]
    n = math.ceil((size - overlap) / (tile - overlap))
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def _ramp(length: int, starts: list[int], tile: int, index: int, overlap: int) -> torch.Tensor:
    """1-D blending weight of one tile: ramps up from the edges that face a neighbouring tile."""
    pos = torch.arange(tile, dtype=torch.float32)
    w = torch.ones(tile)
    ramp = max(1, overlap)
    if index > 0:
        w = torch.minimum(w, (pos + 0.5) / ramp)
    if index < len(starts) - 1:
        w = torch.minimum(w, (tile - pos - 0.5) / ramp)
    return w


class Translator:
    """Applies one generator to images.

    ``backend`` (CPU only; on CUDA the plain module always runs): 'eager' the plain module; 'fast'
    Winograd residual blocks with fused C++ kernels and OpenVINO head/tail (fast.py; needs g++, ~15 s to
    set up); 'openvino' the whole model in OpenVINO fp32; 'auto' the first of fast, openvino that builds
    and matches eager within 1e-3 on a small input, else eager. ``self.backend`` is the one in use ('fast'
    degrades to eager, with a warning, where its kernels cannot be built).
    """

    def __init__(
        self,
        generator: ResnetGenerator,
        device: str | torch.device = "cpu",
        *,
        backend: Backend = "eager",
        batch_size: int = 4,
        max_tile_pixels: int = 2048 * 2048,
        tile_overlap: int = 128,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_tile_pixels < 64 * 64:
            raise ValueError(f"max_tile_pixels must be at least 4096, got {max_tile_pixels}")
        if tile_overlap < 0:
            raise ValueError(f"tile_overlap must be >= 0, got {tile_overlap}")
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.batch_size = batch_size
        self.max_tile_pixels = max_tile_pixels
        self.tile_overlap = tile_overlap
        self._fast: Callable[[torch.Tensor], torch.Tensor] | None = None
        if self.device.type != "cpu":
            self.backend: str = "eager"
        elif backend == "auto":
            self.backend, self._fast = choose_backend(self.generator)
        elif backend == "fast":
            # 'fast' was always available before it needed g++: keep callers working, just slower.
            from .cpu_kernels import KernelBuildError

            try:
                self.backend, self._fast = "fast", build_backend(self.generator, "fast")
            except KernelBuildError as e:
                log.warning("CycleGAN 'fast' backend unavailable (%s); running eager", e)
                self.backend = "eager"
        else:
            self.backend, self._fast = backend, build_backend(self.generator, backend)

    @torch.inference_mode()
    def run_model(self, x: torch.Tensor) -> torch.Tensor:
        """Generator forward on a (N, 3, H, W) batch in [-1, 1] with H, W multiples of 4."""
        x = x.to(self.device)
        if self._fast is not None:
            return self._fast(x)
        return self.generator(x)

    @torch.inference_mode()
    def translate_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1], any H, W -> same shape in [-1, 1] (pad, run, crop)."""
        h, w = x.shape[-2:]
        xp, (top, _, left, _) = pad_to_model(x)
        y = self.run_model(xp)
        return y[..., top : top + h, left : left + w]

    def translate(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Translate H×W×3 uint8 RGB images; each output has exactly its input's size."""
        for i, img in enumerate(images):
            _check_image(i, img)
        out: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, img in enumerate(images):
            if img.shape[0] * img.shape[1] > self.max_tile_pixels:
                out[i] = self._translate_tiled(img)
            else:
                groups.setdefault(img.shape[:2], []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                y = self.translate_tensor(_to_tensor([images[i] for i in chunk]))
                for i, arr in zip(chunk, _to_uint8(y), strict=True):
                    out[i] = arr
        return [o for o in out if o is not None]

    def _tile_shape(self, h: int, w: int) -> tuple[int, int]:
        # Smallest number of tiles whose (padded) size fits the pixel budget, keeping tiles near-square.
        o = self.tile_overlap
        for n in range(1, 1 + 4 * max(h, w)):
            ny = max(1, round(n * h / max(h, w)))
            nx = max(1, round(n * w / max(h, w)))
            th = h if ny == 1 else math.ceil((h + (ny - 1) * o) / ny)
            tw = w if nx == 1 else math.ceil((w + (nx - 1) * o) / nx)
            if (math.ceil(th / 4) * 4) * (math.ceil(tw / 4) * 4) <= self.max_tile_pixels:
                return th, tw
        raise ValueError("tile_overlap is too large for max_tile_pixels; lower the overlap")

    def _translate_tiled(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        th, tw = self._tile_shape(h, w)
        ys, xs = tile_grid(h, th, self.tile_overlap), tile_grid(w, tw, self.tile_overlap)
        acc = torch.zeros(3, h, w)
        wsum = torch.zeros(1, h, w)
        x = _to_tensor([img])
        for iy, y0 in enumerate(ys):
            wy = _ramp(h, ys, th, iy, self.tile_overlap)
            for ix, x0 in enumerate(xs):
                wx = _ramp(w, xs, tw, ix, self.tile_overlap)
                y = self.translate_tensor(x[..., y0 : y0 + th, x0 : x0 + tw])[0].float().cpu()
                weight = (wy[:, None] * wx[None, :])[None]
                acc[:, y0 : y0 + th, x0 : x0 + tw] += y * weight
                wsum[:, y0 : y0 + th, x0 : x0 + tw] += weight
        return _to_uint8((acc / wsum)[None])[0]
