"""Keep freed memory in a worker process instead of handing it back to the kernel after every image.

Why: glibc returns large freed blocks to the kernel (munmap, heap trimming), and the next image's arrays
fault the same pages back in, zeroed by the kernel. A translator worker allocates and frees tens of MB of
frame-sized arrays per image. Measured on a 1242x375 fog translation through one worker, 360 images: about
4,000 page faults per image, and system time 4.9 s of the worker's 14.6 s; with a fixed mmap threshold of
32 MB (glibc's largest) and a trim threshold of `SIM2REAL_KEEP_FREED_MB`, 650 faults for the whole run and
a third less wall time. Faulting also contends between workers sharing a node.

glibc only (mallopt); elsewhere (musl, macOS) nothing changes and `keep_freed_memory` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from services.common.core.settings import Settings

# mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc refuses a larger mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit): blocks above it are always mapped.
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024


def keep_freed_memory(settings: Settings) -> bool:
    """Set this process's allocator to keep up to `settings.keep_freed_mb` of freed memory (0: leave glibc's
    defaults). Returns whether the allocator took the settings."""
    if settings.keep_freed_mb == 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim = settings.keep_freed_mb * 1024 * 1024
    return mallopt(M_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, trim) == 1
