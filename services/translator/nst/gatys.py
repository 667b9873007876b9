"""Gatys et al. neural style transfer by optimising the image, done the way the method needs.

Choices, and why (the reference study's run — VGG16, noise start, 828×250 output never resized back —
neither kept label geometry nor matched the image size):

* VGG-19 (the paper's network), content ``conv4_2``, style ``conv1_1 … conv5_1`` with equal layer
  weights, Gram matrices normalised by C·H·W so the style term does not depend on image size; the style
  target is the Gram matrix averaged over all style images (a weather is a set of photos, not one).
* The optimisation starts from the content image, so even a short run keeps every object in place.
* Resolution: L-BFGS on a 1242×375 frame costs several seconds per iteration on CPU. We optimise at a
  working resolution (longest side ≤ ``working_max_side``) and bring back only the *stylisation
  residual* (stylised − content, at working resolution), upsampled bicubically and added to the
  full-resolution content. The output is exactly the input size, edges stay pixel-aligned with the
  synthetic labels, and full-resolution detail survives; style texture finer than the working
  resolution is what this trades away.
* ``preserve_color``: luminance-only transfer (Gatys et al. 2016, "Preserving color in neural artistic
  style transfer"): optimise on luminance images (style luminance matched to the content's mean/std),
  then recombine the stylised luminance with the content's YIQ chroma.

Loss scale: content = Σ mean-squared feature difference; style = mean over layers of the mean-squared
Gram difference; TV = mean squared neighbour difference of the [0, 1] image. With real ImageNet weights
``style_weight=1e6`` puts the style term on the order of the content term (the scale of the PyTorch NST
tutorial, which uses the same normalisation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.common.methods.nst import NSTParams
from services.translator.tensor_images import (
    check_rgb_uint8,
    resize,
    rgb_to_yiq,
    scaled_size,
    to_tensor,
    to_uint8,
    yiq_to_rgb,
)
from services.translator.vgg.network import VGGFeatures, layer_names, pool_count_before

# The defaults live in the method's spec (what the API validates), not here.
_DEFAULTS = NSTParams()


@dataclass(frozen=True)
class GatysConfig:
    content_layers: tuple[str, ...] = _DEFAULTS.content_layers
    style_layers: tuple[str, ...] = _DEFAULTS.style_layers
    content_weight: float = _DEFAULTS.content_weight
    style_weight: float = _DEFAULTS.style_weight
    tv_weight: float = _DEFAULTS.tv_weight
    iterations: int = _DEFAULTS.iterations
    optimizer: str = _DEFAULTS.optimizer  # "lbfgs" | "adam"
    lr: float | None = _DEFAULTS.lr  # None: 1.0 for L-BFGS, 0.02 for Adam (pixel units in [0, 1])
    working_max_side: int = _DEFAULTS.working_max_side
    preserve_color: bool = _DEFAULTS.preserve_color
    pool: str = _DEFAULTS.pool  # "max" | "avg" (Gatys' paper suggests avg)
    init: str = _DEFAULTS.init  # "content" | "noise" (noise only to reproduce the reference study)
    seed: int = _DEFAULTS.seed

    def __post_init__(self) -> None:
        if not self.content_layers or not self.style_layers:
            raise ValueError("content_layers and style_layers must each name at least one VGG layer")
        for name, value in (("content_weight", self.content_weight), ("style_weight", self.style_weight)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not self.tv_weight >= 0:
            raise ValueError(f"tv_weight must be >= 0, got {self.tv_weight}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {self.optimizer!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0 (or None for the optimizer's default), got {self.lr}")
        if self.working_max_side < 16:
            raise ValueError(f"working_max_side must be at least 16 pixels, got {self.working_max_side}")
        if self.pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {self.pool!r}")
        if self.init not in ("content", "noise"):
            raise ValueError(f"init must be 'content' or 'noise', got {self.init!r}")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1.0 if self.optimizer == "lbfgs" else 0.02


def gram_matrix(feature: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) → (C, C) Gram matrix divided by C·H·W."""
    _, c, h, w = feature.shape
    flat = feature.reshape(c, h * w)
    return (flat @ flat.t()) / (c * h * w)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    zero = image.new_zeros(())
    return (dy.pow(2).mean() if dy.numel() else zero) + (dx.pow(2).mean() if dx.numel() else zero)


def _luminance_image(rgb: torch.Tensor) -> torch.Tensor:
    """Y of YIQ replicated to three channels (what VGG sees in luminance-only transfer)."""
    return rgb_to_yiq(rgb)[:, :1].expand(-1, 3, -1, -1).contiguous()


def _check_size(features: nn.Sequential, layers: Sequence[str], size: tuple[int, int], what: str) -> None:
    names = layer_names(features)
    deepest = max(layers, key=names.index)
    needed = 2 ** pool_count_before(features, deepest)
    if min(size) < needed:
        raise ValueError(
            f"{what} is {size[1]}×{size[0]} at the working resolution, too small for layer {deepest} "
            f"(needs at least {needed} pixels per side): raise working_max_side or drop deep layers"
        )


