"""`sim2real translate IMAGE|FOLDER`: one image, or a folder as a batch with one progress bar; each output
keeps its input's name, size and format."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any

import typer
from PIL import Image
from rich.markup import escape

from sim2real.cli.common import Json, client, err, handles_errors, parse_pairs, print_json, progress_bar
from sim2real.client import Client, JobFailed, Sim2RealError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def save_like(png: bytes, source: Path, target: Path) -> Path:
    """The translated PNG saved at `target` with the source's size, in the format `target`'s suffix names."""
    with Image.open(source) as src:
        size = src.size
    img = Image.open(io.BytesIO(png))
    target.parent.mkdir(parents=True, exist_ok=True)
    if img.size == size and target.suffix.lower() == ".png":
        target.write_bytes(png)
        return target
    img = img.convert("RGB")
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    kwargs = {"quality": 95} if target.suffix.lower() in (".jpg", ".jpeg") else {}
    img.save(target, **kwargs)
    return target


def depth_for(image: Path, images_root: Path, depth: Path | None) -> Path | None:
    """The depth map of `image`: `depth` itself for one image; for a folder, the file under `depth` at the
    image's relative path with a .png suffix (or with `rgb` in the name replaced by `depth`, Virtual KITTI 2's
    naming)."""
    if depth is None or depth.is_file():
        return depth
    rel = image.relative_to(images_root).with_suffix(".png")
    for candidate in (depth / rel, depth / rel.with_name(rel.name.replace("rgb", "depth"))):
        if candidate.is_file():
            return candidate
    return None


def translate_one(c: Client, image: Path, target: Path, depth: Path | None, request: dict[str, Any]) -> Path:
    job = c.translate(image, depth=depth, **request)
    job.wait()
    return save_like(c.translation_png(job.id), image, target)


@handles_errors
def translate(
    source: Annotated[Path, typer.Argument(help="An image (PNG/JPEG), or a folder of them.", exists=True)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file, or folder (for a folder).")],
    weather: Annotated[
        str | None, typer.Option(help="e.g. fog, rain, snow (see `sim2real weathers`).")
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="physics, cyclegan, nst, adain; default: physics.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A method parameter, e.g. visibility_m=80.")
    ] = None,
    depth: Annotated[
        Path | None,
        typer.Option(help="16-bit depth PNG (cm, 65535 = sky); for a folder, a folder of them by name."),
    ] = None,
    model_id: Annotated[str | None, typer.Option(help="A translator model (cyclegan, adain).")] = None,
    style_id: Annotated[str | None, typer.Option(help="A style (nst, adain).")] = None,
    workers: Annotated[int, typer.Option(help="Images in flight at once (folders).", min=1, max=64)] = 4,
    as_json: Json = False,
) -> None:
    """Translate an image, or every image in a folder, into another weather."""
    request = {
        "weather": weather,
        "method": method,
        "params": parse_pairs(param, "--param") or None,
        "model_id": model_id,
        "style_id": style_id,
    }
    c = client()
    if source.is_file():
        # An existing folder, or a name without a suffix, is a folder to write into.
        target = output / source.name if output.is_dir() or not output.suffix else output
        saved = translate_one(c, source, target, depth, request)
        if as_json:
            print_json({"input": str(source), "output": str(saved)})
        else:
            err.print(f"wrote {saved}", markup=False)
        return
    images = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{source}: no PNG or JPEG images in this folder")
    if output.exists() and not output.is_dir():
        raise ValueError(f"-o {output}: a folder is translated into a folder, and this is a file")
    if depth is not None and not depth.is_dir():
        raise ValueError(f"--depth {depth}: a folder of images takes a folder of depth maps")
    done: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    with progress_bar() as bar, ThreadPoolExecutor(workers) as pool:
        task = bar.add_task(f"translate {len(images)} images", total=len(images), status="", eta="")
        futures = {
            pool.submit(
                translate_one,
                c,
                img,
                output / img.relative_to(source),
                depth_for(img, source, depth),
                request,
            ): img
            for img in images
        }
        for future in as_completed(futures):
            img = futures[future]
            try:
                done.append({"input": str(img), "output": str(future.result())})
            except (Sim2RealError, JobFailed, OSError) as exc:
                failed.append({"input": str(img), "error": str(exc)})
                err.print(f"[red]failed:[/red] {escape(f'{img}: {exc}')}", highlight=False)
            bar.update(task, advance=1, status=f"{len(failed)} failed" if failed else "")
    if as_json:
        print_json({"translated": sorted(done, key=lambda d: d["input"]), "failed": failed})
    else:
        err.print(f"wrote {len(done)} images to {output}" + (f"; {len(failed)} failed" if failed else ""))
    if failed:
        raise typer.Exit(1)
