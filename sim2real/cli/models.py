"""`sim2real translators …` and `sim2real detectors …`: train, import or upload, list, show, detect."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sim2real.cli.common import (
    Json,
    NoWait,
    client,
    err,
    follow,
    handles_errors,
    parse_pairs,
    parse_value,
    print_json,
    show,
    table,
)

translators = typer.Typer(help="Image translators (CycleGAN, AdaIN): train, import, list, show.")
detectors = typer.Typer(help="YOLOv5 detectors: train, upload, detect, list, show.")


def domain(text: str) -> dict[str, Any]:
    """A training domain: `<dataset id>`, `<dataset id>:<filter>`, `prefix:<store prefix>` or JSON."""
    value = parse_value(text)
    if isinstance(value, dict):
        return value
    head, sep, rest = text.partition(":")
    if head == "prefix" and sep:
        return {"prefix": rest}
    return {"dataset_id": head, **({"filter": rest} if sep and rest else {})}


@translators.command("train")
@handles_errors
def train_translator(
    name: str,
    weather: Annotated[str, typer.Option(help="The look it produces, e.g. fog.")],
    domain_a: Annotated[str, typer.Option(help="Source: <dataset id>[:<filter>], prefix:<prefix> or JSON.")],
    domain_b: Annotated[str, typer.Option(help="Target, e.g. <bdd id>:weather=foggy.")],
    method: Annotated[str | None, typer.Option(help="A trainable method (default: cyclegan).")] = None,
    option: Annotated[list[str] | None, typer.Option(help="A training option, e.g. n_epochs=5.")] = None,
    no_wait: NoWait = False,
    as_json: Json = False,
) -> None:
    """Train a translator from domain A to domain B (a job)."""
    job = client().train_translator(
        name, weather, domain(domain_a), domain(domain_b), method, parse_pairs(option, "--option") or None
    )
    follow(job, as_json, not no_wait)


@translators.command("import")
@handles_errors
def import_translator(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="e.g. latest_net_G_A.pth")],
    name: Annotated[str, typer.Option()],
    weather: Annotated[str, typer.Option()],
    method: Annotated[str | None, typer.Option()] = None,
    option: Annotated[list[str] | None, typer.Option(help="An import option, e.g. n_blocks=9.")] = None,
    as_json: Json = False,
) -> None:
    """Import a trained checkpoint (read without executing it)."""
    options = {k: v for k, v in parse_pairs(option, "--option").items()}
    show(client().import_translator(file, name, weather, method, **options), as_json)


@translators.command("list")
@handles_errors
def list_translators(as_json: Json = False) -> None:
    """Every translator model."""
    table(
        client().translators(),
        [
            ("id", lambda m: m.id),
            ("name", lambda m: m.name),
            ("method", lambda m: m.method),
            ("weather", lambda m: m.weather),
            ("job", lambda m: m.job_id),
        ],
        as_json,
    )


@translators.command("show")
@handles_errors
def show_translator(model_id: str, as_json: Json = False) -> None:
    """A translator model with its options and training metrics."""
    show(client().translator(model_id), as_json)


@detectors.command("train")
@handles_errors
def train_detector(
    dataset_id: str,
    model: Annotated[str, typer.Option(help="yolov5n … yolov5x6.")] = "yolov5s",
    imgsz: Annotated[int, typer.Option()] = 640,
    epochs: Annotated[int, typer.Option()] = 100,
    batch: Annotated[int, typer.Option()] = 16,
    val_dataset_id: Annotated[str | None, typer.Option(help="Else the dataset's own val split.")] = None,
    weights_id: Annotated[str | None, typer.Option(help="An uploaded detector to start from.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    name: Annotated[str | None, typer.Option()] = None,
    hyp: Annotated[
        list[str] | None, typer.Option(help="An ultralytics train argument, e.g. lr0=0.005.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Any other field of the request, e.g. pretrained=true.")
    ] = None,
    no_wait: NoWait = False,
    as_json: Json = False,
) -> None:
    """Train a YOLOv5 detector on a dataset (a job)."""
    job = client().train_detector(
        dataset_id,
        model=model,
        imgsz=imgsz,
        epochs=epochs,
        batch=batch,
        val_dataset_id=val_dataset_id,
        weights_id=weights_id,
        seed=seed,
        name=name,
        hyperparameters=parse_pairs(hyp, "--hyp") or None,
        **parse_pairs(set_, "--set"),
    )
    follow(job, as_json, not no_wait)


@detectors.command("upload")
@handles_errors
def upload_detector(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="An ultralytics YOLOv5 .pt")],
    name: Annotated[str, typer.Option()],
    as_json: Json = False,
) -> None:
    """Upload a YOLOv5 checkpoint (read without executing it)."""
    show(client().upload_detector(file, name), as_json)


@detectors.command("detect")
@handles_errors
def detect(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    model_id: Annotated[str, typer.Option()],
    conf: Annotated[float, typer.Option()] = 0.25,
    iou: Annotated[float, typer.Option()] = 0.7,
    imgsz: Annotated[int | None, typer.Option()] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the image with its boxes drawn.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Boxes in one image."""
    c = client()
    job = c.detect(image, model_id, conf=conf, iou=iou, imgsz=imgsz, annotate=output is not None, wait=30)
    job.wait()  # at once if the server's `wait` saw it finish; raises with the server's message on failure
    boxes = (job.result or {}).get("detections", [])
    if output is not None:
        c.detection_image(job.id, save_to=output)
    if as_json:
        print_json({"job_id": job.id, "detections": boxes, "output": str(output) if output else None})
        return
    table(
        boxes,
        [
            ("class", lambda b: b["name"]),
            ("conf", lambda b: f"{b['conf']:.3f}"),
            ("box", lambda b: f"{b['x1']:.0f},{b['y1']:.0f},{b['x2']:.0f},{b['y2']:.0f}"),
        ],
        False,
        title=f"{len(boxes)} detections",
    )
    if output is not None:
        err.print(f"wrote {output}", markup=False)


@detectors.command("list")
@handles_errors
def list_detectors(as_json: Json = False) -> None:
    """Every detector model."""
    table(
        client().detectors(),
        [
            ("id", lambda m: m.id),
            ("name", lambda m: m.name),
            ("origin", lambda m: m.origin),
            ("architecture", lambda m: m.architecture),
            ("imgsz", lambda m: m.imgsz),
            ("classes", lambda m: ", ".join(map(str, m.class_names))),
        ],
        as_json,
    )


@detectors.command("show")
@handles_errors
def show_detector(model_id: str, as_json: Json = False) -> None:
    """A detector with its training metrics per epoch."""
    show(client().detector(model_id), as_json)
