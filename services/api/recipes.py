"""Turning a translation request into a validated recipe: method, weather, model or style, params."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy.orm import Session

from services.common.db.models import Style, TranslatorModel
from services.common.settings import Settings
from services.common.translation_params import METHODS, parse_method_params
from services.common.weather_params import PHYSICS_WEATHERS, parse_physics_params
from services.common.weights import VGG_MISSING


def _model(session: Session, model_id: str | None, method: str) -> TranslatorModel:
    if not model_id:
        raise HTTPException(422, f"method {method!r} needs model_id (see GET /v1/translator-models)")
    model = session.get(TranslatorModel, model_id)
    if model is None:
        raise HTTPException(404, f"no translator model with id {model_id!r}")
    if model.method != method:
        raise HTTPException(422, f"model {model_id} is a {model.method} model; use method={model.method}")
    return model


def _style(session: Session, style_id: str | None, method: str, required: bool) -> Style | None:
    if not style_id:
        if required:
            raise HTTPException(422, f"method {method!r} needs style_id (see GET /v1/styles)")
        return None
    style = session.get(Style, style_id)
    if style is None:
        raise HTTPException(404, f"no style with id {style_id!r}")
    return style


def _same_weather(requested: str | None, produced: str, what: str) -> str:
    if requested and requested != produced:
        raise HTTPException(
            422,
            f"{what} produces {produced!r}, not {requested!r}; leave weather out or set it to {produced!r}",
        )
    return produced


def resolve_translation(
    session: Session,
    settings: Settings,
    method: str,
    weather: str | None,
    model_id: str | None,
    style_id: str | None,
    params: dict[str, Any],
    vgg_available: bool | None = None,
) -> dict[str, Any]:
    if method not in METHODS:
        raise HTTPException(422, f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    recipe: dict[str, Any] = {"method": method, "model_id": None, "style_id": None}
    try:
        if method == "physics":
            if not weather:
                raise HTTPException(
                    422, f"weather is required for physics; one of {', '.join(PHYSICS_WEATHERS)}"
                )
            recipe["params"] = parse_physics_params(weather, params).model_dump()
            recipe["weather"] = weather
            return recipe
        recipe["params"] = parse_method_params(method, params)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if method == "cyclegan":
        model = _model(session, model_id, method)
        recipe.update(model_id=model.id, weather=_same_weather(weather, model.weather, f"model {model.id}"))
        return recipe
    if vgg_available is False:
        raise HTTPException(409, VGG_MISSING)
    if method == "nst":
        style = _style(session, style_id, method, required=True)
        assert style is not None
        recipe.update(style_id=style.id, weather=_same_weather(weather, style.weather, f"style {style.id}"))
        return recipe
    if method == "adain":
        model = _model(session, model_id, method)
        style = _style(session, style_id, method, required=False)
        recipe.update(
            model_id=model.id,
            style_id=style.id if style else None,
            weather=_same_weather(
                weather,
                style.weather if style else model.weather,
                f"style {style.id}" if style else f"model {model.id}",
            ),
        )
        return recipe
    raise HTTPException(422, f"method {method!r} is not available")
