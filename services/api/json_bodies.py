"""JSON from clients, parsed strictly: what Postgres and our responses can hold, nothing that poisons later
reads. No NaN or Infinity (Postgres rejects them, and a response holding one cannot be serialised), no
number that overflows to infinity, and no nesting deeper than any request needs."""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32


NUL_MESSAGE = (
    "contains a NUL character (\\u0000) or a lone UTF-16 surrogate (\\ud800-\\udfff), which no field "
    "accepts; send plain text"
)
# Python refuses to parse integers longer than this (sys.int_info.default_max_str_digits); the fields' own
# bounds answer for shorter ones, naming the field.
MAX_INT_DIGITS = 4300


class JSONRejected(ValueError):
    """The text is not JSON we accept; the message says why and what to send instead. `path` is where in
    the document (e.g. "options.reader.split"), when the problem is one value."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    def located(self, root: str) -> str:
        """The message prefixed with the full path from `root` (e.g. "body.options.reader.split: ...")."""
        return f"{root}.{self.path}: {self}" if self.path else f"{root}: {self}"


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


def _unstorable(text: str) -> bool:
    """NUL (Postgres text cannot hold it) or a lone surrogate (no UTF-8 encoding: every response echoing
    it would fail)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONRejected(f"{text[:20]}… has {len(text)} digits; no field takes an integer that long")
    return int(text)


def nul_path(value: Any) -> str | None:
    """The path ("a.b[2]") of the first string or key inside `value` that no field can store (a NUL
    character, a lone surrogate), else None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _unstorable(item):
                return path
        elif isinstance(item, dict):
            for k, v in item.items():
                bad = _unstorable(k)
                name = k.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000") if bad else k
                where = f"{path}.{name}" if path else name
                if bad:
                    return where
                stack.append((v, where))
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return None


def loads_strict(raw: str | bytes) -> Any:
    """Parse JSON, refusing non-finite numbers, nesting deeper than MAX_DEPTH and NUL characters in
    strings (JSONRejected)."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_finite, parse_int=_integer)
    except RecursionError:
        raise JSONRejected(f"nested deeper than {MAX_DEPTH} levels; flatten it") from None
    except json.JSONDecodeError as exc:
        raise JSONRejected(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except UnicodeDecodeError:
        raise JSONRejected("not UTF-8 text") from None
    if depth(value) > MAX_DEPTH:
        raise JSONRejected(f"nested deeper than {MAX_DEPTH} levels; flatten it")
    where = nul_path(value)
    if where is not None:
        raise JSONRejected(NUL_MESSAGE, where)
    return value
