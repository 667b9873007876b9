"""What the running system can translate to, so a client can discover it instead of guessing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.common import methods
from services.common.core.db.models import Style, TranslatorModel
from services.common.core.weights import missing_weights

router = APIRouter(prefix="/v1/weathers", tags=["weathers"])


def _method_info(spec: methods.MethodSpec) -> dict[str, Any]:
    return {
        "description": spec.description,
        "trainable": spec.trainable,
        "uses_depth": spec.uses_depth,
        "training_options_schema": spec.training_options.model_json_schema()
        if spec.training_options
        else None,
        "import_options_schema": spec.import_options.model_json_schema() if spec.import_options else None,
    }


@router.get("")
def list_weathers(session: SessionDep, store: StoreDep, settings: SettingsDep) -> list[dict[str, Any]]:
    """Every method × weather combination available now: one row per weather a method renders by itself,
    per trained model and per style; `available` is false (with `needs`) where operator weights are missing.
    `params_schema` is the JSON schema of the row's `params` (units, ranges, defaults)."""
    registry = methods.registry()
    needs = {name: missing_weights(session, spec.weights) for name, spec in registry.items()}
    out: list[dict[str, Any]] = []
    for spec in registry.values():
        for weather, model in spec.weather_params.items():
            out.append(
                {
                    "method": spec.name,
                    "weather": weather,
                    "available": needs[spec.name] is None,
                    "needs": needs[spec.name],
                    "params_schema": model.model_json_schema(),
                    **_method_info(spec),
                }
            )
    for m in session.scalars(select(TranslatorModel).order_by(TranslatorModel.created_at)):
        spec = registry.get(m.method)
        if spec is None:  # a model of a method this deployment no longer registers
            continue
        out.append(
            {
                "method": m.method,
                "weather": m.weather,
                "model_id": m.id,
                "name": m.name,
                "available": needs[m.method] is None,
                "needs": needs[m.method],
                "params_schema": spec.params.model_json_schema() if spec.params else None,
                **_method_info(spec),
            }
        )
    # Styles serve every method that needs a style and no model.
    style_methods = [s for s in registry.values() if s.style == "required" and s.model == "no"]
    for st in session.scalars(select(Style).order_by(Style.created_at)):
        for spec in style_methods:
            out.append(
                {
                    "method": spec.name,
                    "weather": st.weather,
                    "style_id": st.id,
                    "name": st.name,
                    "available": needs[spec.name] is None,
                    "needs": needs[spec.name],
                    "params_schema": spec.params.model_json_schema() if spec.params else None,
                    **_method_info(spec),
                }
            )
    return out
