"""History of generated images for the discriminators (Shrivastava et al. 2017; upstream ``ImagePool``).

Feeding the discriminator a mix of current and older fakes damps generator/discriminator oscillation.
"""

from __future__ import annotations

import random

import torch


class ImagePool:
    """Until full, stores and returns each image; afterwards, with probability 1/2 returns a random stored
    image (replacing it by the new one), otherwise the new image. ``pool_size=0`` disables the pool."""

    def __init__(self, pool_size: int, rng: random.Random) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.rng = rng
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                idx = self.rng.randint(0, self.pool_size - 1)
                out.append(self.images[idx])
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> list[torch.Tensor]:
        return [img.detach().cpu().clone() for img in self.images]

    def load_state_dict(self, images: list[torch.Tensor], device: torch.device) -> None:
        if len(images) > self.pool_size:
            raise ValueError(f"pool state holds {len(images)} images, more than pool_size {self.pool_size}")
        self.images = [img.to(device) for img in images]
