"""The CycleGAN method (Zhu et al. 2017): spec, inference params, training options, checkpoint import.

Torch-free: the API validates requests and checks uploaded generators (shapes only, no unpickling) here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.core.checkpoints import (
    CheckpointError,
    check_trained_values,
    read_tensor_shapes,
    read_tensor_values,
)
from services.common.core.fields import GpuIndices, Seed
from services.common.methods import MethodSpec, register


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CycleGANParams(_Model):
    backend: Literal["fast", "eager"] = Field(
        "fast", description="fast: Winograd CPU path; eager: plain torch"
    )
    batch_size: int = Field(4, ge=1, le=64, description="images per forward pass for dataset translation")


class CycleGANTrainOptions(_Model):
    """Training options; defaults follow pytorch-CycleGAN-and-pix2pix (`train.py --model cycle_gan`)."""

    ngf: int = Field(
        64, ge=4, le=256, description="generator filters in the first conv layer (width of the net)"
    )
    n_blocks: int = Field(
        9, ge=1, le=32, description="generator residual blocks (9 for 256 px crops, 6 for 128)"
    )
    ndf: int = Field(64, ge=4, le=256, description="discriminator filters in the first conv layer")
    n_layers_d: int = Field(
        3, ge=1, le=6, description="PatchGAN discriminator conv layers (3: 70x70 patches)"
    )
    lambda_a: float = Field(10.0, ge=0, description="weight of the cycle loss A -> B -> A")
    lambda_b: float = Field(10.0, ge=0, description="weight of the cycle loss B -> A -> B")
    lambda_identity: float = Field(
        0.5, ge=0, description="identity loss weight, relative to the cycle weights (keeps colours; 0: off)"
    )
    pool_size: int = Field(
        50, ge=0, le=1000, description="generated images kept to show the discriminators (0: only the newest)"
    )
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1")
    n_epochs: int = Field(100, ge=0, le=10_000, description="epochs at the initial learning rate")
    n_epochs_decay: int = Field(
        100, ge=0, le=10_000, description="further epochs with the learning rate decaying linearly to 0"
    )
    batch_size: int = Field(1, ge=1, le=256, description="images per training step (1 as in the paper)")
    load_size: int = Field(
        286, ge=8, le=4096, description="images are scaled to this size (px) before cropping"
    )
    crop_size: int = Field(256, ge=8, le=4096, description="random crop (px) the networks train on")
    preprocess: Literal["resize_and_crop", "scale_width_and_crop"] = Field(
        "scale_width_and_crop",
        description="resize_and_crop: square load_size then crop; scale_width_and_crop: width to load_size, "
        "aspect kept, then crop",
    )
    no_flip: bool = Field(False, description="do not flip training images horizontally at random")
    seed: Seed = 0
    checkpoint_every_iters: int = Field(
        1000, ge=1, description="training steps between checkpoints (a killed worker resumes from the last)"
    )
    sample_count: int = Field(4, ge=0, le=32, description="sample translations kept at the end of each epoch")
    max_images: int | None = Field(None, ge=1, description="cap per domain (sampled with the seed)")
    devices: GpuIndices | None = Field(
        None,
        description="GPU indices to train on, e.g. [0, 1]: two or more train data-parallel, one process "
        "per GPU, each on its own batch_size images per step (averaged gradients); default: the worker's "
        "device. A list naming GPUs the worker does not have fails the job with the worker's GPU count",
    )
    kid_every_epochs: int = Field(
        0,
        ge=0,
        le=10_000,
        description="record KID of translated A images against domain B every this many epochs and after the "
        "last (0: never; the default, because it needs the operator's `inception` weights, 409 without them)",
    )
    kid_images: int = Field(
        50, ge=2, le=1000, description="images per domain the KID is measured on (the first of each domain)"
    )

    def weights_needed(self) -> tuple[str, ...]:
        """Operator weights these options need beyond the method's own."""
        return ("inception",) if self.kid_every_epochs else ()

    @model_validator(mode="after")
    def _consistent(self) -> CycleGANTrainOptions:
        if self.crop_size % 4:
            raise ValueError(f"crop_size must be a multiple of 4, got {self.crop_size}")
        if self.load_size < self.crop_size:
            raise ValueError(f"load_size ({self.load_size}) must be >= crop_size ({self.crop_size})")
        if self.n_epochs + self.n_epochs_decay < 1:
            raise ValueError("n_epochs + n_epochs_decay must be at least 1")
        return self


