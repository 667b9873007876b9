"""The evaluator image installs no torch, ultralytics or OpenCV: its job bodies and worker must not import them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ultralytics", "cv2")


def test_evaluator_jobs_import_no_torch_ultralytics_or_opencv(tmp_path: Path) -> None:
    jobs = sorted(p.stem for p in (ROOT / "services/evaluator/jobs").glob("*.py") if p.stem != "__init__")
    assert {"ingest_dataset", "evaluate", "experiment", "compare_evaluations"} <= set(jobs)
    code = (
        "import importlib, sys\n"
        "from services.common.core.settings import Settings\n"
        f"for name in {jobs!r}:\n"
        "    importlib.import_module(f'services.evaluator.jobs.{name}')\n"
        "from services.evaluator.worker import make_runtime\n"
        f"runtime = make_runtime(Settings(home={str(tmp_path)!r}))\n"
        f"assert set(runtime.handlers) == set({jobs!r}), runtime.handlers\n"
        "import services.evaluator.plot  # matplotlib, imported lazily by the jobs\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
