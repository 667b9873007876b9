"""The options a dataset ingest takes, validated at submit: each reader's keyword options (from its
signature, so a new reader needs nothing here) and the split options."""

from __future__ import annotations

import inspect
import typing
from functools import cache
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from services.common.core.fields import Seed
from services.common.datasets.readers import READERS

# The arguments every reader takes positionally; the rest are the user's options.
_POSITIONAL = ("root", "taxonomy", "report")


class SplitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of scenes (or images) for val")
    seed: Seed = 0


def _relative(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ValueError("give a path relative to the dataset folder, without '..'")
    return value


# Paths arrive as strings relative to the dataset folder; the reader confines them again when it opens them.
RelativePath = Annotated[str, AfterValidator(_relative)]


def _as_request_type(annotation: Any) -> Any:
    text = str(annotation)
    if "Path" in text:
        return RelativePath | None if "None" in text else RelativePath
    return annotation


@cache
def reader_options_model(fmt: str) -> type[BaseModel]:
    reader = READERS[fmt]
    hints = typing.get_type_hints(reader)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(reader).parameters.items():
        if name in _POSITIONAL:
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (_as_request_type(hints.get(name, Any)), default)
    return create_model(
        f"{fmt}_reader_options", __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields
    )


def _problems(exc: ValidationError, where: str, model: type[BaseModel]) -> str:
    out = []
    for err in exc.errors():
        path = ".".join([where, *map(str, err.get("loc", ()))])
        if err.get("type") == "extra_forbidden":
            allowed = ", ".join(model.model_fields) or "none"
            out.append(f"{path}: unknown option (this format takes: {allowed})")
        else:
            out.append(f"{path}: {err.get('msg')}")
    return "; ".join(out)


def validate_reader_options(
    fmt: str, options: dict[str, Any], where: str = "options.reader"
) -> dict[str, Any]:
    """The options as the reader will get them, or ValueError naming each bad one by its full path."""
    model = reader_options_model(fmt)
    try:
        return model.model_validate(options).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise ValueError(_problems(exc, where, model)) from None


def validate_split_options(options: dict[str, Any], where: str = "options.split") -> dict[str, Any]:
    try:
        return SplitOptions.model_validate(options).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise ValueError(_problems(exc, where, SplitOptions)) from None
