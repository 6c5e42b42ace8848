"""An NNI tuner that asks Optuna's samplers (TPE, CMA-ES, random) for each trial's parameters.

NNI's own tuners are frozen with the archived project; Optuna's samplers are maintained. This
tuner translates NNI's search space into Optuna distributions and drives a study through
ask-and-tell: ``generate_parameters`` asks, the trial's final result is told, and a failed
or killed trial is told as FAIL, so the sampler does not treat it as finished.

Register it once per environment (``nnictl`` looks algorithms up by name)::

    idarts nni-register            # = nnictl algo register --meta <this package>/nni_algorithms.yml

then use it in an nnictl config::

    tuner:
      name: OptunaTPE              # or OptunaCMAES, OptunaRandom, Optuna (sampler in classArgs)
      classArgs:
        optimize_mode: maximize
        seed: 0
        storage: sqlite:////abs/path/nni-study.db   # optional: watch it in optuna-dashboard
        study_name: my-experiment

Search-space types: ``choice`` (also nested, with ``_name``), ``randint``, ``uniform``,
``quniform``, ``loguniform``, ``qloguniform``. The ``normal`` family is refused with a clear
error: Optuna's samplers need bounded ranges.

Example:
    >>> tuner = OptunaTuner(sampler="random", seed=0)            # doctest: +SKIP
    >>> tuner.update_search_space({"strategy.neumann_steps": {"_type": "randint",
    ...                                                      "_value": [0, 6]}})  # doctest: +SKIP
    >>> tuner.generate_parameters(0)                            # doctest: +SKIP
    {'strategy.neumann_steps': 3}
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

from nni.tuner import Tuner

from ..objectives import DEFAULT_OBJECTIVE
from .optuna import SAMPLERS, _import_optuna, make_sampler, name_metrics, open_storage
from .trials import decode_architecture, objective_names, record_search

__all__ = ["SEARCH_SPACE_TYPES", "NniManager", "OptunaTuner", "SearchSpaceError"]

_logger = logging.getLogger(__name__)

SEARCH_SPACE_TYPES = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform")
_UNBOUNDED = ("normal", "qnormal", "lognormal", "qlognormal")
_PRIMITIVE = (str, int, float, bool, type(None))


class SearchSpaceError(ValueError):
    """An NNI search-space entry this tuner cannot translate; the message names the key."""


def _check_space(space: Mapping[str, Any], where: str = "") -> None:
    if not isinstance(space, Mapping):
        raise SearchSpaceError(f"search space{where} must be a JSON object, got {space!r}")
    for key, spec in space.items():
        name = f"{where}{key}"
        if key == "_name":
            continue
        if not isinstance(spec, Mapping) or "_type" not in spec or "_value" not in spec:
            raise SearchSpaceError(
                f"search-space key {name!r}: expected {{'_type': ..., '_value': ...}}, got {spec!r}"
            )
        kind, value = spec["_type"], spec["_value"]
        if kind in _UNBOUNDED:
            raise SearchSpaceError(
                f"search-space key {name!r}: type {kind!r} is unbounded and Optuna's samplers "
                "need bounded ranges; use 'uniform' (e.g. [mu - 3*sigma, mu + 3*sigma]) or "
                "'loguniform' instead"
            )
        if kind not in SEARCH_SPACE_TYPES:
            raise SearchSpaceError(
                f"search-space key {name!r}: unknown type {kind!r}; "
                f"valid: {', '.join(SEARCH_SPACE_TYPES)}"
            )
        if kind == "choice":
            if not isinstance(value, list) or not value:
                raise SearchSpaceError(f"search-space key {name!r}: choice needs a non-empty list")
            for option in value:
                if isinstance(option, Mapping):
                    if "_name" not in option:
                        raise SearchSpaceError(
                            f"search-space key {name!r}: a nested choice needs '_name' in {option!r}"
                        )
                    _check_space(option, where=f"{name}/{option['_name']}/")
            continue
        need = 3 if kind.startswith("q") else 2
        if (
            not isinstance(value, list)
            or len(value) != need
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise SearchSpaceError(
                f"search-space key {name!r}: {kind} needs {need} numbers "
                f"({'[low, high, q]' if need == 3 else '[low, high]'}), got {value!r}"
            )
        low, high = value[0], value[1]
        if not low < high:
            raise SearchSpaceError(f"search-space key {name!r}: needs low < high, got {value!r}")
        if "log" in kind and low <= 0:
            raise SearchSpaceError(f"search-space key {name!r}: {kind} needs low > 0, got {low}")
        if need == 3 and value[2] <= 0:
            raise SearchSpaceError(f"search-space key {name!r}: q must be > 0, got {value[2]}")


class NniManager:
    """What the tuner reads from the NNI manager's REST API: a trial's intermediate results.

    NNI tells a tuner only a trial's *final* result; its intermediate results (one per
    epoch) and its record (host, output directory) stay with the NNI manager, which serves
    them on ``/api/v1/nni``. The tuner runs beside the manager and is started with
    ``NNI_TUNER_COMMAND_CHANNEL=ws://localhost:<port>[/<prefix>]/tuner``, so it reaches the
    manager on that same address, whatever training service (local, remote, Kubernetes)
    ran the trial; no file of the trial's is read.

    Args:
        url: the REST root, e.g. ``http://localhost:8080/api/v1/nni``.
        timeout: seconds per request.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def from_environment(cls) -> NniManager | None:
        """The manager this tuner was started by, or ``None`` outside an NNI experiment."""
        channel = os.environ.get("NNI_TUNER_COMMAND_CHANNEL", "")
        if not channel.startswith(("ws://", "wss://")) or not channel.endswith("/tuner"):
            return None
        return cls("http" + channel[2 : -len("/tuner")] + "/api/v1/nni")

    def _get(self, path: str) -> Any:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/{path}", timeout=self.timeout) as reply:
            return json.load(reply)

    def intermediate_results(self, trial_job_id: str) -> list[dict[str, Any]]:
        """The trial's intermediate results (dicts), in the order the trial reported them."""
        import json

        rows = []
        for record in self._get(f"metric-data/{trial_job_id}"):
            if record.get("type") != "PERIODICAL":
                continue
            value = json.loads(record["data"])
            if isinstance(value, str):  # NNI stores the trial's JSON as a JSON string
                value = json.loads(value)
            rows.append((int(record.get("sequence", 0)), value))
        return [value for _, value in sorted(rows, key=lambda r: r[0]) if isinstance(value, dict)]

    def trial_location(self, trial_job_id: str) -> str | None:
        """Where the trial ran, as NNI reports it (``logPath``: host and directory)."""
        info = self._get(f"trial-jobs/{trial_job_id}")
        path = info.get("logPath") if isinstance(info, Mapping) else None
        return str(path) if path else None


