"""Building and loading the translator's small C++ kernels (CycleGAN Winograd transforms, rain).

The sources are .cpp/.hpp files shipped as package data next to the module that loads them, read with
importlib.resources (so an installed wheel works like the checkout). Compiled once per source (headers
included), flags and CPU (they use -march=native) into a cache folder the service owns, then loaded with
ctypes. Without a compiler the callers fall back to their numpy/torch paths.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# Where `#include "name"` is looked for after the including file's own package (the builder's -I): the
# headers shared by several kernels (parallel.hpp).
INCLUDE_PACKAGES: tuple[str, ...] = ("services.translator",)
_QUOTED_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


class KernelBuildError(RuntimeError):
    """The C++ kernels could not be compiled or loaded (no g++ in the image, unwritable cache, …)."""


@dataclass(frozen=True)
class CppSource:
    """A C++ file shipped in a package. Its quoted includes are inlined by the builder rather than found
    with -I, so that the text compiled (and hashed for the cache) is the whole of what the kernel uses and
    no real folder is needed (a package may live in a zip)."""

    package: str
    name: str
    include: tuple[str, ...] = INCLUDE_PACKAGES

    @property
    def label(self) -> str:
        """Its path in the project, for compiler messages."""
        return f"{self.package.replace('.', '/')}/{self.name}"

    def read(self) -> str:
        try:
            return resources.files(self.package).joinpath(self.name).read_text(encoding="utf-8")
        except (OSError, ModuleNotFoundError) as e:
            raise KernelBuildError(f"kernel source {self.label} is not in the package: {e}") from e

    def text(self) -> str:
        """The source with each quoted include replaced by the header's text (once, like an include
        guard), #line directives keeping the compiler's file names and line numbers right."""
        parts: list[str] = []
        self._inline({}, parts)
        return "".join(parts)

    def files(self) -> list[CppSource]:
        """This file and every header it includes (directly or not), in inclusion order."""
        done: dict[CppSource, None] = {}
        self._inline(done, [])
        return list(done)

    def _inline(self, done: dict[CppSource, None], parts: list[str]) -> None:
        done[self] = None
        parts.append(f'#line 1 "{self.label}"\n')
        for number, line in enumerate(self.read().splitlines(keepends=True), start=1):
            match = _QUOTED_INCLUDE.match(line)
            if match is None:
                parts.append(line if line.endswith("\n") else line + "\n")
                continue
            header = self._find(match.group(1))
            if header not in done:
                header._inline(done, parts)
            parts.append(f'#line {number + 1} "{self.label}"\n')

    def _find(self, name: str) -> CppSource:
        """The header `name` in this file's package, else in the include packages (as g++ -I would)."""
        for package in (self.package, *self.include):
            try:
                if resources.files(package).joinpath(name).is_file():
                    return CppSource(package, name, self.include)
            except ModuleNotFoundError:
                continue
        raise KernelBuildError(f'{self.label}: "{name}" is neither beside it nor in {self.include}')


def kernel_threads(requested: int | None = None, limit: int = 2) -> int:
    """Threads one kernel call uses: `requested` when given, else `limit` within OMP_NUM_THREADS when it
    is set. The kernels obey the variable OpenMP code obeys, which a worker's SIM2REAL_THREADS sets
    (core/threads.py), so a worker capped at one thread runs them in its own thread."""
    if requested is not None:
        return max(1, requested)
    try:
        cap = int(os.environ.get("OMP_NUM_THREADS") or 0)
    except ValueError:
        cap = 0
    return max(1, min(limit, cap)) if cap > 0 else limit


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
    """Compiles the C++ text `source` (CppSource.text()) into `lib`."""
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


def cache_key(source: str, flags: Sequence[str], cpu: str) -> str:
    """Names a compiled library: a change to the source (headers inlined), the flags or the CPU is a new
    build, never a stale one."""
    return hashlib.sha256((source + " ".join(flags) + cpu).encode()).hexdigest()[:16]


def loadable(load: Callable[[], ctypes.CDLL]) -> bool:
    """Whether `load()` builds and loads its kernels here; callers cache the answer, so a missing
    compiler is looked for once and they fall back to their numpy/OpenCV paths."""
    try:
        load()
    except KernelBuildError:
        return False
    return True


def load_library(name: str, source: CppSource, flags: list[str], what: str) -> ctypes.CDLL:
    """The compiled library (built on first use, then reused from the cache)."""
    text = source.text()
    lib = cache_dir() / f"{name}_{cache_key(text, flags, cpu_key())}.so"
    if not lib.exists():
        build(lib, text, flags, what)
    try:
        return ctypes.CDLL(str(lib))
    except OSError as e:
        raise KernelBuildError(f"cannot load {lib}: {e}") from e
