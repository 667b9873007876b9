"""`sim2real datasets …`: ingest, browse, export, translate and compose datasets."""

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
    parse_json_option,
    parse_pairs,
    parse_value,
    print_json,
    show,
    table,
)

app = typer.Typer(help="Ingest datasets in their original layouts; browse, export, translate, compose.")


@app.command("ingest")
@handles_errors
def ingest(
    location: Annotated[
        str, typer.Argument(help="A folder (under the service's SIM2REAL_DATA_ROOTS) or a URI.")
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="kitti, kitti_tracking, vkitti2, bdd100k, yolo.")
    ],
    name: Annotated[str | None, typer.Option(help="Default: the folder's name.")] = None,
    reader: Annotated[
        list[str] | None, typer.Option(help="A reader option, e.g. split=val (BDD100K).")
    ] = None,
    options: Annotated[
        str | None, typer.Option(help='All options as JSON, e.g. \'{"split": {"val_fraction": 0}}\'.')
    ] = None,
    strict: Annotated[bool, typer.Option(help="Fail on the first data problem instead of warning.")] = False,
    no_wait: NoWait = False,
    as_json: Json = False,
) -> None:
    """Ingest a dataset (a job): index its images and labels, compute its statistics."""
    opts = parse_json_option(options, "--options")
    if reader:
        opts.setdefault("reader", {}).update(parse_pairs(reader, "--reader"))
    name = name or Path(location.rstrip("/")).name or location
    follow(client().ingest_dataset(name, format, location, opts, strict), as_json, not no_wait)


@app.command("list")
@handles_errors
def list_(as_json: Json = False) -> None:
    """Every dataset."""
    table(
        client().datasets(),
        [
            ("id", lambda d: d.id),
            ("name", lambda d: d.name),
            ("format", lambda d: d.format),
            ("images", lambda d: d.stats.get("images")),
            ("boxes", lambda d: d.stats.get("boxes")),
            ("classes", lambda d: ", ".join(map(str, d.class_names))),
        ],
        as_json,
    )


@app.command("show")
@handles_errors
def show_(dataset_id: str, as_json: Json = False) -> None:
    """A dataset with its statistics (boxes per class, weather, occlusion, warnings)."""
    show(client().dataset(dataset_id), as_json)


@app.command("images")
@handles_errors
def images(
    dataset_id: str,
    filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="e.g. weather=foggy, occluded_vehicles<=5 (repeatable)."),
    ] = None,
    split: Annotated[str | None, typer.Option(help="train or val.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: all).", min=0)] = 50,
    as_json: Json = False,
) -> None:
    """A dataset's images, filtered."""
    rows = []
    for image in client().dataset_images(dataset_id, filter, split):
        rows.append(image)
        if limit and len(rows) >= limit:
            break
    table(
        rows,
        [
            ("image_id", lambda i: i.image_id),
            ("split", lambda i: i.split),
            ("size", lambda i: f"{i.width}x{i.height}"),
            ("weather", lambda i: i.weather),
            ("scene", lambda i: i.scene),
            ("variation", lambda i: i.variation),
            ("num_boxes", lambda i: i.num_boxes),
            ("occluded", lambda i: i.occluded_vehicles),
        ],
        as_json,
    )


@app.command("export")
@handles_errors
def export(
    dataset_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="The zip to write.")],
    as_json: Json = False,
) -> None:
    """The dataset as a YOLO folder in a zip."""
    path = client().export_dataset(dataset_id, output)
    if as_json:
        print_json({"dataset_id": dataset_id, "output": str(path), "bytes": path.stat().st_size})
    else:
        err.print(f"wrote {path} ({path.stat().st_size} bytes)", markup=False)


@app.command("translate")
@handles_errors
def translate(
    dataset_id: str,
    weather: Annotated[str | None, typer.Option()] = None,
    method: Annotated[str | None, typer.Option()] = None,
    model_id: Annotated[str | None, typer.Option()] = None,
    style_id: Annotated[str | None, typer.Option()] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="e.g. visibility_m=80.")] = None,
    filter: Annotated[list[str] | None, typer.Option("--filter", help="e.g. variation=clone.")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    strict: Annotated[bool, typer.Option()] = False,
    no_wait: NoWait = False,
    as_json: Json = False,
) -> None:
    """A translated copy of a dataset (a job): same labels, another weather."""
    job = client().translate_dataset(
        dataset_id,
        weather=weather,
        method=method,
        model_id=model_id,
        style_id=style_id,
        params=parse_pairs(param, "--param") or None,
        filter=filter or None,
        name=name,
        strict=strict or None,
    )
    follow(job, as_json, not no_wait)


def translation_spec(text: str) -> tuple[str, dict[str, Any]]:
    """`fog=physics`, `fog=cyclegan:<model id>` or `fog={"method": …, "params": …}`."""
    weather, sep, spec = text.partition("=")
    if not sep:
        raise ValueError(f"--translation {text!r}: write it as weather=method[:model id] or weather=JSON")
    value = parse_value(spec)
    if isinstance(value, dict):
        return weather, value
    method, _, model = spec.partition(":")
    return weather, {"method": method, **({"model_id": model} if model else {})}


@app.command("recipe")
@handles_errors
def recipe(
    name: str,
    kitti: Annotated[str, typer.Option(help="A kitti_tracking dataset id.")],
    vkitti: Annotated[str, typer.Option(help="A vkitti2 dataset id.")],
    composition: Annotated[str, typer.Option(help="baseline or translated.")] = "baseline",
    translation: Annotated[
        list[str] | None,
        typer.Option(
            help="How a weather is made (translated): fog=physics, fog=cyclegan:<model id>, or JSON."
        ),
    ] = None,
    camera: Annotated[str, typer.Option()] = "Camera_0",
    val_fraction: Annotated[float, typer.Option()] = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    no_wait: NoWait = False,
    as_json: Json = False,
) -> None:
    """The study's training sets as a composition of KITTI tracking and Virtual KITTI 2 (a job)."""
    translations = dict(translation_spec(t) for t in translation or ())
    job = client().compose_dataset(
        name=name,
        composition=composition,
        kitti_dataset_id=kitti,
        vkitti_dataset_id=vkitti,
        camera=camera,
        translations=translations or None,
        val_fraction=val_fraction,
        seed=seed,
    )
    follow(job, as_json, not no_wait)
