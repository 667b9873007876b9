"""Offline checks of the service Dockerfiles: what each image installs, runs and runs as."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from services.common import contracts
from services.common.core.settings import env_names

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("api", "translator", "detector", "evaluator")
WORKERS = ("translator", "detector", "evaluator")


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "services" / name / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, f"{name}: Dockerfile ends inside a continuation line"
    result = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(name: str) -> list[tuple[str, str]]:
    steps = instructions(name)
    starts = [i for i, (kw, _) in enumerate(steps) if kw == "FROM"]
    return steps[starts[-1] :]


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def env_keys(steps: list[tuple[str, str]]) -> set[str]:
    keys: set[str] = set()
    for kw, args in steps:
        if kw == "ENV":
            keys.update(re.findall(r"([A-Z_][A-Z0-9_]*)=", args))
    return keys


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_exists_and_parses(name: str) -> None:
    steps = instructions(name)
    kinds = [kw for kw, _ in steps]
    assert kinds.count("FROM") >= 1 and "CMD" in kinds
    assert {kw for kw in kinds} <= {
        "FROM",
        "ARG",
        "ENV",
        "RUN",
        "COPY",
        "WORKDIR",
        "USER",
        "EXPOSE",
        "HEALTHCHECK",
        "CMD",
    }, f"{name}: unexpected instruction"


def test_api_image_installs_no_torch() -> None:
    runs = " ".join(args for kw, args in instructions("api") if kw == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs), "the api image installs the base dependencies"
    assert "torch" not in runs.lower() and "[worker]" not in runs
    # The base dependency list itself must not pull torch in.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if re.match(r"(torch|torchvision|ultralytics)\b", d)]
    assert any(d.startswith("torch==") for d in project["optional-dependencies"]["worker"])


@pytest.mark.parametrize("name", ("translator", "detector"))
def test_worker_images_install_worker_extra(name: str) -> None:
    runs = " ".join(args for kw, args in instructions(name) if kw == "RUN")
    assert 'pip install ".[worker]"' in runs
    # Headless OpenCV only: the slim base has no libGL for opencv-python's cv2.
    assert "pip uninstall -y opencv-python opencv-python-headless" in runs
    assert 'pip install --no-deps "opencv-python-headless==' in runs


def test_evaluator_image_installs_only_the_evaluator_extra() -> None:
    runs = " ".join(args for kw, args in instructions("evaluator") if kw == "RUN")
    assert 'pip install ".[evaluator]"' in runs
    assert "[worker]" not in runs and "torch" not in runs.lower() and "opencv" not in runs.lower()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not [d for d in extras["evaluator"] if re.match(r"(torch|torchvision|ultralytics|opencv)", d)]
    # The full worker set includes the evaluator's, so `make test` (.[worker,dev]) has everything.
    assert "sim2real[evaluator]" in extras["worker"]


@pytest.mark.parametrize("name", SERVICES)
def test_images_run_as_non_root(name: str) -> None:
    stage = final_stage(name)
    users = [args for kw, args in stage if kw == "USER"]
    assert users, f"{name}: the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"0", "root"}
    last_user = max(i for i, (kw, _) in enumerate(stage) if kw == "USER")
    cmd = max(i for i, (kw, _) in enumerate(stage) if kw == "CMD")
    assert last_user < cmd
    runs = " ".join(args for kw, args in stage if kw == "RUN")
    assert f"--uid {user}" in runs, f"{name}: USER {user} is not created in the image"


def test_api_healthcheck_and_command() -> None:
    stage = dict(final_stage("api"))
    health = stage["HEALTHCHECK"]
    assert "CMD" in health and "http://127.0.0.1:8000/healthz" in health
    assert exec_form(stage["CMD"]) == [
        "uvicorn",
        "services.api.main:app",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    assert stage["EXPOSE"] == "8000"
    assert (ROOT / "services/api/main.py").exists()


def _by_class(queue: str) -> int:
    return ("interactive", "batch", "training", queue).index(contracts.latency_class(queue))


@pytest.mark.parametrize("name", WORKERS)
def test_worker_command_names_its_queue_and_module(name: str) -> None:
    cmd = exec_form(dict(final_stage(name))["CMD"])
    assert cmd[:4] == ["celery", "-A", f"services.{name}.worker", "worker"]
    # A container started without a command consumes every queue of its service.
    assert cmd[cmd.index("-Q") + 1].split(",") == sorted(contracts.services()[name], key=_by_class)
    assert cmd[cmd.index("-n") + 1] == f"{name}@%h"
    assert "--pool=solo" in cmd and "--concurrency=1" in cmd
    assert (ROOT / "services" / name / "worker.py").exists()


@pytest.mark.parametrize("name", ("translator", "detector"))
def test_worker_images_set_up_ultralytics_offline(name: str) -> None:
    env = " ".join(args for kw, args in final_stage(name) if kw == "ENV")
    assert "YOLO_OFFLINE=1" in env
    assert "YOLO_CONFIG_DIR=/var/lib/sim2real/ultralytics" in env
    assert "MPLCONFIGDIR=/var/lib/sim2real/" in env


def test_evaluator_image_gives_matplotlib_a_writable_config_folder() -> None:
    stage = final_stage("evaluator")
    env = " ".join(args for kw, args in stage if kw == "ENV")
    assert "MPLCONFIGDIR=/var/lib/sim2real/matplotlib" in env and "YOLO_" not in env
    runs = " ".join(args for kw, args in stage if kw == "RUN")
    assert "/var/lib/sim2real/matplotlib" in runs


@pytest.mark.parametrize("name", ("detector",))
def test_ultralytics_fonts_are_baked_in(name: str) -> None:
    runs = " ".join(args for kw, args in final_stage(name) if kw == "RUN")
    assert "DejaVuSans.ttf" in runs
    assert '"$YOLO_CONFIG_DIR/Arial.ttf"' in runs and '"$YOLO_CONFIG_DIR/Arial.Unicode.ttf"' in runs


def test_translator_can_bake_vgg19_weights() -> None:
    stage = final_stage("translator")
    assert ("ARG", 'VGG19_WEIGHTS=""') in stage
    env = " ".join(args for kw, args in stage if kw == "ENV")
    target = re.search(r"SIM2REAL_VGG19_WEIGHTS=(\S+)", env)
    assert target, "the translator image points SIM2REAL_VGG19_WEIGHTS at the baked file"
    runs = " ".join(args for kw, args in stage if kw == "RUN")
    assert f'"/ctx/$VGG19_WEIGHTS" {target.group(1)}' in runs


@pytest.mark.parametrize("name", SERVICES)
def test_sim2real_env_names_are_settings(name: str) -> None:
    names = {k for k in env_keys(instructions(name)) if k.startswith("SIM2REAL_")}
    assert names, f"{name}: expected at least SIM2REAL_HOME"
    assert names <= env_names(), f"{name}: unknown settings {sorted(names - env_names())}"


def test_dockerignore_keeps_data_and_secrets_out() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for pattern in (".git", ".venv", "var", "data", ".env", "**/*.pt", "**/*.pth", "k8s/secrets.env"):
        assert pattern in patterns, f".dockerignore should exclude {pattern}"
    # What the images COPY must stay in the context.
    for needed in ("services", "pyproject.toml"):
        assert needed not in patterns


def test_translator_image_carries_the_kernel_sources() -> None:
    # The worker compiles services/**/*.cpp (and their headers) at first use: the image copies services/
    # and the build context must not filter them out.
    sources = sorted(
        p.relative_to(ROOT).as_posix()
        for ext in ("cpp", "hpp")
        for p in (ROOT / "services").rglob(f"*.{ext}")
    )
    assert sources
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    for path in sources:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        assert not [p for p in patterns if any(fnmatch.fnmatch(x, p) for x in prefixes)], f"{path} is ignored"
    assert ("COPY", "services ./services") in final_stage("translator")
