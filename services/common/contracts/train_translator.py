"""`train_translator`: a learned translation method trained on two image domains (A -> B)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.contracts import JobKind, Payload, register


class DomainSpec(BaseModel):
    """An image domain: a registered dataset with a filter, or an object-store prefix (e.g. an image set)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=255, description="e.g. 'vkitti2 clone' or 'bdd foggy daytime'")
    dataset_id: str | None = Field(None, max_length=64)
    filter: str | list[str] | None = Field(None, description="e.g. 'weather=foggy;timeofday=daytime'")
    prefix: str | None = Field(
        None, max_length=1024, description="object-store prefix, e.g. the `prefix` of POST /v1/image-sets"
    )
    limit: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> DomainSpec:
        if bool(self.dataset_id) == bool(self.prefix):
            raise ValueError("give exactly one of dataset_id (with an optional filter) or prefix")
        if self.prefix and self.filter:
            raise ValueError("filter applies to datasets; a prefix is taken whole")
        return self


class TrainTranslatorPayload(Payload):
    name: str
    method: str
    weather: str
    domain_a: DomainSpec
    domain_b: DomainSpec
    # Validated and completed with defaults by the method's training-options model at submit.
    options: dict[str, Any] = Field(default_factory=dict)
    # The operator weights' versions it uses, fixed at submit (e.g. {"vgg19": 2}).
    weights: dict[str, int] = Field(default_factory=dict)


class TrainTranslatorResult(BaseModel):
    """Each trainer adds what it knows (epochs, resumed step, ...) beside the model it made."""

    model_config = ConfigDict(extra="allow")

    model_id: str
    weights_key: str


KIND = register(
    JobKind(
        "train_translator", "translator", "translator.training", TrainTranslatorPayload, TrainTranslatorResult
    )
)
