"""Array ⇄ tensor conversions, resizing and YIQ colour space shared by the NST methods."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# NTSC YIQ (Gatys et al. 2016 use YIQ for luminance-only transfer); rows give Y, I, Q from RGB.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def check_rgb_uint8(image: np.ndarray, what: str) -> None:
    """Refuse anything but an H×W×3 uint8 array with a message that says what was given."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what} must be a numpy array (H×W×3 uint8 RGB), got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{what} must be an H×W×3 uint8 RGB array, got {image.dtype} with shape {image.shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{what} is empty (shape {image.shape})")


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """H×W×3 uint8 → (1, 3, H, W) float32 in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).to(torch.float32).div_(255.0).contiguous()


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] → H×W×3 uint8 (rounded, clipped)."""
    arr = tensor.detach()[0].clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return arr.permute(1, 2, 0).cpu().numpy()


def resize(tensor: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize to (h, w); downsampling uses antialiasing so no aliasing reaches the optimisation."""
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    shrinking = size[0] < tensor.shape[-2] or size[1] < tensor.shape[-1]
    if mode == "bicubic" and not shrinking:
        return F.interpolate(tensor, size=size, mode="bicubic", align_corners=False)
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def scaled_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(h, w) with the longest side at most ``max_side``, aspect kept, never upscaled."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def rgb_to_yiq(tensor: torch.Tensor) -> torch.Tensor:
    m = _RGB_TO_YIQ.to(device=tensor.device, dtype=tensor.dtype)
    return torch.einsum("ij,njhw->nihw", m, tensor)


def yiq_to_rgb(tensor: torch.Tensor) -> torch.Tensor:
    m = _YIQ_TO_RGB.to(device=tensor.device, dtype=tensor.dtype)
    return torch.einsum("ij,njhw->nihw", m, tensor)
