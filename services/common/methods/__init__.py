"""The translation-method registry: each method described once, by a spec, torch-free.

A method is one spec module in this package (parameter model, training options, what it needs, where its
builder and trainer live) that calls `register(MethodSpec(...))`, plus its own package under
services/translator/. The API, GET /v1/weathers, dataset compositions, the training dispatch and the
translator worker all read this registry; nothing else names a method. Tests may register their own.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from services.common.core.plugins import once_importing_submodules

__all__ = [
    "MethodSpec",
    "MethodError",
    "Need",
    "default",
    "get",
    "register",
    "registry",
    "describe_error",
    "with_intensity",
    "intensity_weathers",
]

Need = Literal["no", "optional", "required"]


class MethodError(ValueError):
    """A request the method cannot serve; the message names the field and what to change."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MethodSpec:
    name: str
    description: str
    # The parameter model (defaults live only there); a method with fixed weathers may give one per weather.
    params: type[BaseModel] | None = None
    weather_params: dict[str, type[BaseModel]] = field(default_factory=dict)
    # Weathers it renders by itself; empty: it produces the weather of its trained model or style.
    model: Need = "no"  # a trained translator model of this method (model_id)
    style: Need = "no"  # a style (style_id): reference images of the target look
    weights: tuple[str, ...] = ()  # operator-supplied weights, by name (e.g. "vgg19")
    uses_depth: bool = False
    # Where a depth-using method may take distances from (params.depth_source), each with the operator weights
    # it needs, e.g. {"provided": (), "geometric": (), "model": ("depth_anything",)}.
    depth_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Per weather it renders by itself, the one parameter that sets how strong it is (a float field of that
    # weather's model, e.g. fog's visibility): robustness curves render an evaluation set at its values.
    intensity: dict[str, str] = field(default_factory=dict)
    # "module:function" paths, imported only by the translator worker (they may import torch).
    builder: str = ""
    trainer: str | None = None
    training_options: type[BaseModel] | None = None
    # Checks an uploaded checkpoint without unpickling code: (bytes, import options) -> model config.
    importer: Callable[[bytes, BaseModel], dict[str, Any]] | None = None
    import_options: type[BaseModel] | None = None
    # The method used when a request names none (translation) / a training request names none.
    default: bool = False
    default_trainable: bool = False
    rank: int = 100  # listing order (GET /v1/weathers, messages)

    @property
    def weathers(self) -> tuple[str, ...]:
        return tuple(self.weather_params)

    @property
    def trainable(self) -> bool:
        return self.trainer is not None

    @property
    def package(self) -> str:
        """Its own package (where the builder lives): the one place besides the spec that names it."""
        return self.builder.partition(":")[0].rpartition(".")[0]

    def weights_for(self, params: BaseModel, default_depth_source: str) -> tuple[str, ...]:
        """The operator weights a request with these params needs: the method's own, and those of its depth
        source (the one named, else `default_depth_source`, which images without a depth map get)."""
        source = getattr(params, "depth_source", None) or default_depth_source
        extra = tuple(w for w in self.depth_sources.get(source, ()) if w not in self.weights)
        return self.weights + extra

    def load_builder(self) -> Callable[..., Any]:
        return _load_path(self.builder)

    def load_trainer(self) -> Callable[..., Any]:
        if self.trainer is None:
            raise MethodError(f"method: {self.name} cannot be trained; trainable: {', '.join(trainable())}")
        return _load_path(self.trainer)

    def params_model(self, weather: str | None) -> type[BaseModel]:
        if self.weather_params:
            if not weather:
                raise MethodError(f"weather: required for {self.name}; one of {', '.join(self.weathers)}")
            if weather not in self.weather_params:
                raise MethodError(f"weather: {self.name} renders {', '.join(self.weathers)}, not {weather!r}")
            return self.weather_params[weather]
        assert self.params is not None, f"method {self.name} has no parameter model"
        return self.params

    def parse_params(
        self, weather: str | None, raw: dict[str, Any] | None, where: str = "params"
    ) -> BaseModel:
        model = self.params_model(weather)
        if raw is not None and not isinstance(raw, dict):
            raise MethodError(f"{where}: must be a JSON object, got {type(raw).__name__}")
        return validated(
            model, raw, where, f"{weather if self.weather_params else self.name} {where or 'parameters'}"
        )

    def parse_training_options(self, raw: dict[str, Any] | None, where: str = "options") -> BaseModel:
        if self.training_options is None:
            raise MethodError(f"method: {self.name} cannot be trained; trainable: {', '.join(trainable())}")
        return validated(self.training_options, raw, where)


def _load_path(path: str) -> Callable[..., Any]:
    """A "package.module:function" reference, imported on first use (the worker's, never the API's)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def describe_error(error: dict[str, Any], model: type[BaseModel], where: str = "") -> str:
    """One pydantic error as "field '<where>.<field>': <what> (allowed: …), got …"."""
    loc = ".".join(str(part) for part in error.get("loc", ()))
    kind = error.get("type", "")
    if not loc and kind == "value_error":
        # A check across fields (a model validator) has no location; its message starts with the field
        # to change, which completes the path.
        first = str((error.get("ctx") or {}).get("error", "")).split(" ", 1)[0]
        loc = first if first in model.model_fields else ""
    path = ".".join(p for p in (where, loc) if p) or "parameters"
    if kind == "extra_forbidden":
        return f"unknown field '{path}' (allowed fields: {', '.join(model.model_fields)})"
    ctx = error.get("ctx") or {}
    bounds = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    info = model.model_fields.get(str(error["loc"][0])) if error.get("loc") else None
    ranges = [
        f"{symbol} {getattr(meta, name)}"
        for meta in (getattr(info, "metadata", []) if info else [])
        for name, symbol in bounds.items()
        if getattr(meta, name, None) is not None
    ] or [f"{bounds[name]} {ctx[name]}" for name in bounds if name in ctx]
    allowed = f" (allowed: {' and '.join(ranges)})" if ranges else ""
    # A model-level error's input is the whole object: its message says what it got.
    got = f", got {error['input']!r}" if "input" in error and kind != "missing" and error.get("loc") else ""
    return f"field '{path}': {error.get('msg', 'invalid value')}{allowed}{got}"


def validated(model: type[BaseModel], raw: dict[str, Any] | None, where: str, what: str = "") -> BaseModel:
    """`raw` parsed by `model`, or MethodError naming every bad field by its full path."""
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        details = "; ".join(describe_error(e, model, where) for e in exc.errors())
        raise MethodError(f"Invalid {what or where}: {details}") from None


_METHODS: dict[str, MethodSpec] = {}
_ORIGINS: dict[str, str] = {}  # method -> the module that registered it (its spec)


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method (a spec module does this at import; a test may register a toy one)."""
    for weather, param in spec.intensity.items():
        if param not in spec.weather_params.get(weather, BaseModel).model_fields:
            raise ValueError(
                f"method {spec.name!r}: intensity {param!r} is not a field of weather {weather!r}"
            )
    existing = _METHODS.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"translation method {spec.name!r} is registered twice")
    _METHODS[spec.name] = spec
    _ORIGINS[spec.name] = sys._getframe(1).f_globals.get("__name__", "")
    return spec