def stylize(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    features: nn.Sequential,
    cfg: GatysConfig = GatysConfig(),
    on_progress: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Stylise ``content`` (H×W×3 uint8) toward ``styles``; returns (H×W×3 uint8, loss history).

    ``history[i]`` is the total loss at the start of iteration i + 1 (``history[0]``: the initial image).

    ``features`` is the frozen VGG-19 stack from :func:`.weights.load_vgg19_features` (its device is
    used). ``on_progress(iteration, loss)`` is called after each iteration; when ``should_stop()``
    returns true the run ends early and the image reached so far is returned (history is shorter).
    """
    check_rgb_uint8(content, "content image")
    if len(styles) == 0:
        raise ValueError("give at least one style image")
    for i, style in enumerate(styles):
        check_rgb_uint8(style, f"style image {i}")
    device = next(features.parameters()).device
    extractor = VGGFeatures(features, (*cfg.content_layers, *cfg.style_layers), pool=cfg.pool)
    all_layers = (*cfg.content_layers, *cfg.style_layers)

    height, width = content.shape[:2]
    work_size = scaled_size(height, width, cfg.working_max_side)
    _check_size(features, all_layers, work_size, "the content image")
    content_full = to_tensor(content, device)
    content_work = resize(content_full, work_size)
    target_image = _luminance_image(content_work) if cfg.preserve_color else content_work

    with torch.no_grad():
        content_targets = {
            k: v.detach() for k, v in extractor(target_image).items() if k in cfg.content_layers
        }
        per_style: dict[str, list[torch.Tensor]] = {name: [] for name in cfg.style_layers}
        work_long = max(work_size)
        for i, style in enumerate(styles):
            # Each style photo is brought to the working scale (longest side equal to the content's).
            scale = work_long / max(style.shape[:2])
            style_size = (max(1, round(style.shape[0] * scale)), max(1, round(style.shape[1] * scale)))
            _check_size(features, cfg.style_layers, style_size, f"style image {i}")
            style_t = resize(to_tensor(style, device), style_size)
            if cfg.preserve_color:
                y_style = rgb_to_yiq(style_t)[:, :1]
                y_content = rgb_to_yiq(content_work)[:, :1]
                y_style = (y_style - y_style.mean()) / (
                    y_style.std() + 1e-6
                ) * y_content.std() + y_content.mean()
                style_t = y_style.clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()
            style_feats = extractor(style_t)
            for name in cfg.style_layers:
                per_style[name].append(gram_matrix(style_feats[name]))
        grams = {name: torch.stack(g).mean(dim=0) for name, g in per_style.items()}

    if cfg.init == "content":
        start = target_image.clone(memory_format=torch.contiguous_format)
    else:
        generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
        start = torch.rand(target_image.shape, generator=generator).to(device)
    image = start.requires_grad_(True)

    def loss_fn() -> torch.Tensor:
        feats = extractor(image)
        content_loss = sum(F.mse_loss(feats[n], content_targets[n]) for n in cfg.content_layers)
        style_loss = sum(F.mse_loss(gram_matrix(feats[n]), grams[n]) for n in cfg.style_layers)
        style_loss = style_loss / len(cfg.style_layers)
        loss = cfg.content_weight * content_loss + cfg.style_weight * style_loss
        if cfg.tv_weight:
            loss = loss + cfg.tv_weight * total_variation(image)
        return loss

    if cfg.optimizer == "lbfgs":
        # One step() per iteration (max_iter=1) so progress and cancellation happen between iterations;
        # the curvature history persists across steps. The strong-Wolfe line search keeps the loss
        # falling: without it L-BFGS at lr 1 overshot every few iterations (loss ×100, measured), and
        # clamping to [0, 1] between steps corrupted the curvature pairs, so the image is clamped once at
        # the end. max_eval leaves the line search up to 10 evaluations per iteration (usually 1).
        optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
            [image],
            lr=cfg.learning_rate,
            max_iter=1,
            max_eval=11,
            history_size=50,
            line_search_fn="strong_wolfe",
        )
    else:
        optimizer = torch.optim.Adam([image], lr=cfg.learning_rate)

    # The loss at the point where a line search ended is asked for again at the start of the next
    # step(); remembering the last evaluation saves that second VGG forward/backward per iteration.
    last: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        if last and torch.equal(image.detach(), last["x"]):
            image.grad = last["grad"].clone()
            return last["loss"]
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        last.update(x=image.detach().clone(), grad=image.grad.detach().clone(), loss=loss.detach())
        return loss

    history: list[float] = []
    for iteration in range(cfg.iterations):
        if should_stop is not None and should_stop():
            break
        loss = optimizer.step(closure)
        if cfg.optimizer == "adam":
            with torch.no_grad():
                image.clamp_(0.0, 1.0)
        value = float(loss.detach())
        if not np.isfinite(value):
            raise ValueError(
                f"NST loss became {value} at iteration {iteration + 1}; lower lr or style_weight"
            )
        history.append(value)
        if on_progress is not None:
            on_progress(iteration + 1, value)

    with torch.no_grad():
        result = _compose_full_resolution(
            image.detach().clamp(0.0, 1.0), content_work, content_full, cfg.preserve_color
        )
    return to_uint8(result), history


def _compose_full_resolution(
    stylised_work: torch.Tensor, content_work: torch.Tensor, content_full: torch.Tensor, preserve_color: bool
) -> torch.Tensor:
    """Full-resolution content + bicubically upsampled stylisation residual (in YIQ when keeping colour)."""
    full_size = tuple(content_full.shape[-2:])
    if preserve_color:
        y_residual = rgb_to_yiq(stylised_work)[:, :1] - rgb_to_yiq(content_work)[:, :1]
        yiq = rgb_to_yiq(content_full)
        yiq[:, :1] += resize(y_residual, full_size, mode="bicubic")
        return yiq_to_rgb(yiq).clamp(0.0, 1.0)
    residual = stylised_work - content_work
    return (content_full + resize(residual, full_size, mode="bicubic")).clamp(0.0, 1.0)
