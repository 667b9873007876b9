"""The `experiment` job: train every arm × seed, evaluate each with identical settings, build the table.

It orchestrates rather than computes: each step creates the child jobs that are due (trainings on the
detector queue, evaluations on this one), then parks until a child finishes. Checkpoints are chosen
by ultralytics on each training set's own validation split (`best.pt`), never on the evaluation set.
"""

from __future__ import annotations

import statistics
import uuid
from typing import Any

from sqlalchemy import select, update

from services.common.contracts.common import EvaluationSettings
from services.common.contracts.evaluate import EvaluatePayload
from services.common.contracts.experiment import ExperimentPayload, ExperimentResult
from services.common.contracts.train_detector import TrainDetectorPayload
from services.common.core import keys
from services.common.core.db.models import EvaluationMetric, Experiment, Job, utcnow
from services.common.core.db.session import session_scope
from services.common.runtime.lifecycle import JobError, JobWaiting, cancel_children
from services.common.runtime.worker import JobContext, JobOutcome

NAMESPACE = uuid.UUID("6f1c5a8e-3d4b-4c2a-9e8f-5b7a1d2c3e4f")


def child_id(experiment_id: str, role: str, arm: int, seed: int) -> str:
    """Deterministic, so a re-run step finds the children it already made instead of duplicating them."""
    return uuid.uuid5(NAMESPACE, f"{experiment_id}:{role}:{arm}:{seed}").hex


def _check(ctx: JobContext, job: Job, what: str) -> None:
    """A failed child fails the experiment, and its unfinished siblings are cancelled with it."""
    if job.status in ("failed", "cancelled"):
        with session_scope(ctx.db_url) as s:
            cancel_children(s, ctx.job_id)  # one UPDATE; their own children follow at the next sweep
        raise JobError(f"{what} failed: {job.error}" if job.status == "failed" else f"{what} was cancelled")


def t_interval(values: list[float], level: float = 0.95) -> tuple[float | None, float | None]:
    """Student-t interval of the mean over seeds (None with a single seed)."""
    if len(values) < 2:
        return None, None
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, len(values) - 1)) * statistics.stdev(values) / len(values) ** 0.5
    mean = statistics.fmean(values)
    return mean - half, mean + half


def run(ctx: JobContext, p: ExperimentPayload) -> JobOutcome:
    exp_id = ctx.job_id
    runs: list[dict[str, Any]] = []
    settings = p.model_dump(include=set(EvaluationSettings.model_fields))
    for a, arm in enumerate(p.arms):
        for seed in p.seeds:
            what = f"arm {arm.name!r} seed {seed}"
            train = ctx.submit_child(
                "train_detector",
                TrainDetectorPayload(
                    **p.model.model_dump(),
                    dataset_id=arm.train_dataset_id,
                    seed=seed,
                    name=f"{p.name} / {arm.name} / seed {seed}"[:255],
                ),
                child_id(exp_id, "train", a, seed),
            )
            _check(ctx, train, f"training of {what}")
            run = {
                "arm": arm.name,
                "seed": seed,
                "train_job": train.id,
                "train_status": train.status,
                "train_progress": train.progress,
                "eval_job": None,
                "eval_status": None,
            }
            if train.status == "succeeded":
                ev = ctx.submit_child(
                    "evaluate",
                    EvaluatePayload(
                        **settings, dataset_id=p.eval_dataset_id, detector_model_id=train.id, seed=0
                    ),
                    child_id(exp_id, "eval", a, seed),
                )
                _check(ctx, ev, f"evaluation of {what}")
                run.update(
                    eval_job=ev.id,
                    eval_status=ev.status,
                    evaluation_id=ev.id if ev.status == "succeeded" else None,
                )
            runs.append(run)
    with session_scope(ctx.db_url) as s:
        s.execute(update(Experiment).where(Experiment.id == exp_id).values(status="running", runs=runs))
    pending = [r for r in runs if r["eval_status"] != "succeeded"]
    if pending:
        done = sum(
            (r["train_progress"] or 0) * 0.8 + (0.2 if r["eval_status"] == "succeeded" else 0) for r in runs
        )
        active = [r for r in runs if r["train_status"] == "running" or r["eval_status"] == "running"]
        doing = "; ".join(
            f"{r['arm']} seed {r['seed']} "
            + ("evaluating" if r["eval_status"] == "running" else f"training {r['train_progress']:.0%}")
            for r in active
        )
        raise JobWaiting(
            f"{len(runs) - len(pending)}/{len(runs)} runs done" + (f"; {doing}" if doing else ""),
            done / len(runs),
            delay_s=60,
        )
    table = build_table(ctx, p, runs)
    ctx.outputs(keys.experiment_prefix(exp_id))
    from services.evaluator.plot import plot_experiment

    ctx.store.put_bytes(keys.experiment_plot(exp_id), plot_experiment(table["rows"]), "image/png")

    def write(session) -> None:  # noqa: ANN001
        session.execute(
            update(Experiment)
            .where(Experiment.id == exp_id)
            .values(status="succeeded", runs=runs, table=table)
        )

    return JobOutcome(ExperimentResult(experiment_id=exp_id, runs=len(runs)), write=write)


