"""How many threads one worker process uses (`SIM2REAL_THREADS`), applied to every library that spawns
its own: torch, OpenCV and the OpenMP/BLAS pools. Several workers on one node then share its cores
instead of each assuming it owns all of them."""

from __future__ import annotations

import os
import sys

from services.common.core.settings import Settings

# Read by OpenMP, MKL, OpenBLAS, numexpr and OpenCV when they load.
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "OPENCV_FOR_THREADS_NUM",
)


def worker_threads(settings: Settings) -> int:
    """The cap when set, else the CPUs this process may run on."""
    if settings.threads is not None:
        return settings.threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def apply_thread_cap(settings: Settings) -> int | None:
    """Cap this process's thread pools at `SIM2REAL_THREADS` (no-op when unset); returns the cap.

    The environment reaches libraries loaded later; torch and cv2, when already loaded, are told directly.
    """
    cap = settings.threads
    if cap is None:
        return None
    for name in THREAD_ENV:
        os.environ[name] = str(cap)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(cap)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(cap)
    return cap
