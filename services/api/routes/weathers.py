"""What the running system can translate to, so a client can discover it instead of guessing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.deps import SessionDep, SettingsDep, StoreDep
from services.common import methods
from services.common.core.db.models import Style, TranslatorModel
from services.common.core.weights import missing_weights

router = APIRouter(prefix="/v1/weathers", tags=["weathers"])


def _depth_sources(session: Session, spec: methods.MethodSpec, default: str) -> dict[str, Any] | None:
    """Where a depth-using method may take distances from, each available or not (and why not), and the
    source a request that names none gets."""
    if not spec.depth_sources:
        return None
    sources = []
    for name, weights in spec.depth_sources.items():
        needs = missing_weights(session, weights)
        sources.append({"name": name, "available": needs is None, "needs": needs})
    return {
        "sources": sources,
        "default": f"'provided' when the image has a depth map, else '{default}' "
        "(SIM2REAL_DEFAULT_DEPTH_SOURCE)",
        "default_without_depth": default,
    }


def _row(
    spec: methods.MethodSpec,
    weather: str,
    needs: str | None,
    params: Any,
    depth: dict[str, Any] | None = None,
    **ids: str,
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
        "depth_sources": depth,
        # The parameter a robustness curve varies (POST /v1/robustness), when the weather has one.
        "intensity": spec.intensity.get(weather),
        "training_options_schema": spec.training_options.model_json_schema()
        if spec.training_options
        else None,
        "import_options_schema": spec.import_options.model_json_schema() if spec.import_options else None,
    }


@router.get("")
def list_weathers(session: SessionDep, store: StoreDep, settings: SettingsDep) -> list[dict[str, Any]]:
    """Every method × weather combination available now: one row per weather a method renders by itself,
    per trained model and per style; `available` is false (with `needs`) where operator weights are missing.
    `params_schema` is the JSON schema of the row's `params` (units, ranges, defaults). `depth_sources` (for
    methods that use depth) lists each `params.depth_source` with whether it is available now and, if not,
    what the operator must supply."""
    registry = methods.registry()
    default = settings.default_depth_source
    # A request naming no depth source needs the default source's weights too (SIM2REAL_DEFAULT_DEPTH_SOURCE).
    needs = {
        name: missing_weights(session, spec.weights + spec.depth_sources.get(default, ()))
        for name, spec in registry.items()
    }
    depth = {name: _depth_sources(session, spec, default) for name, spec in registry.items()}
    out: list[dict[str, Any]] = []
    for spec in registry.values():
        for weather, model in spec.weather_params.items():
            out.append(_row(spec, weather, needs[spec.name], model, depth[spec.name]))
    for m in session.scalars(select(TranslatorModel).order_by(TranslatorModel.created_at)):
        spec = registry.get(m.method)
        if spec is None:  # a model of a method this deployment no longer registers
            continue
        out.append(
            _row(spec, m.weather, needs[m.method], spec.params, depth[m.method], model_id=m.id, name=m.name)
        )
    # Styles serve every method that needs a style and no model.
    style_methods = [s for s in registry.values() if s.style == "required" and s.model == "no"]
    for st in session.scalars(select(Style).order_by(Style.created_at)):
        for spec in style_methods:
            out.append(
                _row(
                    spec,
                    st.weather,
                    needs[spec.name],
                    spec.params,
                    depth[spec.name],
                    style_id=st.id,
                    name=st.name,
                )
            )
    return out
