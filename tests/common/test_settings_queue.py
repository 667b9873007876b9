from services.common import contracts
from services.common.core.queue import broker_options, make_celery
from services.common.core.settings import Settings, env_names


def test_embedded_defaults_need_no_environment(tmp_path) -> None:
    s = Settings(home=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'sim2real.db').resolve()}"
    url, opts = broker_options(s)
    assert url == "sim2real-files://" and (tmp_path / "broker" / "out").is_dir()
    assert opts["control_folder"] == str((tmp_path / "broker" / "control").resolve())
    assert s.resolved_store_path == (tmp_path / "objects").resolve()


def test_redis_visibility_timeout_outlasts_long_jobs(tmp_path) -> None:
    s = Settings(home=tmp_path, broker_url="redis://127.0.0.1:6379/0", broker_key_prefix="p:")
    app = make_celery(s)
    assert app.conf.broker_transport_options["visibility_timeout"] >= 24 * 3600
    assert app.conf.broker_transport_options["global_keyprefix"] == "p:"
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_reject_on_worker_lost


def test_every_task_routes_to_a_known_queue(tmp_path) -> None:
    kinds = contracts.kinds().values()
    assert {spec.queue for spec in kinds} == set(contracts.queues())
    routes = make_celery(Settings(home=tmp_path)).conf.task_routes
    assert {k.task_name: k.queue for k in kinds} == {name: r["queue"] for name, r in routes.items()}


def test_secrets_do_not_leak_into_repr(monkeypatch) -> None:
    monkeypatch.setenv("SIM2REAL_API_KEY", "hunter2")
    monkeypatch.setenv("SIM2REAL_STORE_SECRET_KEY", "s3cret")
    s = Settings()
    assert "hunter2" not in repr(s) and "s3cret" not in repr(s)
    assert "SIM2REAL_API_KEY" in env_names()


def test_data_roots_split_like_path(tmp_path) -> None:
    s = Settings(data_roots=f"{tmp_path}/a:{tmp_path}/b:")
    assert s.allowed_data_roots == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]
