"""What a translation request resolves to: the method, the weather it produces, its model or style, params.

Shared by the translation jobs (one image, a dataset, a composition's translated slots). The params are
validated against the method's own model at submit (see services.common.methods) and again by its builder.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Translation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    weather: str
    model_id: str | None = None
    style_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    # The operator weights' versions it uses, fixed at submit (e.g. {"vgg19": 2}).
    weights: dict[str, int] = Field(default_factory=dict)
