"""Offline checks of docker-compose.yml: services, health, dependencies, GPUs, settings and secrets.

No Docker engine runs here, so the file is parsed and checked field by field; `docker compose config`
runs too where the client has the compose plugin.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common import contracts
from services.common.core.settings import env_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# One worker service per queue, named after it (translator.batch -> translator-batch), on its image.
QUEUES = {q.replace(".", "-"): (service, q) for service, qs in contracts.services().items() for q in qs}
WORKERS = tuple(QUEUES)
GPU_WORKERS = tuple(n for n, (service, _) in QUEUES.items() if service in ("translator", "detector"))
APP = ("api", *WORKERS)
BACKING = ("redis", "postgres", "minio")
SECRETS = ("SIM2REAL_API_KEY", "POSTGRES_PASSWORD", "SIM2REAL_STORE_ACCESS_KEY", "SIM2REAL_STORE_SECRET_KEY")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_expected_services(services: dict[str, Any]) -> None:
    assert set(services) == {*APP, *BACKING, "minio-init"}


def test_every_service_has_an_image_or_a_build_that_exists(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            context = ROOT / svc["build"]["context"]
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / svc["build"]["dockerfile"]).is_file(), f"{name}: Dockerfile missing"
            image = QUEUES[name][0] if name in QUEUES else name
            assert svc["build"]["dockerfile"] == f"services/{image}/Dockerfile"


def test_backing_services_have_healthchecks(services: dict[str, Any]) -> None:
    def test_of(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"])

    assert "redis-cli ping" in test_of("redis")
    assert "pg_isready" in test_of("postgres")
    assert "mc ready local" in test_of("minio")
    assert "http://127.0.0.1:8000/readyz" in test_of("api")


def test_redis_persists_its_queue(services: dict[str, Any], compose: dict[str, Any]) -> None:
    redis = services["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    data_dir = command[command.index("--dir") + 1]
    assert f"redis-data:{data_dir}" in redis["volumes"]
    for name, mount in (("postgres", "/var/lib/postgresql/data"), ("minio", "/data")):
        assert f"{name}-data:{mount}" in services[name]["volumes"]
    assert {"redis-data", "postgres-data", "minio-data"} <= set(compose["volumes"])


def test_minio_runs_the_server_and_init_creates_the_bucket(services: dict[str, Any]) -> None:
    assert services["minio"]["command"] == ["server", "/data", "--console-address", ":9001"]
    init = services["minio-init"]
    script = " ".join(init["command"])
    assert 'mc mb --ignore-existing "sim2real/$${BUCKET}"' in script
    assert "http://minio:9000" in script
    assert environment(init)["BUCKET"] == environment(services["api"])["SIM2REAL_STORE_BUCKET"]
    assert init["restart"] == "no"


def test_dependencies_wait_for_health(services: dict[str, Any]) -> None:
    for name in APP:
        deps = services[name]["depends_on"]
        for backing in BACKING:
            assert deps[backing]["condition"] == "service_healthy", f"{name} -> {backing}"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    # A service_healthy condition needs a healthcheck on the other end.
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"


def test_gpu_reservations(services: dict[str, Any]) -> None:
    for name in GPU_WORKERS:
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any(
            d["driver"] == "nvidia" and "gpu" in d["capabilities"] and (d.get("count") in (1, "all"))
            for d in devices
        ), name
    for name in ("api", "evaluator"):
        assert "deploy" not in services[name], f"{name} needs no GPU"


def test_env_names_are_settings(services: dict[str, Any]) -> None:
    known = env_names()
    for name, svc in services.items():
        used = {k for k in environment(svc) if k.startswith("SIM2REAL_")}
        assert used <= known, f"{name}: unknown settings {sorted(used - known)}"
    for name in APP:
        env = environment(services[name])
        for key in (
            "SIM2REAL_DATABASE_URL",
            "SIM2REAL_BROKER_URL",
            "SIM2REAL_STORE_ENDPOINT",
            "SIM2REAL_HOME",
        ):
            assert key in env, f"{name}: {key} missing"
        assert env["SIM2REAL_DATABASE_URL"].startswith("postgresql+psycopg://sim2real:")
        assert env["SIM2REAL_DATABASE_URL"].endswith("@postgres:5432/sim2real")
        assert env["SIM2REAL_BROKER_URL"] == "redis://redis:6379/0"
        assert env["SIM2REAL_STORE_ENDPOINT"] == "minio:9000"
        assert "SIM2REAL_BROKER_KEY_PREFIX" not in env, "KEDA/queue names assume no key prefix"


def test_api_key_and_secrets_are_required_not_written_down(services: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    assert environment(services["api"])["SIM2REAL_API_KEY"].startswith("${SIM2REAL_API_KEY:?")
    for secret in SECRETS:
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert all(u.startswith(":?") for u in uses), (
            f"{secret} must be required (${{{secret}:?...}}), never defaulted"
        )
    # Only the api needs the API key; workers get the store and database credentials.
    for name in WORKERS:
        assert "SIM2REAL_API_KEY" not in environment(services[name])


def test_worker_commands_name_their_queue_and_module(services: dict[str, Any]) -> None:
    for name, (service, queue) in QUEUES.items():
        cmd = services[name]["command"]
        assert cmd[:4] == ["celery", "-A", f"services.{service}.worker", "worker"]
        assert cmd[cmd.index("-Q") + 1] == queue  # each service consumes its own queue only
        assert cmd[cmd.index("-n") + 1] == f"{name}@%h"
        assert {"--pool=solo", "--concurrency=1", "--without-mingle", "--without-gossip"} <= set(cmd)
        assert (ROOT / "services" / service / "worker.py").is_file(), f"services/{service}/worker.py missing"
        assert services[name]["image"] == f"sim2real/{service}:0.1.0"


def minutes(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m|h)", duration)
    assert match, duration
    return int(match.group(1)) * {"s": 1 / 60, "m": 1, "h": 60}[match.group(2)]


def test_workers_get_time_to_checkpoint_and_shared_memory(services: dict[str, Any]) -> None:
    for name in GPU_WORKERS:
        assert minutes(services[name]["stop_grace_period"]) >= 5, name
        assert services[name]["shm_size"].endswith("gb")


def test_only_the_api_is_published_on_loopback(services: dict[str, Any]) -> None:
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
    assert services["api"]["command"][-2:] == ["--port", "8000"]
    for name, svc in services.items():
        if name != "api":
            assert "ports" not in svc, f"{name} must not be published"


def test_restart_policies(services: dict[str, Any]) -> None:
    for name in (*APP, *BACKING):
        assert services[name]["restart"] == "unless-stopped", name


def test_datasets_are_mounted_read_only(services: dict[str, Any]) -> None:
    for name in APP:
        env = environment(services[name])
        mounts = [v for v in services[name]["volumes"] if isinstance(v, dict) and v["target"] == "/data"]
        assert mounts and mounts[0]["read_only"] is True, name
        assert env["SIM2REAL_DATA_ROOTS"] == "/data"


def compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if not docker:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    return docker if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file() -> None:
    docker = compose_plugin()
    if docker is None:
        pytest.skip("docker compose plugin not installed here")
    env = {**os.environ, **{s: "test-value-0123456789" for s in SECRETS}}
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # Without the secrets compose must refuse, naming the missing one.
    bare = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=bare,
        timeout=60,
    )
    assert result.returncode != 0 and "set " in result.stderr
