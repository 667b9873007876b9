"""Small fused C++ kernels for the fast CPU generator forward (fast.py), built with g++ at first use.

Why C++: the Winograd transforms, reflection padding, instance-norm statistics and normalisation are
memory-bound passes; as separate torch ops each one re-reads and re-writes the 30 MB activation, which
cost as much as the arithmetic Winograd saves. Here each step is one pass with the channel loop innermost
(channels-last data, so it vectorises). The C++ is cpu_kernels.cpp beside this module. No torch headers
are needed, so the build takes ~1–3 s; the library is loaded with ctypes and cached (see :func:`cache_dir`),
keyed by source, flags and the CPU's instruction sets. The worker image needs ``g++``; without it
:func:`load` raises :class:`KernelBuildError` and callers fall back to eager.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path

from services.translator.native import (  # noqa: F401 (re-exported)
    CppSource,
    KernelBuildError,
    build,
    cache_dir,
    load_library,
)

# The C++ (cpu_kernels.cpp beside this module, with the shared parallel.hpp).
_SOURCE = CppSource(__package__, "cpu_kernels.cpp")

_FLAGS = ["-O3", "-march=native", "-shared", "-fPIC", "-std=c++17", "-pthread"]


def _build(lib: Path) -> None:
    build(lib, _SOURCE.text(), _FLAGS, "CPU kernels")


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The compiled kernels (built on first call, then reused from the cache)."""
    dll = load_library("cyclegan", _SOURCE, _FLAGS, "CPU kernels")
    p, i = ctypes.c_void_p, ctypes.c_int
    dll.wino_input.argtypes = [p, p, p, i, i, i, i, i, i, i, i, p, i]
    dll.wino_input.restype = None
    dll.wino_output.argtypes = [p, i, i, i, i, i, i, i, p, p, p, i]
    dll.wino_output.restype = None
    dll.residual_add.argtypes = [p, p, p, p, i, i, i, i]
    dll.residual_add.restype = None
    return dll
