"""Building and loading the translator's small C++ kernels (CycleGAN Winograd transforms, rain).

Compiled once per source, flags and CPU (they use -march=native) into a cache folder the service owns,
then loaded with ctypes. Without a compiler the callers fall back to their numpy/torch paths.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

# Shared by the kernel sources: runs f(thread_index, begin, end) over [0, n) split into nthreads contiguous
# ranges, the calling thread taking the first.
CPP_PARALLEL = r"""
template <class F> static void parallel(int64_t n, int nthreads, F f) {
    int nt = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, n));
    int64_t step = (n + nt - 1) / nt;
    std::vector<std::thread> pool;
    for (int t = 1; t < nt; ++t) {
        int64_t b = t * step, e = std::min(n, b + step);
        if (b < e) pool.emplace_back(f, t, b, e);
    }
    f(0, 0, std::min(n, step));
    for (auto& th : pool) th.join();
}
"""


class KernelBuildError(RuntimeError):
    """The C++ kernels could not be compiled or loaded (no g++ in the image, unwritable cache, …)."""


def cache_dir() -> Path:
    """$SIM2REAL_KERNEL_CACHE, else $SIM2REAL_HOME/cache/kernels (the service's own folder), else
    ~/.cache/sim2real/kernels."""
    if os.environ.get("SIM2REAL_KERNEL_CACHE"):
        return Path(os.environ["SIM2REAL_KERNEL_CACHE"])
    if os.environ.get("SIM2REAL_HOME"):
        return Path(os.environ["SIM2REAL_HOME"]) / "cache" / "kernels"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "sim2real" / "kernels"


def cpu_key() -> str:
    # -march=native code must never be reused on a CPU with other instruction sets.
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((line for line in text.splitlines() if line.startswith("flags")), text[:2000])
    except OSError:
        flags = platform.processor() + platform.machine()
    return hashlib.sha256(flags.encode()).hexdigest()[:12]


def build(lib: Path, source: str, flags: list[str], what: str) -> None:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise KernelBuildError("no C++ compiler found (install g++ in the worker image, or set CXX)")
    try:
        lib.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
            src, out = Path(tmp) / "kernels.cpp", Path(tmp) / "kernels.so"
            src.write_text(source)
            proc = subprocess.run(
                [cxx, *flags, str(src), "-o", str(out)], capture_output=True, text=True, timeout=300
            )
            if proc.returncode != 0:
                raise KernelBuildError(f"compiling the {what} failed:\n{proc.stderr[-2000:]}")
            os.replace(out, lib)  # atomic: a concurrent worker never loads a half-written file
    except (OSError, subprocess.SubprocessError) as e:
        raise KernelBuildError(f"cannot build the {what} in {lib.parent}: {e}") from e


def load_library(name: str, source: str, flags: list[str], what: str) -> ctypes.CDLL:
    """The compiled library (built on first use, then reused from the cache)."""
    key = hashlib.sha256((source + " ".join(flags) + cpu_key()).encode()).hexdigest()[:16]
    lib = cache_dir() / f"{name}_{key}.so"
    if not lib.exists():
        build(lib, source, flags, what)
    try:
        return ctypes.CDLL(str(lib))
    except OSError as e:
        raise KernelBuildError(f"cannot load {lib}: {e}") from e
