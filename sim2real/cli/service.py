"""`sim2real up`, `jobs`, `weathers`, `styles`, `weights` and `demo`: the service itself and what it offers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from sim2real.cli.common import (
    Json,
    client,
    err,
    fail,
    follow,
    handles_errors,
    job_columns,
    print_json,
    show,
    table,
)

jobs = typer.Typer(help="Jobs: list, show, watch live with an ETA, cancel.")
styles = typer.Typer(help="Styles (example images of a look, for nst and adain): create, list.")
weights = typer.Typer(help="Operator-supplied weights such as vgg19: upload, list.")
demo = typer.Typer(
    help="Synthetic data to try the study without the real datasets, and the whole study offline."
)

# What the workers import that the base install lacks.
WORKER_MODULES = ("torch", "torchvision", "ultralytics")


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def up() -> None:
    """Run the API and one worker per queue on embedded defaults (SQLite, a folder, a file broker), as
    `make up` does; Ctrl-C stops them all."""
    missing = [m for m in WORKER_MODULES if not installed(m)]
    if missing or not installed("services.embedded"):
        what = ", ".join(missing) if missing else "the services package"
        raise fail(
            f"the workers need {what}, which this install lacks: pip install 'sim2real[worker]' "
            "(or run the client against a service elsewhere: set SIM2REAL_URL)"
        )
    raise typer.Exit(subprocess.call([sys.executable, "-m", "services.embedded"]))


@handles_errors
def weathers(as_json: Json = False) -> None:
    """Every method × weather the service can translate to now (and what a missing one needs)."""
    table(
        client().weathers(),
        [
            ("method", lambda r: r.method),
            ("weather", lambda r: r.weather),
            ("available", lambda r: "yes" if r.available else "no"),
            ("model/style", lambda r: r.model_id or r.style_id),
            ("name", lambda r: r.name),
            ("needs", lambda r: r.needs),
        ],
        as_json,
    )


@jobs.command("list")
@handles_errors
def list_jobs(
    kind: Annotated[str | None, typer.Option(help="e.g. translate, train_detector.")] = None,
    status: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed, cancelled.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).", min=0)] = 20,
    as_json: Json = False,
) -> None:
    """Jobs, newest first."""
    rows = []
    for job in client().jobs(kind, status, page_size=min(limit or 100, 100)):
        rows.append(job)
        if limit and len(rows) >= limit:
            break
    table(rows, job_columns(), as_json)


@jobs.command("show")
@handles_errors
def show_job(job_id: str, as_json: Json = False) -> None:
    """A job: status, progress, ETA, message, error, result."""
    show(client().job(job_id), as_json)


@jobs.command("watch")
@handles_errors
def watch(job_id: str, as_json: Json = False) -> None:
    """Follow a job live (progress, message, ETA) until it finishes; exits 1 if it failed or was cancelled."""
    follow(client().job(job_id), as_json)


@jobs.command("cancel")
@handles_errors
def cancel(job_id: str, as_json: Json = False) -> None:
    """Cancel a job (and its children)."""
    job = client().cancel_job(job_id)
    if as_json:
        print_json(job)
    else:
        err.print(f"job {job.id} {job.status}")


@styles.command("create")
@handles_errors
def create_style(
    name: str,
    images: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Example images.")],
    weather: Annotated[str, typer.Option(help="The look they give, e.g. rain.")],
    as_json: Json = False,
) -> None:
    """A style from example images."""
    show(client().create_style(list(images), name, weather), as_json)


@styles.command("list")
@handles_errors
def list_styles(as_json: Json = False) -> None:
    """Every style."""
    table(
        client().styles(),
        [
            ("id", lambda s: s.id),
            ("name", lambda s: s.name),
            ("weather", lambda s: s.weather),
            ("images", lambda s: len(s.image_keys)),
        ],
        as_json,
    )


@weights.command("upload")
@handles_errors
def upload_weights(
    name: Annotated[str, typer.Argument(help="e.g. vgg19 (see `sim2real weights list`).")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    as_json: Json = False,
) -> None:
    """A new version of an operator weights file (needs the operator key when keys are set)."""
    show(client().upload_weights(name, file), as_json)


@weights.command("list")
@handles_errors
def list_weights(as_json: Json = False) -> None:
    """Every operator weights file: present or not, versions, which methods need it."""
    rows = client().weights().weights
    table(
        rows,
        [
            ("name", lambda w: w.name),
            ("available", lambda w: "yes" if w.available else "no"),
            ("versions", lambda w: len(w.versions)),
            ("needed by", lambda w: ", ".join(w.needed_by)),
            ("description", lambda w: w.description),
        ],
        as_json,
    )


@demo.command("data")
@handles_errors
def demo_data(
    directory: Annotated[Path, typer.Argument(help="Where to write the trees.")],
    frames: Annotated[int, typer.Option(help="Frames per sequence, scene and variation.", min=1)] = 7,
    width: Annotated[int, typer.Option(min=64)] = 320,
    height: Annotated[int, typer.Option(min=32)] = 96,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Json = False,
) -> None:
    """Write small KITTI, KITTI tracking, Virtual KITTI 2 and BDD100K trees in their original layouts."""
    from sim2real.demo.data import write_demo_data

    data = write_demo_data(directory, frames=frames, width=width, height=height, seed=seed)
    requests = data.ingest_requests()
    if as_json:
        print_json({"root": str(data.root), "images": data.images, "datasets": requests})
        return
    table(
        requests,
        [
            ("tree", lambda r: r["name"]),
            ("format", lambda r: r["format"]),
            ("images", lambda r: data.images[r["name"]]),
            ("path", lambda r: r["uri"].removeprefix("file://")),
        ],
        False,
        title=f"demo data in {data.root}",
    )
    err.print(
        f"Ingest them with the service's SIM2REAL_DATA_ROOTS including {data.root.resolve()}, e.g.\n"
        f"  sim2real datasets ingest {data.trees['vkitti2']} --format vkitti2"
    )


__all__ = ["demo", "jobs", "styles", "up", "weathers", "weights"]
