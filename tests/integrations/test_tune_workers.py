"""Several ``idarts tune`` workers with the same tune file on one storage never replay trials.

The tune file carries a fixed ``sampler.seed`` (as ``examples/optuna/tune.yaml`` does); each
trial draws from ``(seed, trial number)``, so two processes started together on one study give
2 x n distinct parameter sets, on SQLite and on a real PostgreSQL server, also as two "hosts"
(separate working directories and outputs, one PostgreSQL URL).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import requires_nni
from tests.integrations.test_optuna import write_tune
from tests.integrations.workers import run_workers

optuna = pytest.importorskip(
    "optuna", reason="optuna not installed: pip install 'idarts-plugin[optuna]'"
)
ROOT = Path(__file__).resolve().parents[2]
N_TRIALS = 3


def _tune_file(tmp_path: Path) -> Path:
    return write_tune(
        tmp_path,
        {
            "optimizer.lr": {"type": "float", "low": 0.005, "high": 0.1, "log": True},
            "strategy.neumann_steps": {"type": "int", "low": 0, "high": 3},
        },
        sampler={"name": "tpe", "seed": 0},
        pruner={"name": "none"},
        overrides=["trainer.epochs=1", "trainer.limit_batches=2", "trainer.threads=1"],
    )


def _assert_no_replay(trials: list) -> None:
    sets = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(sets)) == len(sets), f"replayed parameter sets: {sets}"
    lrs = [t.params["optimizer.lr"] for t in trials]
    assert len(set(lrs)) == len(lrs), lrs


@requires_nni
@pytest.mark.slow
def test_two_workers_on_sqlite_never_replay(tmp_path):
    path = _tune_file(tmp_path)
    trials = run_workers([path, path], f"sqlite:///{tmp_path / 'study.db'}", n_trials=N_TRIALS)
    _assert_no_replay(trials)


@requires_nni
@pytest.mark.slow
def test_workers_on_two_hosts_share_one_postgres_study(tmp_path):
    """Two "hosts": own working directory, tune file and output each; one PostgreSQL URL.

    (Also the test of two workers on one PostgreSQL study: no parameter set replayed, each
    trial in its own run directory.)"""
    from tests.integrations.test_optuna_services import postgres_server

    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    for host in hosts:
        host.mkdir()
    with postgres_server() as url:
        trials = run_workers([_tune_file(host) for host in hosts], url, n_trials=2)
    _assert_no_replay(trials)
    for host in hosts:  # each host ran its own trials and wrote them under its own directory
        mine = [t for t in trials if Path(t.user_attrs["run_dir"]).is_relative_to(host)]
        assert len(mine) == 2, [t.user_attrs["run_dir"] for t in trials]
        assert all(Path(t.user_attrs["run_dir"], "summary.json").is_file() for t in mine)


def _draws(seed_spec: dict, n: int, storage: str, study: str) -> list[float]:
    from idarts_plugin.integrations.optuna import make_sampler

    s = optuna.create_study(
        study_name=study,
        storage=storage,
        load_if_exists=True,
        sampler=make_sampler(seed_spec, multi_objective=False),
    )
    s.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=n)
    return [t.params["x"] for t in s.trials]


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes"])
def test_a_seeded_sampler_is_reproducible_and_does_not_replay_on_a_shared_study(name, tmp_path):
    spec = {"name": name, "seed": 0}
    if name == "cmaes":
        pytest.importorskip("cmaes", reason="pip install 'idarts-plugin[optuna]'")
    first = _draws(spec, 4, f"sqlite:///{tmp_path / 'a.db'}", "s")
    again = _draws(spec, 4, f"sqlite:///{tmp_path / 'b.db'}", "s")
    assert first == again  # reproducible on a fresh study
    shared = f"sqlite:///{tmp_path / 'c.db'}"
    _draws(spec, 4, shared, "s")
    both = _draws(spec, 4, shared, "s")  # a second worker (or a rerun) joins the study
    assert len(set(both)) == 8, both


def test_unseeded_optuna_sampler_replays_without_the_wrapper(tmp_path):
    """The failure this guards against: the same seed in two workers replays the draws."""
    out = []
    for _ in range(2):
        s = optuna.create_study(
            study_name="r",
            storage=f"sqlite:///{tmp_path / 'r.db'}",
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=0),
        )
        s.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    out = [t.params["x"] for t in s.trials]
    assert out[:2] == out[2:]


@pytest.mark.parametrize(
    ("message", "retried"),
    [
        ("table studies already exists", True),  # SQLite: another worker made the tables
        ("database is locked", True),
        ("could not connect to server", False),  # a real error is not retried
    ],
)
def test_opening_a_storage_retries_only_the_schema_race(monkeypatch, message, retried):
    import sqlalchemy.exc

    from idarts_plugin.integrations import optuna as ours

    calls = []

    def flaky(url, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {}, Exception(message))
        return "storage"

    monkeypatch.setattr(optuna.storages, "RDBStorage", flaky)
    monkeypatch.setattr("time.sleep", lambda s: None)
    if retried:
        assert ours.open_storage("sqlite:///x.db") == "storage" and len(calls) == 2
    else:
        with pytest.raises(sqlalchemy.exc.OperationalError):
            ours.open_storage("sqlite:///x.db")
        assert len(calls) == 1
