"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), against the real app on
Postgres and Redis.

Two properties hold for any request, valid or not: the answer is never a 5xx, and a refused request (4xx)
leaves no job row and no stored object (under `uploads/` or anywhere else). One app serves every operation
in turn, so a request that poisons later ones (a broken session, a half-written row) shows up as a later
failure. Derandomised: the same examples every run, 25 per operation (schemathesis' positive and negative
modes together); on top of the schema's own values, one scalar at a time may be swapped for what
generators rarely draw (NUL characters, integers past Postgres' int4/int8, huge floats).

Path and body ids are drawn partly from real rows seeded first (a kitti dataset ingested from a tiny tree,
its ingest job, an uploaded style, an imported translator model, an uploaded image set), and file fields
partly from real files, so that requests get past the 404s and the image decoding into the checks behind
them. Deletions run last, in their own test, so they cannot remove a seeded row from under the others.
Not seeded (their ids are always 404 here): detector models, evaluations, comparisons and experiments,
which need a trained detector or finished evaluation jobs.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.common.core.db.models import Job
from services.common.core.db.session import session_scope
from services.common.core.settings import Settings
from tests.common.dataset_fixtures import make_kitti
from tests.conftest import PG_ADMIN, REDIS_URL
from tests.scenes import png_bytes, road_scene

EXAMPLES = 25
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


class Seeded:
    """The app, its settings and store, and the ids of real rows the fuzzer may name."""

    def __init__(self, app: Any, settings_: Settings, ids: dict[str, list[str]], files: dict[str, bytes]):
        self.app = app
        self.settings = settings_
        self.store = app.state.store
        self.ids = ids
        self.files = files

    def jobs(self) -> int:
        with session_scope(self.settings.resolved_database_url) as s:
            return s.scalar(select(func.count()).select_from(Job)) or 0

    def objects(self) -> set[str]:
        return set(self.store.list(""))


def _generator_pth() -> bytes:
    import torch

    from services.translator.cyclegan.networks import GeneratorConfig, build_generator

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(build_generator(GeneratorConfig(ngf=8, n_blocks=2)).state_dict(), buf)
    return buf.getvalue()


def _zip_of(png: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", png)
    return buf.getvalue()


@pytest.fixture(scope="module")
def fuzz_pg_url() -> Iterator[str]:
    """A database of the fuzz suite's own: the rows it leaves must not reach other tests' listings."""
    name = f"sim2real_test_fuzz_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    yield url
    from services.common.core.db.session import get_engine

    get_engine(url).dispose()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def seeded(fuzz_pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    from fastapi.testclient import TestClient

    from services.api.main import create_app
    from services.common.core.db.migrate import upgrade
    from services.evaluator.worker import make_runtime

    root = tmp_path_factory.mktemp("fuzz")
    data = root / "data"
    make_kitti(data / "kitti")
    prefix = f"sim2real_test_{uuid.uuid4().hex[:10]}:"
    upgrade(fuzz_pg_url)
    settings_ = Settings(
        home=root / "home",
        database_url=fuzz_pg_url,
        broker_url=REDIS_URL,
        broker_key_prefix=prefix,
        data_roots=str(data),
    )
    app = create_app(settings_)
    png = png_bytes(road_scene(64, 48)[0])
    files = {"png": png, "zip": _zip_of(png), "pth": _generator_pth()}
    with TestClient(app) as c:
        r = c.post("/v1/datasets", json={"name": "kitti", "format": "kitti", "uri": f"file://{data}/kitti"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        runtime = make_runtime(settings_)
        runtime.run_job(job_id, runtime.handlers["ingest_dataset"])
        dataset_id = c.get(f"/v1/jobs/{job_id}").json()["result"]["dataset_id"]
        r = c.post("/v1/styles", data={"name": "s", "weather": "rain"}, files={"images": ("s.png", png)})
        assert r.status_code == 201, r.text
        style_id = r.json()["id"]
        r = c.post(
            "/v1/translator-models/import",
            data={"name": "g", "weather": "fog", "n_blocks": "2", "ngf": "8"},
            files={"file": ("g.pth", files["pth"])},
        )
        assert r.status_code == 201, r.text
        model_id = r.json()["id"]
        r = c.post("/v1/image-sets", files={"archive": ("a.zip", files["zip"])})
        assert r.status_code == 201, r.text
        set_id = r.json()["id"]
    ids = {
        "job_id": [job_id],
        "dataset_id": [dataset_id],
        "style_id": [style_id],
        "model_id": [model_id],
        "set_id": [set_id],
        "name": ["vgg19"],
    }
    SEEDED[:] = [Seeded(app, settings_, ids, files)]
    yield SEEDED[0]
    SEEDED.clear()
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


# Body fields that name a row, and the seeded ids they may take.
ID_FIELDS = {
    "dataset_id": "dataset_id",
    "eval_dataset_id": "dataset_id",
    "val_dataset_id": "dataset_id",
    "kitti_dataset_id": "dataset_id",
    "vkitti_dataset_id": "dataset_id",
    "train_dataset_id": "dataset_id",
    "model_id": "model_id",
    "style_id": "style_id",
}
# Multipart file fields, and the real file they may carry.
FILE_FIELDS = {"image": "png", "images": "png", "file": "pth", "archive": "zip", "weights": "pth"}


def _maybe(value: Any, replacement: Any) -> st.SearchStrategy:
    return st.sampled_from([value, replacement])


def _seeded_dict(value: dict[str, Any], seeded: Seeded) -> st.SearchStrategy:
    """`value` with each id field and file field either kept or swapped for a seeded one."""
    parts: dict[str, st.SearchStrategy] = {}
    for key, item in value.items():
        if key in ID_FIELDS:
            parts[key] = st.sampled_from([item, *seeded.ids[ID_FIELDS[key]]])
        elif key in FILE_FIELDS:
            real = seeded.files[FILE_FIELDS[key]]
            parts[key] = _maybe(item, [real] if isinstance(item, list) else real)
        elif key == "arms" and isinstance(item, list):
            parts[key] = st.tuples(
                *(_seeded_dict(a, seeded) if isinstance(a, dict) else st.just(a) for a in item)
            ).map(list)
        else:
            parts[key] = st.just(item)
    return st.fixed_dictionaries(parts)


# What a client may put where the schema says "string" or "integer" that generators rarely draw: NUL
# characters (Postgres text cannot hold them) and integers past Postgres' int4 / int8.
HOSTILE_STRINGS = ("\x00", "a\x00b")
HOSTILE_INTS = (-1, 2**31, 2**63, 10**30)
HOSTILE_FLOATS = (1e308, -1e308)


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, scalar) for every string, integer and float inside `value`; the keys of nested objects count
    as strings (the top level's are parameter and field names)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and path:
                yield (*path, ("key", k)), k
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    elif isinstance(value, str | float) or (isinstance(value, int) and not isinstance(value, bool)):
        yield path, value


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # a dict key
        return {(new if k == head[1] else k): v for k, v in value.items()}
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = new if not rest else _replaced(value[head], rest, new)
    return copy


def _hostile(leaf: Any) -> tuple:
    if isinstance(leaf, str):
        return HOSTILE_STRINGS
    return HOSTILE_INTS if isinstance(leaf, int) else HOSTILE_FLOATS


def _mutated(value: Any) -> st.SearchStrategy:
    """`value` as it is (half the time), or with one scalar inside it swapped for a hostile one."""
    leaves = list(_leaves(value)) if isinstance(value, dict | list) else []
    if not leaves:
        return st.just(value)

    def mutate(choice: tuple[tuple, Any] | None) -> st.SearchStrategy:
        if choice is None:
            return st.just(value)
        path, leaf = choice
        return st.sampled_from(_hostile(leaf)).map(lambda new: _replaced(value, path, new))

    return st.one_of(st.just(None), st.sampled_from(leaves)).flatmap(mutate)


def _openapi() -> dict[str, Any]:
    """The schema the app serves (it does not depend on the settings but for an API key, unset here)."""
    from services.api.main import create_app

    home = tempfile.mkdtemp(prefix="sim2real-fuzz-schema-")
    try:
        return create_app(Settings(home=Path(home))).openapi()
    finally:
        shutil.rmtree(home, ignore_errors=True)


# Filled by the `seeded` fixture before any example is drawn (generation happens inside the tests).
SEEDED: list[Seeded] = []
schema = schemathesis.openapi.from_dict(_openapi())


@schema.hook
def flatmap_path_parameters(context, path_parameters):  # noqa: ANN001, ANN201
    # Explicit examples in the schema are drawn at collection, before the `seeded` fixture has run.
    if not SEEDED or not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    ids = SEEDED[0].ids
    return st.fixed_dictionaries(
        {k: st.sampled_from([v, *ids[k]]) if k in ids else st.just(v) for k, v in path_parameters.items()}
    ).flatmap(_mutated)


@schema.hook
def flatmap_query(context, query):  # noqa: ANN001, ANN201
    return _mutated(query)


@schema.hook
def flatmap_body(context, body):  # noqa: ANN001, ANN201
    if not SEEDED:
        return st.just(body)
    return _seeded_dict(body, SEEDED[0]).flatmap(_mutated) if isinstance(body, dict) else _mutated(body)


def _check(case: Any, seeded: Seeded) -> None:
    jobs, objects = seeded.jobs(), seeded.objects()
    try:
        response = case.call(app=seeded.app, timeout=30)
    except Exception as exc:  # the app raised instead of answering: a 500 from a server
        pytest.fail(f"{case.method} {case.formatted_path} raised {str(exc)[:500]}\n{case.as_curl_command()}")
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.content[:500]!r}\n"
        f"{case.as_curl_command()}"
    )
    if 400 <= response.status_code < 500:
        assert seeded.jobs() == jobs, f"a refused request left a job row: {response.text[:300]}"
        left = seeded.objects() - objects
        assert not left, f"a refused request left objects {sorted(left)[:5]}: {response.text[:300]}"


@schema.exclude(method="DELETE").parametrize()
@FUZZ_SETTINGS
def test_no_request_causes_a_5xx_or_leaves_a_refused_job(case: Any, seeded: Seeded) -> None:
    _check(case, seeded)


@schema.include(method="DELETE").parametrize()
@FUZZ_SETTINGS
def test_no_deletion_causes_a_5xx(case: Any, seeded: Seeded) -> None:
    _check(case, seeded)


def test_seeded_rows_are_still_readable(seeded: Seeded) -> None:
    """After every operation was fuzzed (deletions too), the app still answers plain requests."""
    from fastapi.testclient import TestClient

    with TestClient(seeded.app) as c:
        assert c.get("/v1/datasets").status_code == 200
        assert c.get("/v1/jobs").status_code == 200
        assert c.get(f"/v1/jobs/{seeded.ids['job_id'][0]}").status_code == 200
