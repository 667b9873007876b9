"""A worker keeps freed frame-sized memory for the next image instead of faulting it back in (glibc)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Four frame-sized float planes alive at once, then freed, twenty times: what a translator does per image.
# glibc's defaults trim the freed heap top and fault it back in on the next frame.
SCRIPT = """
import resource, sys
import numpy as np
from services.common.core.memory import keep_freed_memory
from services.common.core.settings import Settings
print(keep_freed_memory(Settings(keep_freed_mb=int(sys.argv[1]))))
def frame():
    arrays = [np.ones((375, 1242, 3), np.float64) for _ in range(4)]
    return sum(float(a[0, 0, 0]) for a in arrays)
frame()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    frame()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def _faults_per_frame(keep_freed_mb: int) -> tuple[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(keep_freed_mb)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], float(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_frames_are_reused_not_faulted_back_in() -> None:
    took, kept = _faults_per_frame(512)
    assert took == "True"
    left, default = _faults_per_frame(0)
    assert left == "False"  # 0 leaves the allocator's defaults
    # 4 x 11 MB is 2,700 pages per frame: the defaults fault most of them back in, kept memory almost none.
    assert default > 1000, default
    assert kept < 50, kept
