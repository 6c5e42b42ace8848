"""One vocabulary for a search recorded as a trial, shared by ``idarts tune`` and nnictl.

Both Optuna paths (``idarts tune``, :mod:`idarts_plugin.integrations.optuna`, and the
Optuna-backed NNI tuner, :mod:`idarts_plugin.integrations.nni_tuner`) store a trial the same
way, through :func:`record_search`:

* **objective names**: the study's metric names (:func:`objective_names`), e.g.
  ``["supernet_val_acc"]`` or ``["supernet_val_acc", "search_seconds"]``; dashboards show
  them instead of "Objective 0".
* **intermediate values**: the objective's per-epoch value (supernet accuracy on the
  architecture split), step = epoch.
* **user attributes** (:data:`USER_ATTRS`): ``arch_string`` (NAS-Bench-201 string, DARTS
  genotype, or the export dict as JSON), ``arch_code`` (a number that fits a table column,
  :func:`arch_code`), ``architecture`` (NNI's export dict), ``run_dir`` (absolute; for an
  nnictl trial, where NNI says it lies on the trial's host), ``diagnostics`` (the last epoch's numeric metrics), ``search_seconds``, ``epochs``.

It also holds the sampler seeding both paths use (:class:`TrialSeededSampler`) and what an
nnictl trial reports as its final result (:func:`nni_final_result`). Nothing here imports
torch or Optuna at module level.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..nb201.arch import EDGES, NB201_OPS, format_arch, parse_arch
from ..nb201.errors import ArchError

__all__ = [
    "USER_ATTRS",
    "TrialSeededSampler",
    "arch_code",
    "arch_from_code",
    "decode_architecture",
    "nni_final_result",
    "numeric_metrics",
    "objective_names",
    "record_search",
    "seed_for_trial",
]

_logger = logging.getLogger(__name__)

#: The user attributes every recorded trial has (both paths).
USER_ATTRS = (
    "arch_string",
    "arch_code",
    "architecture",
    "run_dir",
    "diagnostics",
    "search_seconds",
    "epochs",
)


def objective_names(objective: str, *, cost_objective: bool = False) -> list[str]:
    """The study's metric names: the objective, and ``search_seconds`` when it is a 2nd one."""
    return [objective, "search_seconds"] if cost_objective else [objective]


def arch_code(arch_string: str | None) -> int | None:
    """A short number for an architecture that fits a table column (same cell, same code).

    A NAS-Bench-201 cell gets one digit per edge, in the arch string's order, ``1`` = none,
    ``2`` = skip_connect, ``3`` = nor_conv_1x1, ``4`` = nor_conv_3x3, ``5`` = avg_pool_3x3;
    any other architecture string gets a 6-digit number from its hash. The full string is in
    ``arch_string``.

    Example:
        >>> arch_code("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
        412513
    """
    if not arch_string:
        return None
    try:  # NAS-Bench-201's op i is digit i + 1, edges in arch-string order
        ops = parse_arch(arch_string)
        return int("".join(str(NB201_OPS.index(op) + 1) for op in ops.values()))
    except ArchError:
        pass
    digest = hashlib.sha1(arch_string.encode("utf-8")).hexdigest()
    return 100_000 + int(digest[:8], 16) % 900_000


def _arch_text(architecture: Mapping[str, Any], arch_string: str | None) -> str:
    return arch_string or json.dumps(dict(architecture), sort_keys=True, default=str)


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float | int]:
    """The finite numbers of a metrics row (not the per-edge ``entropy:`` / ``margin:``)."""
    out: dict[str, float | int] = {}
    for key, value in metrics.items():
        if str(key).startswith(("entropy:", "margin:")) or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[str(key)] = value
    return out


