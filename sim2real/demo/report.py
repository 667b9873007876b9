"""The demo study's report: Markdown (and a static HTML copy) with the experiment table, gap closure, power,
the evaluator's plot, sample source / translated / target images with their boxes, and the measured time.

It formats what the run measured and draws no conclusion the table does not state: a difference is called
significant only when both its seed interval and its image-bootstrap interval exclude 0.
"""

from __future__ import annotations

import html
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from sim2real.client import Client
from sim2real.demo.study import EVAL_CLASS, TRANSLATION, StudyOutcome, target_statement

SAMPLE_HEIGHT = 192


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _interval(lo: Any, hi: Any) -> str:
    return "–" if lo is None or hi is None else f"[{lo:.3f}, {hi:.3f}]"


def verdict(row: dict[str, Any]) -> str:
    """'significant' only when both the seeds' and the images' intervals of the difference exclude 0."""
    seed = (row.get("diff_seed_low"), row.get("diff_seed_high"))
    image = (row.get("diff_low"), row.get("diff_high"))
    if None in seed or None in image:
        return "no test (needs 2+ seeds and the image bootstrap)"
    if (seed[0] > 0 and image[0] > 0) or (seed[1] < 0 and image[1] < 0):
        return "significant"
    return "no significant difference"


def _boxes(image: np.ndarray, labels: dict[str, Any]) -> Image.Image:
    img = Image.fromarray(np.asarray(image)[..., :3].astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for b in labels.get("boxes", []):
        colour = (255, 60, 60) if b.get("occluded") else (60, 255, 60)
        draw.rectangle([b["x1"], b["y1"], b["x2"] - 1, b["y2"] - 1], outline=colour, width=2)
    scale = SAMPLE_HEIGHT / img.height
    return img.resize((round(img.width * scale), SAMPLE_HEIGHT))


def sample_strip(client: Client, outcome: StudyOutcome, out: Path, count: int = 3) -> Path:
    """Rows of source | translated | [cyclegan] | target images with their labelled boxes (green, red when
    occluded), saved as one PNG."""
    translated = outcome.datasets["translated"]
    target = outcome.datasets["target-val"]
    rows = []
    trans_images = [i.image_id for _, i in zip(range(count), client.dataset_images(translated), strict=False)]
    target_images = [i.image_id for _, i in zip(range(count), client.dataset_images(target), strict=False)]
    for k, image_id in enumerate(trans_images):
        tiles = [
            _boxes(
                client.dataset_image_source(translated, image_id),
                client.dataset_image_labels(translated, image_id, source=True),
            ),
            _boxes(
                client.dataset_image(translated, image_id), client.dataset_image_labels(translated, image_id)
            ),
        ]
        if "cyclegan" in outcome.datasets:
            cg = outcome.datasets["cyclegan"]
            try:
                tiles.append(
                    _boxes(client.dataset_image(cg, image_id), client.dataset_image_labels(cg, image_id))
                )
            except Exception:  # noqa: BLE001 - an image the translation skipped: leave its tile out
                pass
        if k < len(target_images):
            t = target_images[k]
            tiles.append(_boxes(client.dataset_image(target, t), client.dataset_image_labels(target, t)))
        rows.append(tiles)
    width = max(sum(t.width for t in r) + 4 * (len(r) - 1) for r in rows)
    sheet = Image.new("RGB", (width, len(rows) * (SAMPLE_HEIGHT + 4)), (255, 255, 255))
    for r, tiles in enumerate(rows):
        x = 0
        for t in tiles:
            sheet.paste(t, (x, r * (SAMPLE_HEIGHT + 4)))
            x += t.width + 4
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def markdown(outcome: StudyOutcome, plot: str | None, samples: str | None) -> str:
    """The report as Markdown (relative image links)."""
    s = outcome.settings
    exp = outcome.experiment or {}
    table = exp.get("table") or {}
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {platform.system()} {platform.release()}, {_cpus()} CPUs"
    lines = [
        "# sim2real demo study",
        "",
        f"Run {when} on {machine}; total {_minutes(outcome.timings.get('total'))} "
        f"({', '.join(f'{k} {_minutes(v)}' for k, v in outcome.timings.items() if k != 'total')}).",
        "",
        f"Settings: {s.images} source and {s.images} target training images, {s.eval_images} held-out target "
        f"images ({s.width}×{s.height}), {s.model} from scratch, imgsz {s.imgsz}, {s.epochs} epochs, batch "
        f"{s.batch}, seeds {list(range(s.seeds))}, class `{EVAL_CLASS}`, {s.n_boot} bootstrap resamples; "
        f"translation: {TRANSLATION['method']} {TRANSLATION['weather']} at the product's default parameters"
        + ("; plus a CycleGAN arm trained here" if s.cyclegan else "; CycleGAN arm off")
        + f". Experiment `{outcome.experiment_id}` on {outcome.url}.",
        "",
        "**Target domain.** " + target_statement(),
        "",
        "## mAP50 on the held-out target images",
        "",
        "| arm | slice | mean ± std | seeds' 95 % interval | images' 95 % interval | "
        f"difference to {table.get('baseline_arm', 'source')} (seeds; images) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.get("rows", []):
        diff = (
            "reference"
            if "diff" not in r
            else f"{r['diff']:+.3f} ({_interval(r.get('diff_seed_low'), r.get('diff_seed_high'))}; "
            f"{_interval(r.get('diff_low'), r.get('diff_high'))})"
        )
        lines.append(
            f"| {r['arm']} | {r['slice']} | {_f(r['mean'])} ± {_f(r['std'])} | "
            f"{_interval(r.get('seed_ci_low'), r.get('seed_ci_high'))} | "
            f"{_interval(r.get('ci_low'), r.get('ci_high'))} | {diff} | "
            f"{'' if 'diff' not in r else verdict(r)} |"
        )
    lines += [
        "",
        "## Gap closure: (arm − source) / (oracle − source)",
        "",
        "| arm | slice | gap closed | 95 % interval | oracle − source | note |",
        "|---|---|---|---|---|---|",
    ]
    for g in table.get("gap_closure", []):
        lines.append(
            f"| {g['arm']} | {g['slice']} | {_f(g.get('gap'))} | {_interval(g.get('gap_low'), g.get('gap_high'))} | "
            f"{_f(g.get('denominator'))} {_interval(g.get('denominator_low'), g.get('denominator_high'))} | "
            f"{g.get('note') or ''} |"
        )
    lines += [
        "",
        "## Power: how many seeds would settle it",
        "",
        "| arm | slice | seed variance | image variance | detectable difference now | "
        "seeds needed for the table's target | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in table.get("power", []):
        lines.append(
            f"| {p['arm']} | {p['slice']} | {_f(p.get('seed_variance'), 5)} | {_f(p.get('image_variance'), 5)} | "
            f"{_f(p.get('detectable_difference'))} | {p.get('seeds_needed') or '–'} "
            f"(target {p.get('target_difference')}) | {p.get('note') or ''} |"
        )
    if outcome.plans:
        lines += [
            "",
            "Seeds a paired test needs (slice `all`, α 0.05, power 0.8), by difference to detect:",
            "",
        ]
        for plan in outcome.plans:
            parts = []
            for row in plan.get("needed") or []:
                for n in row.get("needed", []):
                    parts.append(
                        f"{n['target']:.3f} → {n['seeds'] if n['seeds'] is not None else 'unreachable'}"
                        + (f" ({n['note']})" if n.get("note") else "")
                    )
            notes = [row["note"] for row in plan.get("needed") or [] if row.get("note")]
            text = "; ".join(parts) or "; ".join(notes) or plan.get("note", "")
            lines.append(f"- {plan['arm']} (measured {plan['measured_difference']:+.3f}): {text}")
    if plot:
        lines += ["", "## Plot", "", f"![mAP50 per arm and slice]({plot})"]
    if samples:
        lines += [
            "",
            "## Samples",
            "",
            "Left to right: source, source + physics fog"
            + (", source + CycleGAN" if "cyclegan" in outcome.datasets else "")
            + ", a held-out target image; labelled boxes green (red: occluded).",
            "",
            f"![samples]({samples})",
        ]
    if table.get("note"):
        lines += ["", "## How to read the table", "", table["note"]]
    return "\n".join(lines) + "\n"


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def to_html(md: str) -> str:
    """A plain static HTML rendering of the report's Markdown (tables, headings, images, paragraphs)."""
    out = [
        '<!doctype html><meta charset="utf-8"><title>sim2real demo study</title>',
        "<style>body{font:14px system-ui;max-width:1200px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style>",
    ]
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= {"-"}:
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells) + "</tr>")
                continue
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            out.append(f'<p><img alt="{html.escape(alt)}" src="{html.escape(src.rstrip(")"))}"></p>')
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"


def write_report(client: Client, outcome: StudyOutcome, out_dir: Path) -> dict[str, Path]:
    """report.md, report.html, plot.png, samples.png and outcome.json under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    plot = None
    if outcome.experiment_id and (outcome.experiment or {}).get("plot"):
        files["plot"] = client.experiment_plot(outcome.experiment_id, save_to=out_dir / "plot.png")
        plot = "plot.png"
    files["samples"] = sample_strip(client, outcome, out_dir / "samples.png")
    md = markdown(outcome, plot, "samples.png")
    files["markdown"] = out_dir / "report.md"
    files["markdown"].write_text(md, encoding="utf-8")
    files["html"] = out_dir / "report.html"
    files["html"].write_text(to_html(md), encoding="utf-8")
    files["outcome"] = out_dir / "outcome.json"
    files["outcome"].write_text(json.dumps(outcome.as_dict(), indent=1, default=str), encoding="utf-8")
    return files
