"""The `compare_evaluations` job: a paired bootstrap comparison of two evaluations, stored as a row."""

from __future__ import annotations

from services.common.contracts.compare_evaluations import CompareEvaluationsPayload, CompareEvaluationsResult
from services.common.core.db.models import Evaluation, EvaluationComparison
from services.common.core.db.session import session_scope
from services.common.evaluation import PAIRED_SETTINGS
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.evaluator.compare import compare_stored


def run(ctx: JobContext, p: CompareEvaluationsPayload) -> JobOutcome:
    with session_scope(ctx.db_url) as s:
        found = {}
        for name, eid in (("a", p.a), ("b", p.b)):
            ev = s.get(Evaluation, eid)
            if ev is None:
                raise JobError(f"{name}: evaluation {eid} no longer exists")
            found[name] = (ev.dataset_id, dict(ev.settings), ev.matches_key)
    (dataset_a, settings_a, key_a), (dataset_b, settings_b, key_b) = found["a"], found["b"]
    # The route checked these at submit; checked again in case the rows changed since.
    if dataset_a != dataset_b:
        raise JobError(f"evaluations {p.a} and {p.b} are on different datasets")
    differing = [k for k in PAIRED_SETTINGS if settings_a.get(k) != settings_b.get(k)]
    if differing:
        raise JobError(f"evaluations differ in {differing}; evaluate both with the same settings")
    if not key_a or not key_b:
        raise JobError("an evaluation has no stored detections to compare")
    ctx.progress(0.1, f"paired bootstrap over {p.n_boot} resamples")
    rows = compare_stored(
        ctx.store,
        key_a,
        key_b,
        settings_a["buckets"],
        settings_a["slice_by"],
        n_boot=p.n_boot,
        seed=p.seed,
    )
    comparison = EvaluationComparison(
        id=ctx.job_id,
        evaluation_a_id=p.a,
        evaluation_b_id=p.b,
        dataset_id=dataset_a,
        n_boot=p.n_boot,
        seed=p.seed,
        rows=rows,
        job_id=ctx.job_id,
    )
    result = CompareEvaluationsResult(
        comparison_id=ctx.job_id, dataset_id=dataset_a, diff={r["slice"]: r["diff"] for r in rows}
    )
    return JobOutcome(result, rows=[comparison])
