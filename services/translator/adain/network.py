"""Feed-forward style transfer with adaptive instance normalisation (Huang & Belongie, ICCV 2017).

One encoder pass, one statistics swap at ``relu4_1`` and one decoder pass per image: orders of magnitude
cheaper than optimising each image (:mod:`.gatys`), so whole datasets can be translated. The encoder is
the frozen VGG-19 (supplied ImageNet weights) up to ``relu4_1``; only the decoder is trained, with the
paper's losses: content = MSE between the re-encoded output and the AdaIN target at ``relu4_1``;
style = MSE of channel means and standard deviations at ``relu1_1 … relu4_1``.

Several style images: their ``relu4_1`` means and standard deviations are averaged. Because AdaIN is
affine in (σ, μ), this is exactly the paper's equal-weight style interpolation Σ wₖ·AdaIN(c, sₖ).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from services.common.methods.adain import AdaINTrainOptions
from services.translator.tensor_images import check_rgb_uint8, resize, scaled_size, to_tensor, to_uint8
from services.translator.vgg.network import VGGFeatures

ENCODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
STATE_FORMAT = "sim2real-adain-train-v1"
_EPS = 1e-5


def mean_std(feat: torch.Tensor, eps: float = _EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and standard deviation, shaped (N, C, 1, 1)."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    var = flat.var(dim=2, unbiased=False) + eps
    return flat.mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def adain_from_stats(
    content_feat: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor
) -> torch.Tensor:
    """Normalise each content channel, then give it the style's mean and standard deviation."""
    c_mean, c_std = mean_std(content_feat)
    return (content_feat - c_mean) / c_std * style_std + style_mean


def adain(content_feat: torch.Tensor, style_feat: torch.Tensor) -> torch.Tensor:
    """AdaIN(x, y) = σ(y)·(x − μ(x))/σ(x) + μ(y), channel-wise per sample."""
    s_mean, s_std = mean_std(style_feat)
    return adain_from_stats(content_feat, s_mean, s_std)


def build_decoder() -> nn.Sequential:
    """The reference decoder: mirror of VGG-19 up to relu4_1, reflection padding, nearest upsampling."""

    def conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
        return layers + [nn.ReLU()] if relu else layers

    up = nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Sequential(
        *conv(512, 256),
        up,
        *conv(256, 256),
        *conv(256, 256),
        *conv(256, 256),
        *conv(256, 128),
        nn.Upsample(scale_factor=2, mode="nearest"),
        *conv(128, 128),
        *conv(128, 64),
        nn.Upsample(scale_factor=2, mode="nearest"),
        *conv(64, 64),
        *conv(64, 3, relu=False),
    )


@dataclass(frozen=True)
class StyleStats:
    """``relu4_1`` channel mean and standard deviation of a set of style images, each (1, 512, 1, 1)."""

    mean: torch.Tensor
    std: torch.Tensor