def spec_module(name: str) -> str:
    """The module that registered a method: its spec."""
    registry()
    return _ORIGINS[name]


def unregister(name: str) -> None:
    _METHODS.pop(name, None)
    _ORIGINS.pop(name, None)


_load = once_importing_submodules(__name__, __path__)


def registry() -> dict[str, MethodSpec]:
    _load()
    return dict(sorted(_METHODS.items(), key=lambda kv: (kv[1].rank, kv[0])))


def get(name: str) -> MethodSpec:
    methods = registry()
    if name not in methods:
        raise MethodError(f"method: unknown method {name!r}; use one of {', '.join(methods)}")
    return methods[name]


def trainable() -> list[str]:
    return [m.name for m in registry().values() if m.trainable]


def importable() -> list[str]:
    return [m.name for m in registry().values() if m.importer is not None]


def default(trainable_only: bool = False) -> str:
    """The method a request that names none gets."""
    flag = "default_trainable" if trainable_only else "default"
    return next(m.name for m in registry().values() if getattr(m, flag))


def with_intensity(weather: str) -> tuple[MethodSpec, str] | None:
    """The method (the default first) that renders `weather` by itself at a declared intensity, and that
    intensity's parameter name; None when no method declares one for it."""
    for spec in sorted(registry().values(), key=lambda m: not m.default):
        if weather in spec.intensity:
            return spec, spec.intensity[weather]
    return None


def intensity_weathers() -> list[str]:
    """Every weather some method renders at a declared intensity (what robustness curves accept)."""
    return sorted({w for m in registry().values() for w in m.intensity})


def needing_weights(weights: str) -> list[str]:
    return [m.name for m in registry().values() if weights in m.weights]


def weights_needed(training_options: BaseModel) -> tuple[str, ...]:
    """Operator weights a training needs because of its options (a training-options model may define
    `weights_needed()`, e.g. cyclegan's KID probe needs `inception`), beyond its method's `weights`."""
    needs = getattr(training_options, "weights_needed", None)
    return tuple(needs()) if callable(needs) else ()