def build_table(ctx: JobContext, p: ExperimentPayload, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """mean ± std over seeds of mAP50 per arm and slice, the mean bootstrap interval, and the paired
    bootstrap difference to the first arm (same seed, same evaluation images), averaged over seeds."""
    from services.evaluator.compare import compare_stored

    with session_scope(ctx.db_url) as s:
        metrics = {}
        for r in runs:
            rows = s.scalars(
                select(EvaluationMetric).where(
                    EvaluationMetric.evaluation_id == r["evaluation_id"], EvaluationMetric.class_name == "all"
                )
            )
            metrics[(r["arm"], r["seed"])] = {m.slice: (m.ap50, m.ap50_low, m.ap50_high) for m in rows}
    arms = [a.name for a in p.arms]
    seeds = list(p.seeds)
    slices = list(metrics[(arms[0], seeds[0])])
    evals = {(r["arm"], r["seed"]): r["evaluation_id"] for r in runs}
    diffs: dict[tuple[str, int], dict[str, dict]] = {}
    for arm in arms[1:]:
        for seed in seeds:
            paired = compare_stored(
                ctx.store,
                keys.evaluation_detections(evals[(arms[0], seed)]),
                keys.evaluation_detections(evals[(arm, seed)]),
                p.buckets,
                p.slice_by,
                n_boot=p.n_boot,
                seed=seed,
            )
            diffs[(arm, seed)] = {d["slice"]: d for d in paired}
    rows = []
    for arm in arms:
        for sl in slices:
            values = {str(seed): metrics[(arm, seed)][sl][0] for seed in seeds}
            vals = list(values.values())
            lows = [metrics[(arm, seed)][sl][1] for seed in seeds]
            highs = [metrics[(arm, seed)][sl][2] for seed in seeds]
            seed_low, seed_high = t_interval(vals)
            row = {
                "arm": arm,
                "slice": sl,
                "values": values,
                "mean": statistics.fmean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                "seed_ci_low": seed_low,
                "seed_ci_high": seed_high,
                "ci_low": statistics.fmean(lows) if None not in lows else None,
                "ci_high": statistics.fmean(highs) if None not in highs else None,
            }
            if arm != arms[0]:
                ds = [diffs[(arm, seed)][sl] for seed in seeds]
                per_seed = [d["diff"] for d in ds]
                row["diff_values"] = {str(seed): d for seed, d in zip(seeds, per_seed, strict=True)}
                row["diff"] = statistics.fmean(per_seed)
                row["diff_seed_low"], row["diff_seed_high"] = t_interval(per_seed)
                row["diff_low"] = (
                    statistics.fmean(d["diff_low"] for d in ds) if ds[0]["diff_low"] is not None else None
                )
                row["diff_high"] = (
                    statistics.fmean(d["diff_high"] for d in ds) if ds[0]["diff_high"] is not None else None
                )
            rows.append(row)
    return {
        "arms": arms,
        "seeds": seeds,
        "slices": slices,
        "rows": rows,
        "finished_at": utcnow().isoformat(),
        "note": "mean and std over seeds (training randomness); seed_ci = 95% Student-t interval of that mean "
        "(needs 2+ seeds); ci = 95% bootstrap interval over evaluation images, averaged over seeds (sampling "
        "of the evaluation set); diff = mAP50 minus the first arm's, per seed on the same images "
        "(diff_values), with diff_seed_* its t-interval over seeds and diff_low/high the paired image "
        "bootstrap interval averaged over seeds. A difference is robust when both intervals exclude 0.",
    }
