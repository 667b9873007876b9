"""The `experiment` job: train every arm × seed, evaluate each with identical settings, build the table.

It orchestrates rather than computes: each step creates the child jobs that are due (trainings on the
detector queue, evaluations on this one), then parks until a child finishes. Checkpoints are chosen
by ultralytics on each training set's own validation split (`best.pt`), never on the evaluation set.
"""

from __future__ import annotations

import statistics
import uuid
from typing import Any

import numpy as np
from sqlalchemy import select, update

from services.common import power
from services.common.contracts.common import EvaluationSettings
from services.common.contracts.evaluate import EvaluatePayload
from services.common.contracts.experiment import ExperimentJobPayload, ExperimentResult
from services.common.contracts.robustness import RobustnessPayload
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


def run(ctx: JobContext, p: ExperimentJobPayload) -> JobOutcome:
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
    curves = robustness_curves(ctx, p, runs)
    table = build_table(ctx, p, runs)
    if curves:
        table["robustness"] = curves
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


def robustness_curves(ctx: JobContext, p: ExperimentJobPayload, runs: list[dict[str, Any]]) -> dict[str, str]:
    """Arm name -> robustness curve id of its first seed's detector (child `robustness` jobs), when asked.

    The first arm's curve runs alone, then the others: they find its rendered sets in the cache instead of
    rendering the same levels again at the same time."""
    if p.robustness is None:
        return {}
    assert p.robustness_parameter is not None and p.robustness_renders is not None
    settings = p.model_dump(include=set(EvaluationSettings.model_fields))
    first = p.seeds[0]
    curves: dict[str, str] = {}
    waiting: list[str] = []
    for a, arm in enumerate(p.arms):
        if a == 1 and waiting:
            break
        (run,) = [r for r in runs if r["arm"] == arm.name and r["seed"] == first]
        job = ctx.submit_child(
            "robustness",
            RobustnessPayload(
                **settings,
                **p.robustness.model_dump(),
                detector_model_id=run["train_job"],
                dataset_id=p.eval_dataset_id,
                parameter=p.robustness_parameter,
                renders=p.robustness_renders,
            ),
            child_id(ctx.job_id, "robustness", a, first),
        )
        _check(ctx, job, f"robustness curve of arm {arm.name!r}")
        if job.status == "succeeded":
            curves[arm.name] = job.id
        else:
            waiting.append(f"{arm.name} ({job.message or job.status})")
    if len(curves) < len(p.arms):
        raise JobWaiting(
            f"runs done; robustness curves {len(curves)}/{len(p.arms)}: " + "; ".join(waiting),
            0.9 + 0.1 * len(curves) / len(p.arms),
            delay_s=60,
        )
    return curves


def _mean_interval(intervals: list[tuple[float | None, float | None]]) -> tuple[float | None, float | None]:
    if not intervals or any(lo is None or hi is None for lo, hi in intervals):
        return None, None
    return statistics.fmean(lo for lo, _ in intervals), statistics.fmean(hi for _, hi in intervals)  # type: ignore[misc]


