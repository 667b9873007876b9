"""Query filters over image metadata (``weather=foggy,rainy``, ``occluded_vehicles<=5`` …).

A ``Filter`` is a conjunction of parsed ``Term``s. It applies to records in Python, and its terms
(field, op, value) are exposed so the database layer can build the same conditions in SQL.

Semantics (the SQL side must match): ``=`` with a comma list means "any of" (SQL ``IN``), ``!=``
with a list means "none of" (``NOT IN``); ordering operators need a numeric field. A record whose
field is None (e.g. KITTI has no weather) never matches ``=`` or an ordering operator and always
matches ``!=`` (in SQL: ``col IS NULL OR col NOT IN (…)``).

``min_box_fidelity`` (a number from 0 to 1) is the label-safety audit's lowest box fidelity of an image
(1.0 for an image without boxes): ``min_box_fidelity>=0.5`` keeps the images whose every object survived
translation. It lives only in the index (an image never audited has none, so it never matches ``>=``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from services.common.datasets.canonical import ImageRecord

STRING_FIELDS = ("source", "scene", "variation", "camera", "weather", "timeofday", "image_id")
INTEGER_FIELDS = ("frame", "width", "height", "occluded_vehicles", "num_boxes")
FRACTION_FIELDS = ("min_box_fidelity",)  # numbers from 0 to 1
NUMERIC_FIELDS = INTEGER_FIELDS + FRACTION_FIELDS
KNOWN_FIELDS = STRING_FIELDS + NUMERIC_FIELDS
# Names an earlier version accepted or showed, with the one to use now.
RENAMED = {"boxes": "num_boxes"}
OPERATORS = ("<=", ">=", "!=", "=", "<", ">")

_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Term:
    """``field op value``; ``value`` is a tuple for ``=``/``!=`` (any of / none of), else one number."""

    field: str
    op: str
    value: Any

    def matches(self, record: ImageRecord) -> bool:
        v = field_value(record, self.field)
        if self.op == "=":
            return v is not None and v in self.value
        if self.op == "!=":
            return v is None or v not in self.value
        return v is not None and _CMP[self.op](v, self.value)

    def __str__(self) -> str:
        value = ",".join(str(v) for v in self.value) if isinstance(self.value, tuple) else str(self.value)
        return f"{self.field}{self.op}{value}"


def field_value(record: ImageRecord, field: str) -> Any:
    """A record's value of `field`; None for index-only fields (the audit's), which records do not carry."""
    return len(record.boxes) if field == "num_boxes" else getattr(record, field, None)


# The index stores numeric fields as 32-bit integers; a bound past them cannot be compared in SQL.
INT_RANGE = (-(2**31), 2**31 - 1)


def _parse_number(field: str, text: str) -> int | float:
    if field in FRACTION_FIELDS:
        try:
            fraction = float(text)
        except ValueError as e:
            raise ValueError(f"filter {field}: {text[:40]!r} is not a number; use one from 0 to 1") from e
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"filter {field}: {text[:40]} is outside 0 to 1; use a number from 0 to 1")
        return fraction
    try:
        value = int(text)
    except ValueError as e:
        raise ValueError(f"filter {field}: {text!r} is not an integer") from e
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ValueError(
            f"filter {field}: {text[:40]} is out of range; use an integer from {INT_RANGE[0]} to {INT_RANGE[1]}"
        )
    return value


def parse_term(text: str) -> Term:
    m = _TERM.match(text)
    if m is None:
        raise ValueError(
            f"cannot parse filter {text!r}; write FIELD OP VALUE with OP one of {list(OPERATORS)}"
        )
    field, op, raw = m.groups()
    if field in RENAMED:
        raise ValueError(f"filter field {field!r} is now {RENAMED[field]!r} (as image listings show it)")
    if field not in KNOWN_FIELDS:
        raise ValueError(f"unknown filter field {field!r}; known fields: {', '.join(KNOWN_FIELDS)}")
    if raw == "":
        raise ValueError(f"filter {text!r} has no value")
    numeric = field in NUMERIC_FIELDS
    if op in ("=", "!="):
        items = [v.strip() for v in raw.split(",")]
        if any(v == "" for v in items):
            raise ValueError(f"filter {text!r} has an empty item in its comma list")
        values = tuple(_parse_number(field, v) for v in items) if numeric else tuple(items)
        return Term(field, op, values)
    if not numeric:
        raise ValueError(
            f"operator {op!r} needs a numeric field ({', '.join(NUMERIC_FIELDS)}), not {field!r}"
        )
    if "," in raw:
        raise ValueError(f"filter {text!r}: comma lists only work with '=' and '!='")
    return Term(field, op, _parse_number(field, raw))


@dataclass(frozen=True)
class Filter:
    """All terms must hold (AND). An empty filter keeps everything."""

    terms: tuple[Term, ...] = ()

    def matches(self, record: ImageRecord) -> bool:
        return all(t.matches(record) for t in self.terms)

    def apply(self, records: Iterable[ImageRecord]) -> Iterator[ImageRecord]:
        return (r for r in records if self.matches(r))

    def __str__(self) -> str:
        return ";".join(str(t) for t in self.terms)


def parse_filter(spec: str | Iterable[str] | None) -> Filter:
    """Terms from a string (separated by ``;`` or ``&``) or from a list of term strings."""
    if spec is None:
        return Filter()
    if isinstance(spec, str):
        parts = re.split(r"[;&]", spec)
    else:
        parts = [p for s in spec for p in re.split(r"[;&]", s)]
    return Filter(tuple(parse_term(p) for p in parts if p.strip()))
