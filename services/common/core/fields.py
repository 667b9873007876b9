"""Pydantic field types shared by request models, payloads and method parameters."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Seeds feed numpy's and torch's generators, which take 0 .. 2^32 - 1.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Random seed, 0 to 2^32 - 1.")]