def build_table(ctx: JobContext, p: ExperimentJobPayload, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm and slice: mean ± std over seeds of mAP50, the mean bootstrap interval, and the paired
    difference to the baseline arm (same seed, same images); per slice: gap closure against the oracle arm
    and the power analysis of each arm's difference (`services.evaluator.study_stats`,
    `services.common.power`)."""
    from services.evaluator.bootstrap import percentile_interval
    from services.evaluator.evaluate import evaluate
    from services.evaluator.persist import load_detection_set
    from services.evaluator.study_stats import gap_closure, power_variances, resampled_map50, seed_resampled

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
    base = arms.index(p.baseline_arm or arms[0])
    oracle = arms.index(p.oracle_arm) if p.oracle_arm else None
    evals = {(r["arm"], r["seed"]): r["evaluation_id"] for r in runs}
    # Each evaluation's ranked streams per slice, for resampling every evaluation on the same images.
    grid = [
        [
            evaluate(
                load_detection_set(ctx.store, keys.evaluation_detections(evals[(arm, seed)])),
                p.buckets,
                p.slice_by,
                n_boot=0,
            )
            for seed in seeds
        ]
        for arm in arms
    ]
    slices = [sl.name for sl in grid[0][0].slices]
    rows, gaps, powers = [], [], []
    for pos, sl in enumerate(slices):
        points = np.array([[metrics[(arm, seed)][sl][0] for seed in seeds] for arm in arms])
        resampled = resampled_map50(
            [[grid[a][k].streams[pos] for k in range(len(seeds))] for a in range(len(arms))],
            p.n_boot,
            p.bootstrap_seed,
            pos,
        )
        for a, arm in enumerate(arms):
            vals = [float(v) for v in points[a]]
            lows = [metrics[(arm, seed)][sl][1] for seed in seeds]
            highs = [metrics[(arm, seed)][sl][2] for seed in seeds]
            seed_low, seed_high = t_interval(vals)
            row = {
                "arm": arm,
                "slice": sl,
                "values": {str(seed): v for seed, v in zip(seeds, vals, strict=True)},
                "mean": statistics.fmean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                "seed_ci_low": seed_low,
                "seed_ci_high": seed_high,
                "ci_low": statistics.fmean(lows) if None not in lows else None,
                "ci_high": statistics.fmean(highs) if None not in highs else None,
            }
            if a != base:
                per_seed = [float(d) for d in points[a] - points[base]]
                row["diff_values"] = {str(seed): d for seed, d in zip(seeds, per_seed, strict=True)}
                row["diff"] = statistics.fmean(per_seed)
                row["diff_seed_low"], row["diff_seed_high"] = t_interval(per_seed)
                row["diff_low"], row["diff_high"] = _mean_interval(
                    [
                        percentile_interval(resampled[a, k] - resampled[base, k], estimate=per_seed[k])
                        for k in range(len(seeds))
                    ]
                    if p.n_boot
                    else []
                )
                powers.append(
                    {"arm": arm, "slice": sl, **power_row(p, *power_variances(points, resampled, a, base))}
                )
            rows.append(row)
        if oracle is not None:
            rng = np.random.default_rng([p.bootstrap_seed, pos])
            replicates = seed_resampled(resampled, rng) if p.n_boot else None
            for g in gap_closure(points.mean(axis=1), replicates, base, oracle):
                gaps.append({"arm": arms[g.pop("arm_index")], "slice": sl, **g})
    return {
        "arms": arms,
        "seeds": seeds,
        "slices": slices,
        "baseline_arm": arms[base],
        "oracle_arm": arms[oracle] if oracle is not None else None,
        "rows": rows,
        "gap_closure": gaps,
        "power": powers,
        "finished_at": utcnow().isoformat(),
        "note": "mean and std over seeds (training randomness); seed_ci = 95% Student-t interval of that mean "
        "(needs 2+ seeds); ci = 95% bootstrap interval over evaluation images, averaged over seeds (sampling "
        "of the evaluation set); diff = mAP50 minus the baseline arm's, per seed on the same images "
        "(diff_values), with diff_seed_* its t-interval over seeds and diff_low/high the paired image "
        "bootstrap interval averaged over seeds. A difference is robust when both intervals exclude 0. "
        "gap_closure (with an oracle arm): (arm − baseline) / (oracle − baseline) of the seed means, with a "
        "95% bootstrap interval resampling images (one resample shared by every evaluation) and seeds (drawn "
        "with replacement, shared by every arm) jointly; no ratio when the denominator's interval includes 0. "
        "power: for a two-sided paired test at alpha 0.05 with 80% power over n seeds, the smallest "
        "detectable difference (t[0.975,n-1] + t[0.8,n-1]) * sqrt(seed_variance / n + image_variance), "
        "and the seeds needed for target_difference (POST /v1/experiments/plan sizes other targets).",
    }


def power_row(p: ExperimentJobPayload, seed_var: float | None, image_var: float | None) -> dict[str, Any]:
    """The power analysis of one arm's paired difference on one slice (formula: services.common.power)."""
    n = len(p.seeds)
    out: dict[str, Any] = {
        "seed_variance": seed_var,
        "image_variance": image_var,
        "seeds": n,
        "alpha": power.ALPHA,
        "power": power.POWER,
        "target_difference": p.target_difference,
        "detectable_difference": None,
        "seeds_needed": None,
        "note": None,
    }
    if seed_var is None or image_var is None:
        out["note"] = "needs 2+ seeds (between-seed variance) and n_boot >= 2 (image variance)"
        return out
    out["detectable_difference"] = power.detectable_difference(seed_var, image_var, n)
    out["seeds_needed"] = power.seeds_needed(seed_var, image_var, p.target_difference)
    if out["seeds_needed"] is None:
        out["note"] = power.unreachable_note(image_var)
    return out
