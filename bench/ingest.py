"""BDD100K ingest benchmark: stream a full-size 2018 label file through the reader and the stats.

Targets (DESIGN / ingest brief): a 70,000-frame, ~1.3 M-box file in < 60 s and < 2 GB peak memory.
The baseline, measured in the same run, is ijson alone iterating the frames (no record building),
so the printed ratio is the reader's own overhead over bare parsing.

    .venv/bin/python bench/ingest.py                 # generate 70k frames to a temp folder, measure
    .venv/bin/python bench/ingest.py --labels FILE   # measure a real bdd100k_labels_images_train.json
    .venv/bin/python bench/ingest.py --job           # also the whole job (target < 20 s, < 1 GB)
    .venv/bin/python bench/ingest.py --job --postgres postgresql://postgres@127.0.0.1:5432/postgres

Each measurement runs in a fresh subprocess and reads its own ``ru_maxrss`` (peak resident set),
so the generator's memory never counts and tracemalloc's slowdown is avoided.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 60.0
TARGET_PEAK_MB = 2048.0
# Issue 14: the whole job (reader + labels stored in bulk + index) on the same file.
JOB_TARGET_SECONDS = 20.0
JOB_TARGET_PEAK_MB = 1024.0

# Box-label mix of the 2018 train file (approximate shares of its ~1.29 M boxes).
CATEGORIES = {
    "car": 0.553,
    "traffic sign": 0.186,
    "traffic light": 0.144,
    "person": 0.071,
    "truck": 0.023,
    "bus": 0.009,
    "bike": 0.0056,
    "rider": 0.0035,
    "motor": 0.0023,
    "train": 0.0001,
}
WEATHER = {
    "clear": 0.53,
    "overcast": 0.125,
    "undefined": 0.115,
    "snowy": 0.08,
    "rainy": 0.073,
    "partly cloudy": 0.07,
    "foggy": 0.007,
}
TIMEOFDAY = {"daytime": 0.53, "night": 0.40, "dawn/dusk": 0.068, "undefined": 0.002}
SCENE = {
    "city street": 0.62,
    "highway": 0.25,
    "residential": 0.115,
    "parking lot": 0.007,
    "tunnel": 0.002,
    "gas stations": 0.001,
    "undefined": 0.005,
}
OCCLUDED_SHARE = 0.47  # of boxes marked occluded
TRUNCATED_SHARE = 0.07


def _choice(rng: np.random.Generator, table: dict[str, float], n: int) -> list[str]:
    names = list(table)
    p = np.array(list(table.values()))
    return [names[i] for i in rng.choice(len(names), size=n, p=p / p.sum())]


def generate(path: Path, frames: int, boxes_per_frame: float, seed: int = 0) -> dict[str, int]:
    """Write a 2018-style label file: boxes plus lane and drivable-area polygons, as the real one has."""
    rng = np.random.default_rng(seed)
    n_boxes = rng.poisson(boxes_per_frame, frames)
    n_lanes = rng.poisson(5.0, frames)
    n_areas = rng.poisson(1.8, frames)
    total = int(n_boxes.sum())
    cats = _choice(rng, CATEGORIES, total)
    occ = rng.random(total) < OCCLUDED_SHARE
    trunc = rng.random(total) < TRUNCATED_SHARE
    x1 = rng.uniform(0, 1200, total)
    y1 = rng.uniform(0, 650, total)
    w = rng.uniform(4, 300, total)
    h = rng.uniform(4, 200, total)
    weather = _choice(rng, WEATHER, frames)
    tod = _choice(rng, TIMEOFDAY, frames)
    scene = _choice(rng, SCENE, frames)
    tf = {True: "true", False: "false"}
    label_id = 0
    k = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for i in range(frames):
            labels = []
            for _ in range(n_boxes[i]):
                labels.append(
                    f'{{"category":"{cats[k]}","attributes":{{"occluded":{tf[bool(occ[k])]},'
                    f'"truncated":{tf[bool(trunc[k])]},"trafficLightColor":"none"}},'
                    f'"manualShape":true,"manualAttributes":true,"box2d":{{"x1":{x1[k]:.6f},'
                    f'"y1":{y1[k]:.6f},"x2":{x1[k] + w[k]:.6f},"y2":{y1[k] + h[k]:.6f}}},"id":{label_id}}}'
                )
                k += 1
                label_id += 1
            for _ in range(n_lanes[i]):
                labels.append(
                    '{"category":"lane","attributes":{"laneDirection":"parallel","laneStyle":"solid",'
                    '"laneType":"road curb"},"manualShape":true,"manualAttributes":true,'
                    f'"poly2d":[{{"vertices":[[{x1[i % total]:.6f},720.0],[640.531,{y1[i % total]:.6f}]],'
                    '"types":"LL","closed":false}],'
                    f'"id":{label_id}}}'
                )
                label_id += 1
            for _ in range(n_areas[i]):
                verts = ",".join(f"[{12.5 * j:.6f},{400 + 3.25 * j:.6f}]" for j in range(14))
                labels.append(
                    '{"category":"drivable area","attributes":{"areaType":"direct"},"manualShape":true,'
                    f'"manualAttributes":true,"poly2d":[{{"vertices":[{verts}],"types":"LLLLCCCLLLCCCL",'
                    f'"closed":true}}],"id":{label_id}}}'
                )
                label_id += 1
            frame = (
                f'{{"name":"{i:08x}-{i * 7919 % 100000:08x}.jpg","attributes":{{"weather":"{weather[i]}",'
                f'"scene":"{scene[i]}","timeofday":"{tod[i]}"}},"timestamp":10000,"labels":[{",".join(labels)}]}}'
            )
            f.write(frame if i == 0 else "," + frame)
        f.write("]")
    return {"frames": frames, "boxes": total, "polygons": int(n_lanes.sum() + n_areas.sum())}


def _consume(labels: Path, mode: str, postgres: str | None = None) -> dict[str, object]:
    """Run inside the measuring subprocess."""
    t0 = time.perf_counter()
    if mode == "parse":
        import ijson

        frames = 0
        with open(labels, "rb") as f:
            for _ in ijson.items(f, "item", use_float=True):
                frames += 1
        result: dict[str, object] = {"frames": frames}
    elif mode == "job":
        result = _ingest_job(labels, postgres)
    else:
        from services.common.datasets import bdd100k
        from services.common.datasets.canonical import ReadReport
        from services.common.datasets.stats import compute_stats
        from services.common.datasets.taxonomy import Taxonomy

        tax, report = Taxonomy(), ReadReport()
        stats = compute_stats(
            bdd100k.iter_records(labels, tax, report, images=labels.parent), tax.classes, report
        )
        result = {
            "frames": stats.images,
            "boxes_kept": stats.boxes,
            "boxes_per_class": stats.boxes_per_class,
            "skipped": stats.skipped,
            "occlusion_buckets": stats.occlusion_buckets,
        }
    result["seconds"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time drifts less than wall time on a shared machine; threads' I/O waits are in neither.
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    import ijson

    result["ijson_backend"] = ijson.backend
    return result


def _ingest_job(labels: Path, postgres: str | None = None) -> dict[str, object]:
    """The whole ingest job as the service runs it: reader, labels into the store, index rows into the
    database (embedded: SQLite and a local store folder in a temporary home; with `postgres`, an admin
    URL such as postgresql://postgres@127.0.0.1:5432/postgres, a temporary database there instead)."""
    from services.common.core.db.migrate import upgrade
    from services.common.core.db.models import Job
    from services.common.core.db.session import session_scope
    from services.common.core.settings import Settings
    from services.common.runtime import lifecycle as jobs
    from services.common.runtime.worker import WorkerRuntime
    from services.evaluator.jobs.ingest_dataset import run as ingest

    home = Path(tempfile.mkdtemp(prefix="bench_ingest_home_"))
    database_url = None
    if postgres:
        import uuid

        import psycopg

        name = f"bench_ingest_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = (
            postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
        )
    try:
        settings = Settings(home=home, data_roots=str(labels.parent), database_url=database_url)
        upgrade(settings.resolved_database_url)
        with session_scope(settings.resolved_database_url) as s:
            job_id = jobs.create_job(
                s,
                "ingest_dataset",
                {"name": "bench", "format": "bdd100k", "uri": f"file://{labels.parent}", "options": {}},
            ).id
        state = WorkerRuntime("evaluator", settings).run_job(job_id, ingest)
        with session_scope(settings.resolved_database_url) as s:
            job = s.get(Job, job_id)
            if state != "succeeded":
                raise RuntimeError(f"ingest {state}: {job.error}")
            return {"frames": job.result["images"], "boxes_kept": job.result["boxes"]}
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if database_url:
            from services.common.core.db.session import get_engine

            get_engine(database_url).dispose()
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _measure(labels: Path, mode: str, postgres: str | None = None) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--consume", str(labels), "--mode", mode]
        + (["--postgres", postgres] if postgres else []),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, help="measure this label file instead of a generated one")
    ap.add_argument("--frames", type=int, default=70_000)
    ap.add_argument("--boxes-per-frame", type=float, default=18.6)
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--consume", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=("parse", "reader", "job"), default="reader", help=argparse.SUPPRESS)
    ap.add_argument(
        "--job",
        action="store_true",
        help="also time the whole ingest job (store + database index, embedded mode)",
    )
    ap.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="with --job: index into a temporary database on this PostgreSQL server instead of SQLite "
        "(e.g. postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    args = ap.parse_args()
    if args.consume is not None:
        print(json.dumps(_consume(args.consume, args.mode, args.postgres)))
        return 0

    tmp = None
    labels = args.labels
    if labels is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
        labels = tmp / "bdd100k_labels_images_train.json"
        t0 = time.perf_counter()
        made = generate(labels, args.frames, args.boxes_per_frame)
        print(
            f"generated {made['frames']} frames, {made['boxes']} boxes, {made['polygons']} polygons, "
            f"{labels.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s"
        )
    try:
        base = _measure(labels, "parse")
        run = _measure(labels, "reader")
        job = _measure(labels, "job", args.postgres) if args.job else None
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp)
    print(f"ijson backend: {run['ijson_backend']}")
    print(f"baseline (ijson frames only): {base['seconds']:.1f} s, peak RSS {base['peak_rss_mb']:.0f} MB")
    print(
        f"reader + stats:               {run['seconds']:.1f} s (CPU {run['cpu_seconds']:.1f} s), "
        f"peak RSS {run['peak_rss_mb']:.0f} MB"
    )
    print(f"ratio reader/baseline time:   {run['seconds'] / base['seconds']:.2f}x")
    print(f"frames {run['frames']}, boxes kept {run['boxes_kept']} {run['boxes_per_class']}")
    print(f"occlusion buckets {run['occlusion_buckets']}")
    print(f"skipped {run['skipped']}")
    ok_t, ok_m = run["seconds"] < TARGET_SECONDS, run["peak_rss_mb"] < TARGET_PEAK_MB
    print(
        f"reader target < {TARGET_SECONDS:.0f} s: {'PASS' if ok_t else 'FAIL'}; "
        f"< {TARGET_PEAK_MB:.0f} MB: {'PASS' if ok_m else 'FAIL'}"
    )
    if job is not None:
        database = "PostgreSQL (COPY)" if args.postgres else "SQLite"
        print(
            f"whole ingest job (labels to store, index to {database}): {job['seconds']:.1f} s "
            f"(CPU {job['cpu_seconds']:.1f} s), peak RSS {job['peak_rss_mb']:.0f} MB, {job['frames']} images"
        )
        print(f"ratio job/reader time:        {job['seconds'] / run['seconds']:.2f}x")
        job_t, job_m = job["seconds"] < JOB_TARGET_SECONDS, job["peak_rss_mb"] < JOB_TARGET_PEAK_MB
        print(
            f"job target < {JOB_TARGET_SECONDS:.0f} s: {'PASS' if job_t else 'FAIL'}; "
            f"< {JOB_TARGET_PEAK_MB:.0f} MB: {'PASS' if job_m else 'FAIL'}"
        )
        ok_t, ok_m = ok_t and job_t, ok_m and job_m
    return 0 if ok_t and ok_m else 1


if __name__ == "__main__":
    raise SystemExit(main())
