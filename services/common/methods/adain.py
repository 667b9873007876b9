"""AdaIN style transfer (Huang & Belongie 2017): spec, params and training options. A decoder trained on
VGG-19 relu4_1 features re-styles an image in one pass; domain A = content, domain B = style.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.core.fields import Seed
from services.common.methods import MethodSpec, register


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdaINParams(_Model):
    alpha: float = Field(1.0, ge=0.0, le=1.0, description="style strength: 0 = content, 1 = full style")
    max_style_images: int = Field(16, ge=1, le=256)
    batch_size: int = Field(
        4, ge=1, le=64, description="same-size images per forward pass in dataset translation"
    )


class AdaINTrainOptions(_Model):
    """Defaults follow Huang & Belongie's reference training (batch 8, Adam 1e-4, style weight 10)."""

    iterations: int = Field(160_000, ge=1, le=10_000_000)
    batch_size: int = Field(8, ge=1, le=256)
    crop_size: int = Field(256, ge=8, le=2048)
    load_short_side: int | None = Field(None, ge=8, le=4096)
    lr: float = Field(1e-4, gt=0, le=1)
    lr_decay: float = Field(5e-5, ge=0)
    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(10.0, ge=0)
    seed: Seed = 0
    checkpoint_every: int = Field(1000, ge=1)
    max_images: int | None = Field(None, ge=1, description="cap per domain (sampled with the seed)")

    @model_validator(mode="after")
    def _consistent(self) -> AdaINTrainOptions:
        if self.crop_size % 8:
            raise ValueError(f"crop_size must be a multiple of 8, got {self.crop_size}")
        if self.load_short_side is not None and self.load_short_side < self.crop_size:
            raise ValueError(
                f"load_short_side ({self.load_short_side}) must be >= crop_size ({self.crop_size})"
            )
        return self


SPEC = register(
    MethodSpec(
        name="adain",
        description="AdaIN: a feed-forward decoder re-styles each image with a style's feature statistics "
        "(the style's images, or the training style domain's).",
        params=AdaINParams,
        model="required",
        style="optional",
        weights=("vgg19",),
        builder="services.translator.adain.builder:build",
        trainer="services.translator.adain.trainer:train",
        training_options=AdaINTrainOptions,
        rank=3,
    )
)
