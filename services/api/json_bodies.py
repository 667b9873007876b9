"""JSON from clients, parsed strictly: what Postgres and our responses can hold, nothing that poisons later
reads. No NaN or Infinity (Postgres rejects them, and a response holding one cannot be serialised), no
number that overflows to infinity, and no nesting deeper than any request needs."""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32


class JSONRejected(ValueError):
    """The text is not JSON we accept; the message says why and what to send instead."""


def _constant(name: str) -> Any:
    raise JSONRejected(f"{name} is not a JSON number; send a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRejected(f"{text[:40]} overflows a 64-bit float; send a finite number")
    return value


def depth(value: Any) -> int:
    """How deeply `value` nests objects and arrays (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
    return deepest


def loads_strict(raw: str | bytes) -> Any:
    """Parse JSON, refusing non-finite numbers and nesting deeper than MAX_DEPTH (JSONRejected)."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_finite)
    except RecursionError:
        raise JSONRejected(f"nested deeper than {MAX_DEPTH} levels; flatten it") from None
    except json.JSONDecodeError as exc:
        raise JSONRejected(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except UnicodeDecodeError:
        raise JSONRejected("not UTF-8 text") from None
    if depth(value) > MAX_DEPTH:
        raise JSONRejected(f"nested deeper than {MAX_DEPTH} levels; flatten it")
    return value
