"""Turning a translation request into a `Translation`: the method's spec decides what it needs.

Generic over the method registry: a new method is accepted here without any edit.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy.orm import Session

from services.api.lookups import get_or_404
from services.common import methods
from services.common.core.db.models import Style, TranslatorModel
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore
from services.common.core.weights import current_versions, missing_weights
from services.common.methods.translation import Translation


def method_spec(name: str, where: str = "") -> methods.MethodSpec:
    """The registered method, or a 422 naming the registered ones."""
    try:
        return methods.get(name)
    except methods.MethodError as exc:
        raise HTTPException(exc.status, f"{where}{exc}") from exc


def _model(session: Session, model_id: str | None, method: str, where: str) -> TranslatorModel:
    if not model_id:
        raise HTTPException(
            422, f"{where}model_id: method {method!r} needs model_id (see GET /v1/translator-models)"
        )
    model = get_or_404(session, TranslatorModel, model_id, "translator model", f"{where}model_id")
    if model.method != method:
        raise HTTPException(
            422, f"{where}model_id: model {model_id} is a {model.method} model; use method={model.method}"
        )
    return model


def _style(session: Session, style_id: str | None, method: str, where: str) -> Style:
    if not style_id:
        raise HTTPException(422, f"{where}style_id: method {method!r} needs style_id (see GET /v1/styles)")
    return get_or_404(session, Style, style_id, "style", f"{where}style_id")


def resolve_translation(
    session: Session,
    settings: Settings,
    store: ObjectStore,
    method: str,
    weather: str | None,
    model_id: str | None,
    style_id: str | None,
    params: dict[str, Any] | None,
    where: str = "",
) -> Translation:
    """Validate a request against the method's spec; `where` prefixes field names (e.g. "translations.fog.").

    Checks run in this order: method, params (422), operator weights (409), model and style (404/422),
    weather."""
    spec = method_spec(method, where)
    try:
        parsed = spec.parse_params(weather, params, f"{where}params")
    except methods.MethodError as exc:
        message = str(exc)
        if message.startswith("weather:"):
            message = where + message
        raise HTTPException(exc.status, message) from exc
    weights = spec.weights_for(parsed, settings.default_depth_source)
    missing = missing_weights(session, spec.weights)
    if missing:
        raise HTTPException(409, missing)
    missing = missing_weights(session, weights)
    if missing:
        named = getattr(parsed, "depth_source", None)
        chosen = (
            f"'{named}'"
            if named
            else f"the service's default '{settings.default_depth_source}' (SIM2REAL_DEFAULT_DEPTH_SOURCE)"
        )
        raise HTTPException(
            409,
            f"{where}params.depth_source: {chosen} needs the depth model's weights, which this service does "
            f"not have. {missing}. Or send {where}params.depth_source 'geometric' (or 'provided' with a depth "
            "map).",
        )
    model = (
        _model(session, model_id, method, where)
        if spec.model == "required" or (spec.model == "optional" and model_id)
        else None
    )
    style = (
        _style(session, style_id, method, where)
        if spec.style == "required" or (spec.style == "optional" and style_id)
        else None
    )
    if spec.weather_params:
        produced, source = weather, None
    elif style is not None:
        produced, source = style.weather, f"style {style.id}"
    else:
        assert model is not None, f"method {method} produces the weather of a model or a style"
        produced, source = model.weather, f"model {model.id}"
    if source and weather and weather != produced:
        raise HTTPException(
            422,
            f"{where}weather: {source} produces {produced!r}, not {weather!r}; leave weather out or set it "
            f"to {produced!r}",
        )
    assert produced is not None
    return Translation(
        method=method,
        weather=produced,
        model_id=model.id if model else None,
        style_id=style.id if style else None,
        params=parsed.model_dump(mode="json"),
        weights=current_versions(session, weights),
    )
