"""What the running system can translate to, so a client can discover it instead of guessing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.api.schemas import WeatherRow
from services.common import methods
from services.common.core.db.models import Style, TranslatorModel
from services.common.core.weights import missing_weights

router = APIRouter(prefix="/v1/weathers", tags=["weathers"])


def _row(
    spec: methods.MethodSpec, weather: str, needs: str | None, params: Any, **ids: str
) -> dict[str, Any]:
    """One method × weather row; `ids` name the model or style it uses."""
    return {
        "method": spec.name,
        "weather": weather,
        **ids,
        "available": needs is None,
        "needs": needs,
        "params_schema": params.model_json_schema() if params is not None else None,
        "description": spec.description,
        "trainable": spec.trainable,
        "uses_depth": spec.uses_depth,
        # The parameter a robustness curve varies (POST /v1/robustness), when the weather has one.
        "intensity": spec.intensity.get(weather),
        "training_options_schema": spec.training_options.model_json_schema()
        if spec.training_options
        else None,
        "import_options_schema": spec.import_options.model_json_schema() if spec.import_options else None,
    }


@router.get("", response_model=list[WeatherRow], response_model_exclude_unset=True)
def list_weathers(session: SessionDep, store: StoreDep, settings: SettingsDep) -> list[dict[str, Any]]:
    """Every method × weather combination available now: one row per weather a method renders by itself,
    per trained model and per style; `available` is false (with `needs`) where operator weights are missing.
    `params_schema` is the JSON schema of the row's `params` (units, ranges, defaults)."""
    registry = methods.registry()
    needs = {name: missing_weights(session, spec.weights) for name, spec in registry.items()}
    out: list[dict[str, Any]] = []
    for spec in registry.values():
        for weather, model in spec.weather_params.items():
            out.append(_row(spec, weather, needs[spec.name], model))
    for m in session.scalars(select(TranslatorModel).order_by(TranslatorModel.created_at)):
        spec = registry.get(m.method)
        if spec is None:  # a model of a method this deployment no longer registers
            continue
        out.append(_row(spec, m.weather, needs[m.method], spec.params, model_id=m.id, name=m.name))
    # Styles serve every method that needs a style and no model.
    style_methods = [s for s in registry.values() if s.style == "required" and s.model == "no"]
    for st in session.scalars(select(Style).order_by(Style.created_at)):
        for spec in style_methods:
            out.append(_row(spec, st.weather, needs[spec.name], spec.params, style_id=st.id, name=st.name))
    return out
