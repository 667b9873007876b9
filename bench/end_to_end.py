"""End-to-end latency of a fog translation (1242×375 with its depth map) through the embedded stack.

Starts `python -m services.embedded` (uvicorn API, Celery workers over the file broker, SQLite, local
store) in a temporary home, submits fog translations over HTTP and times submit → succeeded → image
downloaded. The baseline measured in the same run is the in-process render of the same frame, so the
ratio is the service's overhead factor. Target (issue 2): under 2 s end to end on a 2-core machine.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.methods.physics import parse_physics_params  # noqa: E402
from services.translator.weather.depth import vkitti_depth_to_metres  # noqa: E402
from services.translator.weather.registry import render  # noqa: E402
from tests.scenes import png_bytes, road_scene  # noqa: E402

RUNS = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    rgb, depth = road_scene(1242, 375)
    params = parse_physics_params("fog", {"visibility_m": 120})
    render("fog", rgb, params, vkitti_depth_to_metres(depth))
    t0 = time.perf_counter()
    for _ in range(RUNS):
        render("fog", rgb, params, vkitti_depth_to_metres(depth))
    direct = (time.perf_counter() - t0) / RUNS

    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIM2REAL_")}
        env.update(SIM2REAL_HOME=home, SIM2REAL_PORT=str(port))
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.embedded"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            files = {"image": ("f.png", png_bytes(rgb)), "depth": ("d.png", png_bytes(depth))}
            latencies = []
            with httpx.Client(base_url=url, timeout=30) as client:
                for n in range(RUNS + 1):
                    t0 = time.perf_counter()
                    job = client.post(
                        "/v1/translations",
                        files=files,
                        data={"weather": "fog", "params": '{"visibility_m": 120}'},
                    ).json()
                    while (status := client.get(f"/v1/jobs/{job['id']}").json()["status"]) in (
                        "queued",
                        "running",
                    ):
                        time.sleep(0.01)
                    assert status == "succeeded", status
                    assert client.get(f"/v1/translations/{job['id']}/image").status_code == 200
                    if n:  # the first request warms the worker's imports
                        latencies.append(time.perf_counter() - t0)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    med = statistics.median(latencies)
    print(f"fog 1242x375 with depth, {RUNS} requests after one warm-up")
    print(f"  in-process render (baseline): {direct * 1000:8.1f} ms")
    print(
        f"  end to end through the service: median {med * 1000:8.1f} ms, max {max(latencies) * 1000:.1f} ms "
        f"({med / direct:.1f}x the bare render; target < 2000 ms)"
    )


if __name__ == "__main__":
    main()
