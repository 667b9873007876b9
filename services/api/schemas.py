"""Response models: defined once in `sim2real.models` (pydantic only), which the Python client shares, and
re-exported here for the routes; plus the API-only query types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from sim2real.models import (
    ComparisonOut,
    DatasetOut,
    DetectorModelOut,
    EvaluationOut,
    EvaluationPage,
    ExperimentOut,
    ExperimentPage,
    ExperimentPlan,
    ImageOut,
    ImagePage,
    ImageSetOut,
    JobOut,
    JobPage,
    RobustnessOut,
    RobustnessPage,
    StyleOut,
    TranslatorModelOut,
    WeatherRow,
    WeightsList,
    WeightsStatus,
    WeightsUploaded,
    WeightsVersionOut,
)

__all__ = [
    "ComparisonOut",
    "DatasetOut",
    "DetectorModelOut",
    "EvaluationOut",
    "EvaluationPage",
    "ExperimentOut",
    "ExperimentPage",
    "ExperimentPlan",
    "ImageOut",
    "ImagePage",
    "ImageSetOut",
    "JobOut",
    "JobPage",
    "MAX_OFFSET",
    "Offset",
    "RobustnessOut",
    "RobustnessPage",
    "StyleOut",
    "TranslatorModelOut",
    "WeatherRow",
    "WeightsList",
    "WeightsStatus",
    "WeightsUploaded",
    "WeightsVersionOut",
]

# Past this an offset only ever returns an empty page (and past 2^63 Postgres cannot take it at all).
MAX_OFFSET = 2**31 - 1
# How many rows a list skips: bounded, so the database's integer types hold it.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip (0 to 2^31 - 1)")]
