"""Neural style transfer (Gatys et al. 2016): spec and params. Optimises each image towards a style's
Gram statistics through operator-supplied VGG-19 weights.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.core.fields import Seed
from services.common.methods import MethodSpec, register

# torchvision VGG-19's conv layers, by block and index
VGG_LAYERS = tuple(
    f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NSTParams(_Model):
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
    seed: Seed = 0

    @model_validator(mode="after")
    def _known_layers(self) -> NSTParams:
        for layer in (*self.content_layers, *self.style_layers):
            if layer not in VGG_LAYERS:
                raise ValueError(f"unknown VGG-19 layer {layer!r}; use {', '.join(VGG_LAYERS)}")
        return self


SPEC = register(
    MethodSpec(
        name="nst",
        description="Gatys neural style transfer: each image optimised towards a style's Gram statistics "
        "(slow, no training).",
        params=NSTParams,
        style="required",
        weights=("vgg19",),
        builder="services.translator.nst.builder:build",
        rank=2,
    )
)
