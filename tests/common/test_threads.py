"""SIM2REAL_THREADS: one worker's thread budget, applied to its I/O pool, torch, OpenCV and OpenMP."""

from __future__ import annotations

import os

import pytest

from services.common.core.settings import Settings
from services.common.core.threads import THREAD_ENV, apply_thread_cap, worker_threads


def test_unset_means_every_cpu_this_process_may_use(monkeypatch) -> None:
    monkeypatch.delenv("SIM2REAL_THREADS", raising=False)
    settings = Settings()
    assert settings.threads is None
    assert worker_threads(settings) == len(os.sched_getaffinity(0))
    assert apply_thread_cap(settings) is None
    assert Settings(threads="").threads is None  # an empty variable is no cap


def test_the_cap_reaches_the_pool_torch_opencv_and_openmp(monkeypatch) -> None:
    import cv2
    import torch

    for name in THREAD_ENV:
        monkeypatch.setenv(name, os.environ.get(name, "4"))  # restored after the test
    before_torch, before_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    monkeypatch.setenv("SIM2REAL_THREADS", "1")
    settings = Settings()
    try:
        assert settings.threads == 1 and worker_threads(settings) == 1
        assert apply_thread_cap(settings) == 1
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
        assert all(os.environ[name] == "1" for name in THREAD_ENV)
    finally:
        torch.set_num_threads(before_torch)
        cv2.setNumThreads(before_cv2)


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_values_are_refused_at_startup(monkeypatch, value: str) -> None:
    monkeypatch.setenv("SIM2REAL_THREADS", value)
    with pytest.raises(ValueError, match="threads"):
        Settings()