def _quantize(value: float, q: float, low: float, high: float) -> float | int:
    out = min(max(round(value / q) * q, low), high)
    if all(float(x).is_integer() for x in (q, low, high)):
        return int(out + 0.5 if out >= 0 else out - 0.5)
    return round(float(out), 12)  # 0.6000000000000001 -> 0.6


class OptunaTuner(Tuner):
    """NNI tuner backed by an Optuna sampler (see the module docstring).

    Args:
        sampler: ``tpe`` | ``cmaes`` | ``random`` (or a dict ``{"name": ..., **options}``).
        optimize_mode: ``maximize`` (default) or ``minimize`` the final ``default`` metric.
        seed: the sampler's seed.
        storage: an Optuna storage URL to keep the study in (default: in memory).
        study_name: the study's name in ``storage`` (default: ``nni-<experiment id>``).
        objective: the name of the trials' ``default`` metric (the study's metric name; the
            trial's ``--objective``).

    Raises:
        ValueError: an unknown sampler or optimize mode.
    """

    def __init__(
        self,
        *,
        sampler: str | Mapping[str, Any] = "tpe",
        optimize_mode: str = "maximize",
        seed: int | None = None,
        storage: str | None = None,
        study_name: str | None = None,
        objective: str = DEFAULT_OBJECTIVE,
    ) -> None:
        optuna = _import_optuna()
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError(
                f"optimize_mode must be 'maximize' or 'minimize', got {optimize_mode!r}"
            )
        spec: dict[str, Any] = {"name": sampler} if isinstance(sampler, str) else dict(sampler)
        if spec.get("name") not in SAMPLERS or spec.get("name") == "nsga2":
            valid = ", ".join(s for s in SAMPLERS if s != "nsga2")
            raise ValueError(f"unknown sampler {spec.get('name')!r}; valid: {valid}")
        if seed is not None:
            spec.setdefault("seed", seed)
        self.optimize_mode = optimize_mode
        if study_name is None:
            study_name = f"nni-{os.environ.get('NNI_EXP_ID', 'experiment')}"
        self.study = optuna.create_study(
            study_name=study_name,
            storage=open_storage(storage) if storage else None,
            sampler=make_sampler(spec, multi_objective=False),
            direction=optimize_mode,
            load_if_exists=True,
        )
        name_metrics(self.study, objective_names(objective))
        self._space: dict[str, Any] = {}
        self._running: dict[int, Any] = {}
        self._manager = NniManager.from_environment()

    # -- NNI's interface ----------------------------------------------------------------------

    def update_search_space(self, search_space: Mapping[str, Any]) -> None:
        """Take NNI's search space (checked here; errors name the key).

        Raises:
            SearchSpaceError: an unsupported type or malformed entry.
        """
        _check_space(search_space)
        self._space = dict(search_space)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        """Ask the study for a trial and return its parameters in NNI's format."""
        if not self._space:
            raise SearchSpaceError("the search space is empty; set searchSpace in the config")
        trial = self.study.ask()
        trial.set_user_attr("nni_parameter_id", parameter_id)
        params = self._sample(trial, self._space, prefix="")
        self._running[parameter_id] = trial
        return params

    def receive_trial_result(
        self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any
    ) -> None:
        """Tell the study the trial's final ``default`` metric (non-finite → FAIL)."""
        optuna = _import_optuna()
        trial = self._running.pop(parameter_id, None)
        if trial is None:
            _logger.warning("result for unknown or finished parameter id %s ignored", parameter_id)
            return
        reward = value.get("default") if isinstance(value, Mapping) else value
        job = kwargs.get("trial_job_id")
        if job:
            trial.set_user_attr("nni_trial_job_id", job)
            self._record(trial, str(job), value)
        if isinstance(reward, bool) or not isinstance(reward, (int, float)):
            trial.set_user_attr(
                "fail_reason", f"final result without a numeric 'default': {value!r}"
            )
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        if not math.isfinite(float(reward)):
            trial.set_user_attr("fail_reason", f"non-finite final result {reward}")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        self.study.tell(trial, float(reward))

    def _record(self, trial: Any, job: str, value: Any) -> None:
        """The same vocabulary as ``idarts tune``, from what NNI reported for the trial.

        The architecture and numbers come from the final result (``arch_code`` / ``arch``,
        ``search_seconds``, ``epochs``), the per-epoch curve and the diagnostics from the
        trial's intermediate results, and ``run_dir`` is where the run lies on the trial's
        host (``<NNI logPath>/run``), recorded as information only.
        """
        if not isinstance(value, Mapping):
            return
        try:
            decoded = decode_architecture(value)
        except ValueError as exc:
            _logger.warning("trial %s: %s", job, exc)
            decoded = None
        if decoded is None:
            _logger.warning(
                "trial %s: the final result carries no architecture (arch_code / arch); the "
                "study gets only its value",
                job,
            )
            return
        architecture, arch_string = decoded
        curve: list[dict[str, Any]] = []
        location = None
        if self._manager is not None:
            try:
                epochs = int(value.get("epochs") or 0)
                for attempt in range(5):  # the manager may still be storing the last epoch's
                    curve = self._manager.intermediate_results(job)
                    if len(curve) >= epochs:
                        break
                    time.sleep(0.2 * (attempt + 1))
                location = self._manager.trial_location(job)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                _logger.warning(
                    "trial %s: NNI manager at %s did not give its intermediate results (%s); "
                    "the study gets no per-epoch values",
                    job,
                    self._manager.url,
                    exc,
                )
        for row in curve:
            epoch, acc = row.get("epoch"), row.get("default")
            if isinstance(epoch, int) and isinstance(acc, (int, float)) and math.isfinite(acc):
                trial.report(float(acc), step=epoch)
        diagnostics = {k: v for k, v in (curve[-1] if curve else {}).items() if k != "default"}
        record_search(
            trial,
            run_dir=f"{location.rstrip('/')}/run" if location else "(not reported by NNI)",
            architecture=architecture,
            arch_string=arch_string,
            metrics=diagnostics,
            seconds=float(value.get("search_seconds") or 0.0),
            epochs=int(value.get("epochs") or 0),
        )

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A failed or killed trial is told as FAIL; a succeeded one waits for its result."""
        optuna = _import_optuna()
        if success:
            return
        trial = self._running.pop(parameter_id, None)
        if trial is None:
            return
        trial.set_user_attr("fail_reason", "the NNI trial failed or was stopped")
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def import_data(self, data: Any) -> None:
        """Not supported: earlier results are not replayed into the Optuna study."""
        _logger.warning("OptunaTuner ignores imported data (%d records)", len(data or []))

    # -- translation ---------------------------------------------------------------------------

    def _sample(self, trial: Any, space: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, spec in space.items():
            if key == "_name":
                continue
            name = f"{prefix}{key}"
            kind, value = spec["_type"], spec["_value"]
            if kind == "choice":
                if all(isinstance(v, _PRIMITIVE) for v in value):
                    out[key] = trial.suggest_categorical(name, list(value))
                    continue
                index = trial.suggest_categorical(f"{name}#index", list(range(len(value))))
                chosen = value[index]
                if isinstance(chosen, Mapping):
                    nested = self._sample(trial, chosen, prefix=f"{name}/{chosen['_name']}/")
                    out[key] = {"_name": chosen["_name"], **nested}
                else:
                    out[key] = chosen
            elif kind == "randint":
                out[key] = trial.suggest_int(name, int(value[0]), int(value[1]) - 1)
            elif kind == "uniform":
                out[key] = trial.suggest_float(name, float(value[0]), float(value[1]))
            elif kind == "loguniform":
                out[key] = trial.suggest_float(name, float(value[0]), float(value[1]), log=True)
            elif kind == "quniform":
                low, high, q = value
                k = trial.suggest_int(f"{name}#q", round(low / q), round(high / q))
                out[key] = _quantize(k * q, q, low, high)
            else:  # qloguniform
                low, high, q = value
                x = trial.suggest_float(name, float(low), float(high), log=True)
                out[key] = _quantize(x, q, low, high)
        return out
