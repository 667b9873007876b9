"""The demo study's target fog is not the translator under test: by configuration (no shared code, other
definitions and parameters) and by output (the two renderings of one scene differ)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
from pathlib import Path

import numpy as np

import sim2real.demo.target_fog as target_fog
from services.common.datasets.bdd100k import iter_records
from services.common.methods.physics import FogParams
from services.translator.weather.atmosphere import CONTRAST_THRESHOLD_LN
from services.translator.weather.fog import render_fog
from sim2real.demo.study_data import render_scene, write_target
from sim2real.demo.target_fog import TargetFog, render_target_fog


def test_target_fog_shares_no_code_with_the_translator() -> None:
    tree = ast.parse(Path(inspect.getsourcefile(target_fog)).read_text())
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
        if (n.module if isinstance(n, ast.ImportFrom) else a.name)
    }
    assert not any(m.startswith("services") for m in imported), imported


def test_target_fog_is_configured_differently() -> None:
    # Another visibility definition: 2 % contrast (3.912 / V) against the translator's 5 % (2.996 / V).
    assert not math.isclose(-math.log(target_fog.CONTRAST_THRESHOLD), CONTRAST_THRESHOLD_LN, rel_tol=0.05)
    # Its own parameters (height profile, patchiness, camera), none of which the translator's fog has.
    own = {f.name for f in dataclasses.fields(TargetFog)}
    translator = set(FogParams.model_fields)
    assert {"scale_height_m", "patchiness", "blur_px", "shot_noise", "jpeg_quality"} <= own - translator


def test_the_two_renderings_of_one_scene_differ() -> None:
    rgb, depth_cm, _ = render_scene(320, 96, (7, 1))
    depth_m = np.where(depth_cm >= 65535, np.inf, depth_cm / 100.0).astype(np.float32)
    ours = render_target_fog(rgb, depth_cm, TargetFog(visibility_m=150.0, seed=3)).astype(np.float32)
    product = render_fog(rgb, FogParams(visibility_m=150.0, seed=3), depth_m).astype(np.float32)
    assert ours.shape == product.shape == rgb.shape
    assert np.abs(ours - product).mean() > 8.0
    # Not just an offset: the row profiles (fog against height and distance) differ in shape too.
    rows_ours, rows_product = ours.mean(axis=(1, 2)), product.mean(axis=(1, 2))
    assert np.corrcoef(rows_ours, rows_product)[0, 1] < 0.95 or np.abs(rows_ours - rows_product).max() > 15


def test_denser_target_fog_hides_more() -> None:
    rgb, depth_cm, _ = render_scene(320, 96, (7, 2))

    def render(v: float) -> np.ndarray:
        return render_target_fog(rgb, depth_cm, TargetFog(visibility_m=v, blur_px=0, seed=1)).astype(float)

    veil = render(1.0)  # all airlight
    away = [float(np.abs(render(v) - veil).mean()) for v in (40.0, 150.0, 1000.0)]
    assert away[0] < away[1] < away[2]


def test_target_images_record_their_visibility_for_ingest(tmp_path: Path) -> None:
    written = write_target(tmp_path, "val", 4, 160, 48, seed=0)
    records = list(iter_records(tmp_path, split="val"))
    assert written.images == len(records) == 4
    assert all(r.weather == "foggy" and 50.0 <= r.visibility_m <= 500.0 for r in records)
    assert len({r.visibility_m for r in records}) == 4