def record_search(
    trial: Any,
    *,
    run_dir: str | Path,
    architecture: Mapping[str, Any],
    arch_string: str | None,
    metrics: Mapping[str, Any],
    seconds: float,
    epochs: int,
) -> None:
    """Store a finished search on an Optuna trial (the attributes of :data:`USER_ATTRS`).

    Args:
        trial: the Optuna trial.
        run_dir: a local run directory (a :class:`~pathlib.Path`, recorded absolute), or a
            string naming it on another host as NNI reports it (recorded as it is).
        architecture: NNI's export dict.
        arch_string: the NB201 string or DARTS genotype (``None``: the export dict as JSON).
        metrics: the last epoch's metrics (their finite numbers become ``diagnostics``).
        seconds: the search's seconds.
        epochs: the epochs it ran.
    """
    text = _arch_text(architecture, arch_string)
    trial.set_user_attr("arch_string", text)
    trial.set_user_attr("arch_code", arch_code(text))
    trial.set_user_attr("architecture", dict(architecture))
    trial.set_user_attr(
        "run_dir", str(run_dir.resolve()) if isinstance(run_dir, Path) else str(run_dir)
    )
    trial.set_user_attr("diagnostics", numeric_metrics(metrics))
    trial.set_user_attr("search_seconds", round(float(seconds), 3))
    trial.set_user_attr("epochs", int(epochs))


def arch_from_code(code: Any) -> str | None:
    """The NAS-Bench-201 arch string of an :func:`arch_code`, or ``None`` if it is not one.

    Example:
        >>> arch_from_code(412513)
        '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|'
        >>> arch_from_code(100042) is None  # a hashed code: not decodable
        True
    """
    if isinstance(code, bool) or not isinstance(code, (int, float)) or code != int(code):
        return None
    digits = str(int(code))
    if len(digits) != len(EDGES) or not all("1" <= d <= str(len(NB201_OPS)) for d in digits):
        return None
    return format_arch({edge: NB201_OPS[int(d) - 1] for edge, d in zip(EDGES, digits, strict=True)})


