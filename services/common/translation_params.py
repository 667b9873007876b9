"""Parameters of the learned translation methods (pydantic only: the API validates them without torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

METHODS = ("physics", "cyclegan", "nst", "adain")
VGG_LAYERS = tuple(
    f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)
)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CycleGANParams(_Params):
    backend: Literal["fast", "eager"] = Field(
        "fast", description="fast: Winograd CPU path; eager: plain torch"
    )
    batch_size: int = Field(4, ge=1, le=64, description="images per forward pass for dataset translation")


class NSTParams(_Params):
    """Gatys et al.: optimise the image at a working resolution from the content image."""

    content_layers: tuple[str, ...] = ("conv4_2",)
    style_layers: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(1e6, ge=0)
    tv_weight: float = Field(1.0, ge=0)
    iterations: int = Field(300, ge=0, le=5000)
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    lr: float | None = Field(None, gt=0)
    working_max_side: int = Field(512, ge=16, le=4096)
    preserve_color: bool = False
    pool: Literal["max", "avg"] = "max"
    init: Literal["content", "noise"] = "content"
    seed: int = 0


class AdaINParams(_Params):
    alpha: float = Field(1.0, ge=0.0, le=1.0, description="style strength: 0 = content, 1 = full style")
    max_style_images: int = Field(16, ge=1, le=256)


PARAMS: dict[str, type[_Params]] = {"cyclegan": CycleGANParams, "nst": NSTParams, "adain": AdaINParams}


def validated(model: type[_Params], raw: dict[str, Any] | None, what: str) -> Any:
    """`raw` parsed by `model`; a ValueError naming the first bad field, for a 422 the user can act on."""
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "params"
        raise ValueError(f"Invalid {what}: field {field!r}: {err['msg']}") from exc


def parse_method_params(method: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Validated params of a learned method as a plain dict; ValueError names the field."""
    parsed = validated(PARAMS[method], raw, f"{method} parameters")
    if method == "nst":
        for layer in (*parsed.content_layers, *parsed.style_layers):
            if layer not in VGG_LAYERS:
                raise ValueError(
                    f"Invalid nst parameters: unknown VGG-19 layer {layer!r}; use {', '.join(VGG_LAYERS)}"
                )
    return parsed.model_dump(mode="json")


class CycleGANTrainOptions(_Params):
    """Training options; defaults follow pytorch-CycleGAN-and-pix2pix (`train.py --model cycle_gan`)."""

    ngf: int = Field(64, ge=4, le=256)
    n_blocks: int = Field(9, ge=1, le=32)
    ndf: int = Field(64, ge=4, le=256)
    n_layers_d: int = Field(3, ge=1, le=6)
    lambda_a: float = Field(10.0, ge=0)
    lambda_b: float = Field(10.0, ge=0)
    lambda_identity: float = Field(0.5, ge=0)
    pool_size: int = Field(50, ge=0, le=1000)
    lr: float = Field(2e-4, gt=0, le=1)
    beta1: float = Field(0.5, ge=0, lt=1)
    n_epochs: int = Field(100, ge=0, le=10_000)
    n_epochs_decay: int = Field(100, ge=0, le=10_000)
    batch_size: int = Field(1, ge=1, le=256)
    load_size: int = Field(286, ge=8, le=4096)
    crop_size: int = Field(256, ge=8, le=4096)
    preprocess: Literal["resize_and_crop", "scale_width_and_crop"] = "scale_width_and_crop"
    no_flip: bool = False
    seed: int = 0
    checkpoint_every_iters: int = Field(1000, ge=1)
    sample_count: int = Field(4, ge=0, le=32)
    max_images: int | None = Field(None, ge=1, description="cap per domain (sampled with the seed)")


def parse_train_options(raw: dict[str, Any] | None) -> dict[str, Any]:
    opts = validated(CycleGANTrainOptions, raw, "training options")
    if opts.crop_size % 4:
        raise ValueError(f"Invalid training options: crop_size must be a multiple of 4, got {opts.crop_size}")
    if opts.load_size < opts.crop_size:
        raise ValueError(
            f"Invalid training options: load_size ({opts.load_size}) must be >= crop_size ({opts.crop_size})"
        )
    if opts.n_epochs + opts.n_epochs_decay < 1:
        raise ValueError("Invalid training options: n_epochs + n_epochs_decay must be at least 1")
    return opts.model_dump()


class AdaINTrainOptions(_Params):
    """Defaults follow Huang & Belongie's reference training (batch 8, Adam 1e-4, style weight 10)."""

    iterations: int = Field(160_000, ge=1, le=10_000_000)
    batch_size: int = Field(8, ge=1, le=256)
    crop_size: int = Field(256, ge=8, le=2048)
    load_short_side: int | None = Field(None, ge=8, le=4096)
    lr: float = Field(1e-4, gt=0, le=1)
    lr_decay: float = Field(5e-5, ge=0)
    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(10.0, ge=0)
    seed: int = 0
    checkpoint_every: int = Field(1000, ge=1)
    max_images: int | None = Field(None, ge=1, description="cap per domain (sampled with the seed)")


def parse_training_options(method: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    if method == "cyclegan":
        return parse_train_options(raw)
    opts = validated(AdaINTrainOptions, raw, "training options")
    if opts.crop_size % 8:
        raise ValueError(f"Invalid training options: crop_size must be a multiple of 8, got {opts.crop_size}")
    if opts.load_short_side is not None and opts.load_short_side < opts.crop_size:
        raise ValueError(
            f"Invalid training options: load_short_side ({opts.load_short_side}) must be >= "
            f"crop_size ({opts.crop_size})"
        )
    return opts.model_dump()
