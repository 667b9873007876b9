"""The demo report states what was measured: a verdict only when both intervals exclude 0, every row of the
table, and the target model's statement."""

from __future__ import annotations

import json
from pathlib import Path

from sim2real.demo.report import markdown, to_html, verdict
from sim2real.demo.study import StudyOutcome, StudySettings

RECORDED = json.loads((Path(__file__).parents[2] / "web" / "recorded" / "study_report.json").read_text())


def test_verdict_needs_both_intervals_to_exclude_zero() -> None:
    both = {"diff_seed_low": 0.01, "diff_seed_high": 0.2, "diff_low": 0.02, "diff_high": 0.1}
    assert verdict(both) == "significant"
    assert verdict(
        {**both, "diff_seed_low": -0.3, "diff_seed_high": -0.1, "diff_low": -0.2, "diff_high": -0.05}
    ) == ("significant")
    assert verdict({**both, "diff_low": -0.01}) == "no significant difference"
    assert verdict({**both, "diff_seed_low": -0.05}) == "no significant difference"
    assert verdict({**both, "diff_seed_low": None}).startswith("no test")


def test_markdown_has_every_row_and_says_which_model_made_the_target() -> None:
    exp = RECORDED["experiment"]
    outcome = StudyOutcome(
        settings=StudySettings(images=10, epochs=1, seeds=1),
        url="http://x",
        datasets={},
        experiment_id=exp["id"],
        experiment=exp,
        timings={"generate": 1.0, "total": 60.0},
    )
    md = markdown(outcome, "plot.png", "samples.png")
    t = exp["table"]
    table_lines = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table_lines) == 3 + len(t["rows"]) + len(t["gap_closure"]) + len(t["power"])
    assert "sim2real.demo.target_fog" in md and "share no code" in md
    assert "total 1.0 min" in md
    html = to_html(md)
    assert html.count("<tr>") == len(table_lines) and '<img alt="samples" src="samples.png">' in html
