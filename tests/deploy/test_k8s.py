"""Offline checks of k8s/: schema validation, wiring between objects, probes, GPUs and autoscaling.

Built-in kinds are validated against the Kubernetes OpenAPI schemas that kubernetes-validate ships;
KEDA objects (CRDs) are checked field by field. Port numbers are checked across compose, the api
Dockerfile and the manifests so that one change cannot leave the others behind.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.common import contracts
from services.common.core.settings import env_names

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
NAMESPACE = "sim2real"
# One worker Deployment per queue, named after it (translator.batch -> translator-batch), on its image.
QUEUES = {q.replace(".", "-"): (service, q) for service, qs in contracts.services().items() for q in qs}
WORKERS = tuple(QUEUES)
GPU_WORKERS = tuple(n for n, (service, _) in QUEUES.items() if service in ("translator", "detector"))
IMAGES = tuple(contracts.services())
CLUSTER_SCOPED = {"Namespace"}


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def load_all() -> list[dict[str, Any]]:
    docs = []
    for path in manifest_files():
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return load_all()


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def secret_keys() -> set[str]:
    lines = (K8S / "secrets.env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}


def test_every_manifest_parses_and_is_namespaced(docs: list[dict[str, Any]]) -> None:
    assert manifest_files()
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


def test_builtin_kinds_validate_against_the_kubernetes_schema(docs: list[dict[str, Any]]) -> None:
    version = kubernetes_validate.latest_version()
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: no schema ships for it, see the KEDA tests below
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}")
        checked += 1
    assert checked >= 15


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == NAMESPACE
    assert sorted(kustomization["resources"]) == sorted(p.name for p in manifest_files())
    generator = kustomization["secretGenerator"][0]
    assert generator["name"] == "sim2real-secrets" and generator["envs"] == ["secrets.env"]
    assert generator["options"]["disableNameSuffixHash"] is True
    # The real secrets file is never committed; the example documents every key.
    assert "secrets.env" in (K8S / ".gitignore").read_text().split()
    assert secret_keys() == {
        "SIM2REAL_API_KEY",
        "POSTGRES_PASSWORD",
        "SIM2REAL_STORE_ACCESS_KEY",
        "SIM2REAL_STORE_SECRET_KEY",
    }
    images = {i["name"] for i in kustomization["images"]}
    assert images == {f"sim2real/{n}" for n in ("api", *IMAGES)}


def test_kustomize_builds_with_a_secrets_file(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) not installed here")
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets.env"))
    (copy / "secrets.env").write_text(
        "".join(f"{k}=value-{i:02d}-0123456789\n" for i, k in enumerate(secret_keys()))
    )
    built = subprocess.run([kubectl, "kustomize", str(copy)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    out = [d for d in yaml.safe_load_all(built.stdout) if d]
    assert len(out) == len(load_all()) + 1  # plus the generated Secret
    secret = of_kind(out, "Secret")["sim2real-secrets"]
    assert secret["metadata"]["namespace"] == NAMESPACE and set(secret["data"]) == secret_keys()
    kubernetes_validate.validate(secret, kubernetes_validate.latest_version(), strict=True)
    # Without the secrets file the build fails rather than deploying placeholders.
    (copy / "secrets.env").unlink()
    assert subprocess.run([kubectl, "kustomize", str(copy)], capture_output=True, timeout=60).returncode != 0


def test_secret_and_config_references_resolve(docs: list[dict[str, Any]]) -> None:
    config = of_kind(docs, "ConfigMap")["sim2real-config"]["data"]
    for workload in workloads(docs):
        for c in containers(workload):
            for ref in c.get("envFrom", []):
                assert ref["configMapRef"]["name"] == "sim2real-config"
            for env in c.get("env", []):
                source = env.get("valueFrom", {})
                if "secretKeyRef" in source:
                    assert source["secretKeyRef"]["name"] == "sim2real-secrets"
                    assert source["secretKeyRef"]["key"] in secret_keys(), env
                if "configMapKeyRef" in source:
                    assert source["configMapKeyRef"]["key"] in config, env
    trigger_auth = of_kind(docs, "TriggerAuthentication")["sim2real-postgres"]
    for ref in trigger_auth["spec"]["secretTargetRef"]:
        assert ref["name"] == "sim2real-secrets" and ref["key"] in secret_keys()


def app_env(container: dict[str, Any], config: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in config.items()} if container.get("envFrom") else {}
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "<from secret>")
    return env


def test_env_names_are_settings(docs: list[dict[str, Any]]) -> None:
    known = env_names()
    config = of_kind(docs, "ConfigMap")["sim2real-config"]["data"]
    assert set(config) <= known, sorted(set(config) - known)
    assert "SIM2REAL_BROKER_KEY_PREFIX" not in config, "KEDA listName assumes no broker key prefix"
    for workload in workloads(docs):
        for c in containers(workload):
            used = {n for n in app_env(c, config) if n.startswith("SIM2REAL_")}
            assert used <= known, f"{workload['metadata']['name']}: unknown settings {sorted(used - known)}"
    deployments = of_kind(docs, "Deployment")
    for name in ("api", *WORKERS):
        env = app_env(deployments[name]["spec"]["template"]["spec"]["containers"][0], config)
        url = env["SIM2REAL_DATABASE_URL"]
        # The password is expanded from an entry defined earlier in the same list.
        names = [e["name"] for e in deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]]
        assert names.index("POSTGRES_PASSWORD") < names.index("SIM2REAL_DATABASE_URL")
        assert url == "postgresql+psycopg://sim2real:$(POSTGRES_PASSWORD)@postgres:5432/sim2real"
        assert {
            "SIM2REAL_BROKER_URL",
            "SIM2REAL_STORE_ENDPOINT",
            "SIM2REAL_STORE_ACCESS_KEY",
            "SIM2REAL_STORE_SECRET_KEY",
            "SIM2REAL_HOME",
        } <= set(env), name
        assert ("SIM2REAL_API_KEY" in env) == (name == "api"), "only the api holds the API key"


def test_every_deployment_container_has_probes(docs: list[dict[str, Any]]) -> None:
    for workload in [*of_kind(docs, "Deployment").values(), *of_kind(docs, "StatefulSet").values()]:
        for c in workload["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in c and "livenessProbe" in c, (
                f"{workload['metadata']['name']}/{c['name']}"
            )


def test_api_deployment(docs: list[dict[str, Any]]) -> None:
    api = of_kind(docs, "Deployment")["api"]
    assert api["spec"]["replicas"] == 2
    (c,) = api["spec"]["template"]["spec"]["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert of_kind(docs, "PodDisruptionBudget")["api"]["spec"]["minAvailable"] == 1


def worker_command(deployment: dict[str, Any]) -> list[str]:
    return deployment["spec"]["template"]["spec"]["containers"][0]["command"]


def test_worker_deployments(docs: list[dict[str, Any]]) -> None:
    deployments = of_kind(docs, "Deployment")
    workers = {n for n, d in deployments.items() if worker_command(d)[:1] == ["celery"]}
    assert workers == set(WORKERS), "one worker Deployment per queue, none other"
    for name, (service, queue) in QUEUES.items():
        spec = deployments[name]["spec"]
        cmd = worker_command(deployments[name])
        assert cmd[:4] == ["celery", "-A", f"services.{service}.worker", "worker"]
        assert cmd[cmd.index("-Q") + 1] == queue and "--pool=solo" in cmd
        assert cmd[cmd.index("-n") + 1] == f"{name}@%h"
        assert spec["template"]["spec"]["containers"][0]["image"] == f"sim2real/{service}:0.1.0"
        assert (ROOT / "services" / service / "worker.py").is_file()
        assert "replicas" not in spec, f"{name}: KEDA owns the replica count"
        (c,) = spec["template"]["spec"]["containers"]
        probes = json.dumps([c["readinessProbe"], c["livenessProbe"]])
        # A solo-pool worker cannot answer a ping while it runs a job; such a probe would kill busy workers.
        assert "inspect" not in probes and "ping" not in probes
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"


def test_gpu_workers_request_a_gpu_and_time_to_checkpoint(docs: list[dict[str, Any]]) -> None:
    deployments = of_kind(docs, "Deployment")
    for name in GPU_WORKERS:
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in pod["tolerations"])
        assert pod["terminationGracePeriodSeconds"] >= 300
        assert deployments[name]["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    for name in ("api", "evaluator"):
        limits = deployments[name]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert "nvidia.com/gpu" not in limits


def test_stateful_services(docs: list[dict[str, Any]]) -> None:
    sets = of_kind(docs, "StatefulSet")
    services = of_kind(docs, "Service")
    assert set(sets) == {"postgres", "redis", "minio"}
    for name, sts in sets.items():
        claims = sts["spec"]["volumeClaimTemplates"]
        (c,) = sts["spec"]["template"]["spec"]["containers"]
        assert {m["name"] for m in c["volumeMounts"]} >= {claim["metadata"]["name"] for claim in claims}
        governing = services[sts["spec"]["serviceName"]]
        assert governing["spec"]["clusterIP"] == "None", f"{name}: serviceName must be a headless Service"
    redis = sets["redis"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes"
    pg_env = {e["name"]: e for e in sets["postgres"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert pg_env["PGDATA"]["value"].startswith("/var/lib/postgresql/data/")  # below the volume root


def test_bucket_job(docs: list[dict[str, Any]]) -> None:
    (job,) = of_kind(docs, "Job").values()
    (c,) = job["spec"]["template"]["spec"]["containers"]
    script = " ".join(c["args"])
    assert "mb --ignore-existing" in script and "http://minio:9000" in script
    assert job["spec"]["activeDeadlineSeconds"] > 0


def pods_matching(docs: list[dict[str, Any]], selector: dict[str, str]) -> list[dict[str, Any]]:
    return [
        w for w in workloads(docs) if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
    ]


def test_services_select_pods_and_target_container_ports(docs: list[dict[str, Any]]) -> None:
    for name, svc in of_kind(docs, "Service").items():
        matched = pods_matching(docs, svc["spec"]["selector"])
        assert matched, f"Service {name} selects no pods"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for workload in matched:
                ports = [p for c in containers(workload) for p in c.get("ports", [])]
                assert any(p["containerPort"] == target or p.get("name") == target for p in ports), (
                    f"Service {name} targets {target}, which {workload['metadata']['name']} does not expose"
                )
    # Workload selectors match their own templates.
    for workload in [*of_kind(docs, "Deployment").values(), *of_kind(docs, "StatefulSet").values()]:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_keda_scaled_objects(docs: list[dict[str, Any]]) -> None:
    deployments = of_kind(docs, "Deployment")
    scaled = of_kind(docs, "ScaledObject")
    assert set(scaled) == set(WORKERS)
    for name, obj in scaled.items():
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        spec = obj["spec"]
        target = spec["scaleTargetRef"]["name"]
        assert target in deployments, f"ScaledObject {name} targets a missing Deployment"
        cmd = worker_command(deployments[target])
        queue = cmd[cmd.index("-Q") + 1]
        assert 0 <= spec["minReplicaCount"] <= 1 <= spec["maxReplicaCount"]
        triggers = {t["type"]: t for t in spec["triggers"]}
        redis = triggers["redis"]["metadata"]
        assert redis["listName"] == queue
        assert redis["address"] == f"redis.{NAMESPACE}.svc.cluster.local:6379"
        assert int(redis["listLength"]) >= 1
        pg = triggers["postgresql"]
        assert pg["authenticationRef"]["name"] in of_kind(docs, "TriggerAuthentication")
        assert f"queue = '{queue}'" in pg["metadata"]["query"]
        assert "'queued', 'running'" in pg["metadata"]["query"]
        assert pg["metadata"]["host"] == f"postgres.{NAMESPACE}.svc.cluster.local"
    for name in GPU_WORKERS:
        # Scale-to-zero is safe only because running jobs keep the postgresql trigger active; an
        # interactive queue keeps a pod, so a click never waits for a GPU node to start.
        interactive = contracts.latency_class(QUEUES[name][1]) == "interactive"
        assert scaled[name]["spec"]["minReplicaCount"] == (1 if interactive else 0), name


def uvicorn_port(cmd: list[str]) -> int:
    return int(cmd[cmd.index("--port") + 1])


def test_api_port_is_the_same_everywhere(docs: list[dict[str, Any]]) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    published = int(compose["ports"][0].rsplit(":", 1)[1])
    dockerfile = (ROOT / "services/api/Dockerfile").read_text()
    cmd_line = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd_line
    ports = {
        "compose published": published,
        "compose command": uvicorn_port(compose["command"]),
        "Dockerfile CMD": uvicorn_port(json.loads(cmd_line.group(1))),
        "Dockerfile EXPOSE": int(re.search(r"^EXPOSE (\d+)$", dockerfile, re.M).group(1)),
        "Dockerfile HEALTHCHECK": int(re.search(r"127\.0\.0\.1:(\d+)/healthz", dockerfile).group(1)),
    }
    api = of_kind(docs, "Deployment")["api"]
    (c,) = api["spec"]["template"]["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    ports["k8s command"] = uvicorn_port(c["command"])
    ports["k8s containerPort"] = named["http"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = c[probe]["httpGet"]["port"]
        ports[f"k8s {probe}"] = named.get(port, port)
    svc_port = of_kind(docs, "Service")["api"]["spec"]["ports"][0]
    ports["k8s Service targetPort"] = named.get(svc_port["targetPort"], svc_port["targetPort"])
    assert set(ports.values()) == {8000}, ports
