"""`sim2real demo study`: the offline synthetic→fog study (sim2real.demo.study) with one progress bar and
ETA over all its jobs, a report under --out, and the embedded service started when none answers."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sim2real.cli.common import Json, State, err, fail, handles_errors, print_json
from sim2real.cli.service import WORKER_MODULES, installed
from sim2real.client import Client


def gpu_here() -> bool:
    """Whether this machine has an NVIDIA GPU (`nvidia-smi -L` lists one); the client needs no torch."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


@handles_errors
def study(
    seeds: Annotated[int, typer.Option(help="Training seeds per arm.", min=1)] = 2,
    images: Annotated[
        int | None, typer.Option(help="Source (and oracle) training images; default from the budget.", min=5)
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Training epochs; default from the budget.", min=1)
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(help="Minutes to aim for (default 30 on a CPU): scales images and epochs.", min=1),
    ] = None,
    imgsz: Annotated[
        int | None, typer.Option(help="Training and evaluation size (default 320 on a CPU).")
    ] = None,
    cyclegan: Annotated[
        bool | None,
        typer.Option("--cyclegan/--no-cyclegan", help="Add a CycleGAN arm (default: only on a GPU)."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Where the data, the report and an embedded service live.")
    ] = Path("var/demo"),
    as_json: Json = False,
) -> None:
    """The whole study offline: synthetic source, a foggy target from an independent fog model, physics-fog
    translation, an experiment (source / translated / [cyclegan] / oracle × seeds) evaluated on held-out
    target images by occlusion and visibility, and a report (var/demo/report.md and .html)."""
    from sim2real.demo.embedded import answers, embedded_service
    from sim2real.demo.report import write_report
    from sim2real.demo.study import StudySettings, run_study, target_statement

    gpu = gpu_here()
    settings = StudySettings.scaled(
        budget, gpu=gpu, images=images, epochs=epochs, imgsz=imgsz, cyclegan=cyclegan, seeds=seeds
    )
    out = out.resolve()
    data_root = out / "data"
    if data_root.exists():
        shutil.rmtree(data_root)
    # A terminated run still stops the service it started (the `finally` of embedded_service).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    probe = Client(State.url, State.api_key)
    embedded = False
    with contextlib.ExitStack() as stack:
        if answers(probe.url):
            url = probe.url
            err.print(
                f"using the service at {url}: its SIM2REAL_DATA_ROOTS must include {data_root} (or start no "
                "service and this command runs its own)"
            )
        else:
            missing = [m for m in WORKER_MODULES if not installed(m)]
            if missing or not installed("services.embedded"):
                raise fail(
                    f"no service answers at {probe.url} and this install cannot run one (it lacks "
                    f"{', '.join(missing) or 'the services package'}): pip install 'sim2real[worker]', or set "
                    "SIM2REAL_URL to a running service"
                )
            err.print(f"no service at {probe.url}: starting the embedded one (its data in {out / 'service'})")
            url = stack.enter_context(embedded_service(out / "service", data_root))
            embedded = True
        client = stack.enter_context(Client(url, State.api_key))
        err.print(
            f"demo study: {settings.images} source + {settings.images} target training images, "
            f"{settings.eval_images} held-out target images, {settings.seeds} seed(s), {settings.epochs} "
            f"epochs at imgsz {settings.imgsz}, CycleGAN {'on' if settings.cyclegan else 'off'}"
            + (" (GPU)" if gpu else " (CPU)")
        )
        err.print(target_statement())
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=False, disable=as_json) as bar:
            task = bar.add_task("demo study", total=1.0)

            def progress(fraction: float, what: str) -> None:
                bar.update(task, completed=fraction, description=f"demo study · {what[:50]:<50}")

            outcome = run_study(client, settings, data_root, progress)
        files = write_report(client, outcome, out)
    if as_json:
        print_json({"outcome": outcome.as_dict(), "files": {k: str(v) for k, v in files.items()}})
        return
    err.print(
        f"done in {outcome.timings['total'] / 60:.1f} min: report {files['markdown']} "
        f"(HTML: {files['html']}); experiment {outcome.experiment_id}"
    )
    page = f"#/experiments/{outcome.experiment_id}/report"
    if embedded:
        err.print(
            f"the web app's report page: SIM2REAL_HOME={out / 'service'} SIM2REAL_DATA_ROOTS={data_root} "
            f"sim2real up, then open http://127.0.0.1:8000/{page}"
        )
    else:
        err.print(f"the web app's report page: {url.rstrip('/')}/{page}")
    for r in (outcome.experiment or {}).get("table", {}).get("rows", []):
        if r["slice"] == "all":
            err.print(f"  {r['arm']:<11} mAP50 {r['mean']:.3f} ± {r['std']:.3f}")
    for g in (outcome.experiment or {}).get("table", {}).get("gap_closure", []):
        if g["slice"] == "all":
            gap = "–" if g.get("gap") is None else f"{g['gap']:.2f}"
            err.print(f"  gap closed by {g['arm']}: {gap} {g.get('note') or ''}")


__all__ = ["study"]
