"""`sim2real eval …` and `sim2real experiments …`: mAP by slice, paired comparisons, seeded experiments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sim2real.cli.common import Json, NoWait, client, follow, handles_errors, show, table
from sim2real.models import EvaluationOut

evals = typer.Typer(help="Evaluate detectors: run, list, show, compare.")
experiments = typer.Typer(help="Seeded multi-arm experiments: run, list, show.")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _settings(
    classes: list[str] | None,
    slice_by: list[str] | None,
    n_boot: int | None,
    conf: float | None,
    iou: float | None,
    imgsz: int | None,
) -> dict[str, Any]:
    return {
        "classes": classes or None,
        "slice_by": slice_by or None,
        "n_boot": n_boot,
        "conf": conf,
        "iou": iou,
        "imgsz": imgsz,
    }


Classes = Annotated[list[str] | None, typer.Option("--class", help="A class to score (repeatable).")]
SliceBy = Annotated[list[str] | None, typer.Option(help="occlusion, weather, timeofday, scene (repeatable).")]
NBoot = Annotated[int | None, typer.Option(help="Bootstrap resamples (0: no intervals).")]


@evals.command("run")
@handles_errors
def run(
    dataset_id: Annotated[str, typer.Option(help="The dataset to score on, e.g. BDD100K val.")],
    detector_model_id: Annotated[str | None, typer.Option(help="A detector to run on it.")] = None,
    predictions_uri: Annotated[str | None, typer.Option(help="Or a folder of YOLO prediction files.")] = None,
    classes: Classes = None,
    slice_by: SliceBy = None,
    n_boot: NBoot = None,
    conf: Annotated[float | None, typer.Option()] = None,
    iou: Annotated[float | None, typer.Option()] = None,
    imgsz: Annotated[int | None, typer.Option()] = None,
    split: Annotated[str | None, typer.Option(help="train or val (default: every image).")] = None,
    no_wait: NoWait = False,
    as_json: Json = False,
) -> None:
    """Evaluate a detector on a dataset (a job): AP50 per slice and class, with bootstrap intervals."""
    job = client().evaluate(
        dataset_id,
        detector_model_id,
        predictions_uri=predictions_uri,
        split=split,
        **_settings(classes, slice_by, n_boot, conf, iou, imgsz),
    )
    job = follow(job, as_json, not no_wait)
    if not as_json and not no_wait:
        _rows_table(client().evaluation(job.result["evaluation_id"]))


def _rows_table(ev: EvaluationOut) -> None:
    table(
        ev.rows,
        [
            ("slice", lambda r: r.slice),
            ("class", lambda r: r.class_name),
            ("AP50", lambda r: _fmt(r.ap50)),
            ("low", lambda r: _fmt(r.ap50_low)),
            ("high", lambda r: _fmt(r.ap50_high)),
            ("AP50-95", lambda r: _fmt(r.ap50_95)),
            ("images", lambda r: r.images),
            ("instances", lambda r: r.instances),
        ],
        False,
        title=f"evaluation {ev.id}",
    )


@evals.command("list")
@handles_errors
def list_(
    dataset_id: Annotated[str | None, typer.Option()] = None,
    detector_model_id: Annotated[str | None, typer.Option()] = None,
    as_json: Json = False,
) -> None:
    """Evaluations, newest first, with their overall AP50."""
    table(
        client().evaluations(dataset_id, detector_model_id),
        [
            ("id", lambda e: e.id),
            ("dataset", lambda e: e.dataset_id),
            ("detector", lambda e: e.detector_model_id),
            ("AP50", lambda e: _fmt(e.ap50)),
            (
                "interval",
                lambda e: f"{_fmt(e.ap50_low)}–{_fmt(e.ap50_high)}" if e.ap50_low is not None else "",
            ),
        ],
        as_json,
    )


@evals.command("show")
@handles_errors
def show_(evaluation_id: str, as_json: Json = False) -> None:
    """An evaluation's table: slice × class."""
    ev = client().evaluation(evaluation_id)
    if as_json:
        show(ev, True)
    else:
        _rows_table(ev)


@evals.command("compare")
@handles_errors
def compare(
    a: Annotated[str, typer.Argument(help="The reference evaluation.")],
    b: Annotated[str, typer.Argument(help="The evaluation compared with it.")],
    n_boot: Annotated[int | None, typer.Option()] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    as_json: Json = False,
) -> None:
    """mAP50(b) − mAP50(a) per slice with a paired bootstrap interval (a job)."""
    c = client()
    job = c.compare_evaluations(a, b, n_boot, seed)
    # With --json the comparison alone is printed; else the job's bar and summary come first.
    job = job.wait() if as_json else follow(job, as_json=False)
    comparison = c.comparison(job.id)
    if as_json:
        show(comparison, True)
        return
    table(
        comparison.rows,
        [(k, (lambda key: lambda r: r.get(key))(k)) for k in (comparison.rows[0] if comparison.rows else {})],
        False,
        title=f"comparison {comparison.id}: {a} → {b}",
    )


@experiments.command("run")
@handles_errors
def run_experiment(
    name: Annotated[str | None, typer.Option(help="The experiment's name.")] = None,
    arm: Annotated[
        list[str] | None, typer.Option(help="An arm: <name>=<training dataset id> (repeatable).")
    ] = None,
    eval_dataset_id: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option(help="Detector architecture, e.g. yolov5s.")] = None,
    imgsz: Annotated[int | None, typer.Option()] = None,
    epochs: Annotated[int | None, typer.Option()] = None,
    batch: Annotated[int | None, typer.Option()] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", help="A seed (repeatable).")] = None,
    classes: Classes = None,
    slice_by: SliceBy = None,
    n_boot: NBoot = None,
    body: Annotated[
        Path | None, typer.Option("--file", help="The whole request as a JSON file (options override it).")
    ] = None,
    no_wait: NoWait = False,
    as_json: Json = False,
) -> None:
    """An experiment (a job): every arm trained with every seed and evaluated on one dataset."""
    request: dict[str, Any] = json.loads(body.read_text()) if body else {}
    training = {
        k: v for k, v in {"model": model, "imgsz": imgsz, "epochs": epochs, "batch": batch}.items() if v
    }
    if training:
        request["model"] = {**request.get("model", {}), **training}
    arms = []
    for text in arm or ():
        arm_name, sep, dataset = text.partition("=")
        if not sep:
            raise ValueError(f"--arm {text!r}: write it as <name>=<training dataset id>")
        arms.append({"name": arm_name, "train_dataset_id": dataset})
    fields = {"name": name, "eval_dataset_id": eval_dataset_id, "arms": arms or None, "seeds": seed or None}
    fields.update(_settings(classes, slice_by, n_boot, None, None, None))
    request.update({k: v for k, v in fields.items() if v is not None})
    follow(client().run_experiment(**request), as_json, not no_wait)


@experiments.command("list")
@handles_errors
def list_experiments(as_json: Json = False) -> None:
    """Experiments, newest first."""
    table(
        client().experiments(),
        [
            ("id", lambda e: e.id),
            ("name", lambda e: e.name),
            ("status", lambda e: e.status),
            ("progress", lambda e: "" if e.progress is None else f"{e.progress:.0%}"),
            ("arms", lambda e: ", ".join(str(a) for a in e.arms)),
            ("seeds", lambda e: ", ".join(map(str, e.seeds))),
        ],
        as_json,
    )


@experiments.command("show")
@handles_errors
def show_experiment(experiment_id: str, as_json: Json = False) -> None:
    """An experiment: mean ± std over seeds per arm and slice, intervals, difference to the first arm."""
    show(client().experiment(experiment_id), as_json)