class CycleGANImportOptions(_Model):
    """The architecture of an uploaded pytorch-CycleGAN-and-pix2pix generator (`--netG resnet_9blocks`)."""

    n_blocks: int = Field(
        9, ge=1, le=32, description="residual blocks (resnet_9blocks: 9, resnet_6blocks: 6)"
    )
    ngf: int = Field(64, ge=4, le=256, description="generator filters in the first conv layer")


# --- the ResNet generator's parameter shapes (pytorch-CycleGAN-and-pix2pix layout) ---------------------

STALE_NORM_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def clean_generator_keys(shapes: dict[str, Any]) -> dict[str, Any]:
    """Strip DataParallel's `module.` prefix and stale instance-norm statistics, as upstream does."""
    out = {}
    for key, value in shapes.items():
        key = key.removeprefix("module.")
        if key.endswith(STALE_NORM_SUFFIXES):
            continue
        out[key] = value
    return out


def generator_shapes(
    ngf: int = 64, n_blocks: int = 9, input_nc: int = 3, output_nc: int = 3
) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of upstream's ResnetGenerator with instance norm (conv layers carry biases)."""
    shapes: dict[str, tuple[int, ...]] = {"model.1.weight": (ngf, input_nc, 7, 7), "model.1.bias": (ngf,)}
    idx, ch = 4, ngf
    for _ in range(2):  # downsampling: conv, norm, relu
        shapes[f"model.{idx}.weight"] = (ch * 2, ch, 3, 3)
        shapes[f"model.{idx}.bias"] = (ch * 2,)
        idx += 3
        ch *= 2
    for _ in range(n_blocks):  # conv_block: pad, conv, norm, relu, pad, conv, norm
        for conv in (1, 5):
            shapes[f"model.{idx}.conv_block.{conv}.weight"] = (ch, ch, 3, 3)
            shapes[f"model.{idx}.conv_block.{conv}.bias"] = (ch,)
        idx += 1
    for _ in range(2):  # upsampling: transposed conv (in, out, k, k), norm, relu
        shapes[f"model.{idx}.weight"] = (ch, ch // 2, 3, 3)
        shapes[f"model.{idx}.bias"] = (ch // 2,)
        idx += 3
        ch //= 2
    idx += 1  # reflection pad
    shapes[f"model.{idx}.weight"] = (output_nc, ngf, 7, 7)
    shapes[f"model.{idx}.bias"] = (output_nc,)
    return shapes


def describe_generator(shapes: dict[str, Any]) -> str:
    blocks = {k.split(".")[1] for k in shapes if ".conv_block." in k}
    first = shapes.get("model.1.weight")
    ngf = first[0] if first else "unknown"
    return f"{len(blocks)} residual blocks and ngf {ngf}"


def check_generator(shapes: dict[str, Any], ngf: int, n_blocks: int) -> dict[str, Any]:
    """The cleaned shapes if they are exactly a (ngf, n_blocks) generator, else a CheckpointError."""
    cleaned = clean_generator_keys(shapes)
    expected = generator_shapes(ngf, n_blocks)
    if {k: tuple(v) for k, v in cleaned.items()} != expected:
        raise CheckpointError(
            f"not a CycleGAN ResNet generator with {n_blocks} residual blocks and ngf {ngf}: the file has "
            f"{describe_generator(cleaned)} ({len(cleaned)} tensors, expected {len(expected)}); pass the "
            "matching n_blocks and ngf"
        )
    return cleaned


def import_generator(data: bytes, options: CycleGANImportOptions) -> dict[str, Any]:
    """The model config of an uploaded generator whose tensors are exactly that architecture."""
    shapes = read_tensor_shapes(data)
    check_generator(shapes, options.ngf, options.n_blocks)
    check_trained_values(read_tensor_values(data, shapes), "generator")
    return {"ngf": options.ngf, "n_blocks": options.n_blocks, "input_nc": 3, "output_nc": 3}


SPEC = register(
    MethodSpec(
        name="cyclegan",
        description="CycleGAN: an unpaired image-to-image generator trained from domain A (synthetic) to "
        "domain B (real weather); trained here or imported from pytorch-CycleGAN-and-pix2pix.",
        params=CycleGANParams,
        model="required",
        builder="services.translator.cyclegan.builder:build",
        trainer="services.translator.cyclegan.trainer:train",
        training_options=CycleGANTrainOptions,
        importer=import_generator,
        import_options=CycleGANImportOptions,
        default_trainable=True,
        rank=1,
    )
)