class AdaINModel(nn.Module):
    """Frozen VGG-19 encoder (to relu4_1) + trainable decoder; images are (N, 3, H, W) RGB in [0, 1]."""

    def __init__(self, features: nn.Sequential, decoder: nn.Module | None = None) -> None:
        super().__init__()
        device = next(features.parameters()).device
        self.encoder = VGGFeatures(features, ENCODER_LAYERS)
        self.decoder = (decoder if decoder is not None else build_decoder()).to(device)

    def encode(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.encoder(image)

    def forward(
        self, content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor, alpha: float = 1.0
    ) -> torch.Tensor:
        """Decoded image; ``alpha`` blends the AdaIN target with the content's own features (0: none)."""
        content_feat = self.encoder(content)["relu4_1"]
        target = adain_from_stats(content_feat, style_mean, style_std)
        if alpha != 1.0:
            target = alpha * target + (1.0 - alpha) * content_feat
        return self.decoder(target)


# ----------------------------------------------------------------------------------------------- training


# The defaults live in the method's spec (what the API validates), not here.
_DEFAULTS = AdaINTrainOptions()


@dataclass(frozen=True)
class AdaINTrainConfig:
    """Defaults are the paper's reference training (batch 8, Adam 1e-4 with 5e-5 inverse decay, style ×10).

    ``load_short_side``: None keeps images at their native scale (crops of driving frames at the scale
    inference runs on); images smaller than ``crop_size`` are upscaled just enough to crop. Set 512 to
    resize every image as the reference code does.
    """

    iterations: int = _DEFAULTS.iterations
    batch_size: int = _DEFAULTS.batch_size
    crop_size: int = _DEFAULTS.crop_size
    load_short_side: int | None = _DEFAULTS.load_short_side
    lr: float = _DEFAULTS.lr
    lr_decay: float = _DEFAULTS.lr_decay
    content_weight: float = _DEFAULTS.content_weight
    style_weight: float = _DEFAULTS.style_weight
    seed: int = _DEFAULTS.seed
    checkpoint_every: int = _DEFAULTS.checkpoint_every

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "crop_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.crop_size < 8 or self.crop_size % 8:
            raise ValueError(f"crop_size must be a multiple of 8 and at least 8, got {self.crop_size}")
        if self.load_short_side is not None and self.load_short_side < self.crop_size:
            raise ValueError(
                f"load_short_side ({self.load_short_side}) must be >= crop_size ({self.crop_size})"
            )
        if not self.lr > 0 or self.lr_decay < 0:
            raise ValueError(f"lr must be > 0 and lr_decay >= 0, got lr={self.lr}, lr_decay={self.lr_decay}")
        if self.content_weight < 0 or self.style_weight < 0:
            raise ValueError("content_weight and style_weight must be >= 0")


# Fields that may change between a checkpoint and its resumption (they do not change what is computed).
_RESUMABLE_CHANGES = frozenset({"iterations", "checkpoint_every"})


def _random_crop(image: np.ndarray, cfg: AdaINTrainConfig, rng: np.random.Generator, device: torch.device):
    h, w = image.shape[:2]
    short = min(h, w)
    target_short = cfg.load_short_side if cfg.load_short_side is not None else max(short, cfg.crop_size)
    tensor = to_tensor(image, device)
    if target_short != short:
        scale = target_short / short
        size = (max(cfg.crop_size, round(h * scale)), max(cfg.crop_size, round(w * scale)))
        tensor = resize(tensor, size)
    h, w = tensor.shape[-2:]
    top = int(rng.integers(0, h - cfg.crop_size + 1))
    left = int(rng.integers(0, w - cfg.crop_size + 1))
    return tensor[..., top : top + cfg.crop_size, left : left + cfg.crop_size]


def _batch(
    loaders: Sequence[Callable[[], np.ndarray]],
    what: str,
    cfg: AdaINTrainConfig,
    rng: np.random.Generator,
    device: torch.device,
) -> torch.Tensor:
    crops = []
    for index in rng.integers(0, len(loaders), size=cfg.batch_size):
        image = loaders[int(index)]()
        check_rgb_uint8(image, f"{what} image {int(index)}")
        crops.append(_random_crop(image, cfg, rng, device))
    return torch.cat(crops, dim=0)


def _check_resume(resume: Mapping[str, object], cfg: AdaINTrainConfig) -> None:
    if resume.get("format") != STATE_FORMAT:
        raise ValueError(
            f"resume state is not an AdaIN training checkpoint (format {resume.get('format')!r})"
        )
    saved = resume.get("config")
    if not isinstance(saved, Mapping):
        raise ValueError("resume state has no training config")
    for f in fields(cfg):
        if f.name not in _RESUMABLE_CHANGES and saved.get(f.name) != getattr(cfg, f.name):
            raise ValueError(
                f"resume checkpoint was trained with {f.name}={saved.get(f.name)!r}, "
                f"not {getattr(cfg, f.name)!r}: use the same setting or start a new training"
            )


def train_adain(
    cfg: AdaINTrainConfig,
    content_images: Sequence[Callable[[], np.ndarray]],
    style_images: Sequence[Callable[[], np.ndarray]],
    *,
    features: nn.Sequential,
    resume: Mapping[str, object] | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
    on_progress: Callable[[int, dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str | torch.device | None = None,
) -> dict[str, torch.Tensor]:
    """Train the decoder; returns its state_dict (for :class:`AdaINTranslator`).

    Images come from loaders (called when sampled, so datasets need not fit in memory). The batch of
    iteration i depends only on (seed, i), and checkpoints hold decoder, Adam state and iteration, so a
    run resumed from a checkpoint computes what the uninterrupted run would have. ``on_checkpoint``
    receives a state (plain tensors/numbers: ``torch.save``-able, loadable with ``weights_only=True``)
    every ``checkpoint_every`` iterations, on stop and at the end. ``should_stop()`` ends training
    early after a checkpoint.
    """
    if not content_images or not style_images:
        raise ValueError("give at least one content image and one style image to train AdaIN")
    device = torch.device(device) if device is not None else next(features.parameters()).device
    if next(features.parameters()).device != device:
        raise ValueError(f"features are on {next(features.parameters()).device}, training asked for {device}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        decoder = build_decoder()
    model = AdaINModel(features, decoder).to(device)
    optimizer = torch.optim.Adam(model.decoder.parameters(), lr=cfg.lr)
    start, losses = 0, []
    if resume is not None:
        _check_resume(resume, cfg)
        model.decoder.load_state_dict(resume["decoder"])  # type: ignore[arg-type]
        optimizer.load_state_dict(resume["optimizer"])  # type: ignore[arg-type]
        start = int(resume["iteration"])  # type: ignore[arg-type]
        losses = [float(x) for x in resume.get("losses", [])]  # type: ignore[union-attr]

    def state(iteration: int) -> dict:
        return {
            "format": STATE_FORMAT,
            "iteration": iteration,
            "config": asdict(cfg),
            "decoder": copy.deepcopy(model.decoder.state_dict()),
            "optimizer": copy.deepcopy(optimizer.state_dict()),
            "losses": list(losses),
        }

    model.decoder.train()
    iteration = checkpointed = start
    while iteration < cfg.iterations:
        if should_stop is not None and should_stop():
            break
        rng = np.random.default_rng((cfg.seed, iteration))
        content = _batch(content_images, "content", cfg, rng, device)
        style = _batch(style_images, "style", cfg, rng, device)
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr / (1.0 + cfg.lr_decay * iteration)
        with torch.no_grad():
            content_feat = model.encode(content)["relu4_1"]
            style_feats = model.encode(style)
            target = adain(content_feat, style_feats["relu4_1"])
        output_feats = model.encode(model.decoder(target))
        content_loss = F.mse_loss(output_feats["relu4_1"], target)
        style_loss = content_loss.new_zeros(())
        for name in ENCODER_LAYERS:
            o_mean, o_std = mean_std(output_feats[name])
            s_mean, s_std = mean_std(style_feats[name])
            style_loss = style_loss + F.mse_loss(o_mean, s_mean) + F.mse_loss(o_std, s_std)
        loss = cfg.content_weight * content_loss + cfg.style_weight * style_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        iteration += 1
        value = float(loss.detach())
        if not np.isfinite(value):
            raise ValueError(f"AdaIN training loss became {value} at iteration {iteration}; lower lr")
        losses.append(value)
        if on_progress is not None:
            on_progress(
                iteration,
                {"loss": value, "content": float(content_loss.detach()), "style": float(style_loss.detach())},
            )
        if on_checkpoint is not None and iteration % cfg.checkpoint_every == 0:
            on_checkpoint(state(iteration))
            checkpointed = iteration
    if on_checkpoint is not None and iteration > checkpointed:
        on_checkpoint(state(iteration))
    model.decoder.eval()
    return {k: v.detach().clone() for k, v in model.decoder.state_dict().items()}


# ---------------------------------------------------------------------------------------------- inference


class AdaINTranslator:
    """Stylises whole frames with a trained decoder; output is exactly the input size.

    ``decoder_state`` is the decoder state_dict returned by :func:`train_adain` (a training checkpoint
    is accepted too). Style images are encoded with their longest side capped at ``style_max_side``.
    """

    def __init__(
        self,
        features: nn.Sequential,
        decoder_state: Mapping[str, torch.Tensor],
        alpha: float = 1.0,
        style_max_side: int = 1280,
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if "decoder" in decoder_state and decoder_state.get("format") == STATE_FORMAT:
            decoder_state = decoder_state["decoder"]  # type: ignore[assignment]
        decoder = build_decoder()
        try:
            decoder.load_state_dict(dict(decoder_state))
        except RuntimeError as exc:
            raise ValueError(f"not an AdaIN decoder state_dict: {str(exc).splitlines()[0][:300]}") from exc
        self.model = AdaINModel(features, decoder).eval()
        self.model.decoder.requires_grad_(False)
        self.device = next(features.parameters()).device
        self.alpha = alpha
        self.style_max_side = style_max_side

    @torch.inference_mode()
    def style_statistics(self, style_images: Sequence[np.ndarray]) -> StyleStats:
        """Averaged relu4_1 statistics of the style images; compute once per style set and reuse."""
        if len(style_images) == 0:
            raise ValueError("give at least one style image")
        means, stds = [], []
        for i, style in enumerate(style_images):
            check_rgb_uint8(style, f"style image {i}")
            if min(style.shape[:2]) < 8:
                raise ValueError(f"style image {i} is {style.shape[1]}×{style.shape[0]}; need at least 8×8")
            tensor = to_tensor(style, self.device)
            tensor = resize(tensor, scaled_size(style.shape[0], style.shape[1], self.style_max_side))
            mean, std = mean_std(self.model.encode(tensor)["relu4_1"])
            means.append(mean)
            stds.append(std)
        return StyleStats(torch.cat(means).mean(0, keepdim=True), torch.cat(stds).mean(0, keepdim=True))

    def translate(
        self, image: np.ndarray, style: Sequence[np.ndarray] | StyleStats, alpha: float | None = None
    ) -> np.ndarray:
        """Stylise an H×W×3 uint8 image; reflection-pads to a multiple of 8 and crops back."""
        return self.translate_batch([image], style, alpha)[0]

    @torch.inference_mode()
    def translate_batch(
        self,
        images: Sequence[np.ndarray],
        style: Sequence[np.ndarray] | StyleStats,
        alpha: float | None = None,
        batch_size: int = 1,
    ) -> list[np.ndarray]:
        """Stylise H×W×3 uint8 images, running images of one size `batch_size` at a time through the
        network (every layer works per sample, so a batch gives each image what it alone would get)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            check_rgb_uint8(image, "content image" if len(images) == 1 else f"content image {i}")
            height, width = image.shape[:2]
            if min(height, width) < 8:
                raise ValueError(f"content image is {width}×{height}; AdaIN needs at least 8×8 pixels")
            groups.setdefault((height, width), []).append(i)
        stats = style if isinstance(style, StyleStats) else self.style_statistics(style)
        alpha = self.alpha if alpha is None else alpha
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        out: list[np.ndarray] = [np.empty(0, np.uint8)] * len(images)
        for (height, width), indices in groups.items():
            pad_h, pad_w = (-height) % 8, (-width) % 8
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                tensor = torch.cat([to_tensor(images[i], self.device) for i in chunk])
                if pad_h or pad_w:
                    tensor = F.pad(tensor, (0, pad_w, 0, pad_h), mode="reflect")
                output = self.model(tensor, stats.mean, stats.std, alpha=alpha)
                for i, single in zip(chunk, output[..., :height, :width], strict=True):
                    out[i] = to_uint8(single[None])
        return out