def nni_final_result(
    value: float,
    *,
    parameters: Mapping[str, Any],
    arch_string: str | None,
    architecture: Mapping[str, Any] | None = None,
    seconds: float,
    epochs: int,
    extra: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The final result an nnictl trial reports: numbers and the trial's own parameters.

    NNI 3.0's web UI makes every key of the final result a table column *and* an axis of the
    hyper-parameter chart (it has no hidden keys), and the final result is all a tuner is
    told, so the architecture travels as a number the tuner decodes: ``arch_code``, one digit
    per NAS-Bench-201 edge (:func:`arch_from_code`). An architecture that is not a
    NAS-Bench-201 cell has no such number: it is added as ``arch``, compact JSON of NNI's
    export dict and the arch string (DARTS genotype), the one text column
    (:func:`decode_architecture` reads both forms). The parameters the trial really
    ran with are copied in under ``param:<key>`` (numbers and the search space's own
    choices), so the table shows them even where NNI 3.0 pairs a trial with another
    trial's parameters.
    """
    final: dict[str, Any] = {"default": float(value)}
    code = arch_code(arch_string)
    if code is not None:
        final["arch_code"] = code
    if architecture and arch_from_code(code) is None:
        record = {"architecture": dict(architecture), "arch_string": arch_string}
        final["arch"] = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    final["search_seconds"] = round(float(seconds), 3)
    final["epochs"] = int(epochs)
    for key, v in (extra or {}).items():
        final[key] = v
    for key, v in parameters.items():
        if isinstance(v, (bool, int, float, str)) and not (
            isinstance(v, float) and not math.isfinite(v)
        ):
            final[f"param:{key}"] = v
    return final


def decode_architecture(final: Mapping[str, Any]) -> tuple[dict[str, Any], str | None] | None:
    """The architecture (NNI export dict, arch string) in a final result of :func:`nni_final_result`.

    Returns:
        ``None`` when the result carries no architecture (e.g. an older trial).

    Raises:
        ValueError: an ``arch`` that is not a JSON object (names the value).

    Example:
        >>> export, text = decode_architecture({"default": 0.5, "arch_code": 412513})
        >>> export["cell/0_1"], text[:14]
        ('conv_3x3', '|nor_conv_3x3~')
    """
    text = arch_from_code(final.get("arch_code"))
    if text is not None:
        from ..nb201 import arch_to_nni

        return arch_to_nni(text), text
    raw = final.get("arch")
    if raw is None:
        return None
    try:
        record = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("architecture"), dict):
        raise ValueError(
            f"final result key 'arch' is not a JSON object with an 'architecture': {raw!r}"
        )
    text = record.get("arch_string")
    return record["architecture"], text if isinstance(text, str) else None


def seed_for_trial(seed: int, number: int) -> int:
    """The sampler seed of trial ``number`` of a study seeded with ``seed``.

    Example:
        >>> seed_for_trial(0, 3) == seed_for_trial(0, 3) != seed_for_trial(0, 4)
        True
    """
    digest = hashlib.sha256(f"{int(seed)}:{int(number)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class TrialSeededSampler:
    """An Optuna sampler that gives each trial a sampler of its own, seeded from its number.

    A sampler built with ``seed=S`` in every worker would make each worker draw the same
    sequence: N workers (or a rerun on the same study) replay each other's parameters. Here
    trial ``n`` is sampled by a sampler built through its public constructor with the seed
    :func:`seed_for_trial` ``(S, n)``; trial numbers are unique in a study, so workers never
    replay each other, and a single worker on a fresh study is still reproducible. Optuna's
    samplers keep what they learn in the study's storage, not in the sampler object, so a
    fresh sampler per trial sees the whole history. Only Optuna's public ``BaseSampler``
    interface is used.

    Args:
        factory: builds the sampler from its constructor options (a ``seed`` among them).
        options: the constructor options, without ``seed``.
        seed: the study's seed.
    """

    def __init__(
        self, factory: Callable[[dict[str, Any]], Any], options: Mapping[str, Any], seed: int
    ) -> None:
        self._factory = factory
        self._options = {k: v for k, v in options.items() if k != "seed"}
        self._seed = int(seed)
        # Built once up front: its constructor checks the options (and warns) here, and it
        # answers attribute look-ups; it samples nothing.
        self._template = factory(dict(self._options))
        self._per_trial: dict[int, Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_template", "_per_trial", "_lock"):
            raise AttributeError(name)
        return getattr(self._template, name)

    @property
    def inner(self) -> Any:
        """An unseeded sampler of the wrapped kind (for its type and options)."""
        return self._template

    def sampler_for(self, number: int) -> Any:
        """The sampler of trial ``number`` (built on first use, seeded from the trial number)."""
        with self._lock:
            sampler = self._per_trial.get(number)
            if sampler is None:
                options = {**self._options, "seed": seed_for_trial(self._seed, number)}
                with warnings.catch_warnings():  # the template warned about the options once
                    warnings.simplefilter("ignore")
                    sampler = self._factory(options)
                self._per_trial[number] = sampler
            return sampler

    # Optuna's BaseSampler interface, each call answered by the trial's own sampler.
    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        """Delegated to the trial's sampler."""
        return self.sampler_for(trial.number).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        """Delegated to the trial's sampler."""
        return self.sampler_for(trial.number).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        """Delegated to the trial's sampler."""
        return self.sampler_for(trial.number).sample_independent(study, trial, name, dist)

    def before_trial(self, study: Any, trial: Any) -> None:
        """Build the trial's sampler and let it prepare."""
        self.sampler_for(trial.number).before_trial(study, trial)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        """Let the trial's sampler finish, then drop it."""
        self.sampler_for(trial.number).after_trial(study, trial, state, values)
        with self._lock:
            self._per_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Nothing to do: each trial's sampler is seeded from its trial number.

        Optuna calls this for parallel ``n_jobs``; reseeding from the OS would make a seeded
        study irreproducible.
        """


def seeded(sampler_factory: Callable[[dict[str, Any]], Any], spec: Mapping[str, Any]) -> Any:
    """Build the sampler of ``spec``; with a ``seed``, one sampler per trial seeded from it."""
    opts = dict(spec)
    seed = opts.pop("seed", None)
    if seed is None:
        return sampler_factory(opts)
    return _as_base_sampler(TrialSeededSampler(sampler_factory, opts, int(seed)))


def _as_base_sampler(wrapper: TrialSeededSampler) -> Any:
    """Register the wrapper as an ``optuna.samplers.BaseSampler`` (Optuna type-checks it)."""
    import optuna

    optuna.samplers.BaseSampler.register(TrialSeededSampler)
    return wrapper
