"""Pydantic field types shared by request models, payloads and method parameters."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

# Seeds feed numpy's and torch's generators, which take 0 .. 2^32 - 1.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Random seed, 0 to 2^32 - 1.")]


def no_nul(value: str) -> str:
    """Postgres text cannot hold a NUL character: a value with one would fail where it is stored."""
    if "\x00" in value:
        raise ValueError("contains a NUL character (\\u0000), which no field accepts; remove it")
    return value


# Free text a request stores (names, labels) outside a JSON body (JSON bodies are checked whole).
Text = Annotated[str, AfterValidator(no_nul)]


MAX_GPUS = 16  # GPUs one node can hold


def distinct_gpus(devices: list[int]) -> list[int]:
    if any(d < 0 for d in devices):
        raise ValueError(f"GPU indices are 0 or more, got {devices}")
    if len(set(devices)) != len(devices):
        raise ValueError(f"each GPU once, got {devices}")
    return devices


# GPU indices a job trains on (two or more: data parallel, one process per GPU); checked against the
# GPUs the worker has when the job starts.
GpuIndices = Annotated[list[int], Field(min_length=1, max_length=MAX_GPUS), AfterValidator(distinct_gpus)]
