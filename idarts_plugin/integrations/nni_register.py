"""Register the Optuna-backed tuners with ``nnictl`` (what ``idarts nni-register`` does).

It does what ``nnictl algo register --meta <META_PATH>`` does: the entries of
``nni_algorithms.yml`` (``OptunaTPE``, ``OptunaCMAES``, ``OptunaRandom``, ``Optuna``) are
written to NNI's registry, ``registered_algorithms.yml`` in NNI's config directory (in a
virtual environment ``<venv>/nni``; ``NNI_CONFIG_DIR`` overrides it). Registering again
updates the entries.

Example:
    >>> from idarts_plugin.integrations.nni_register import META_PATH
    >>> META_PATH.name
    'nni_algorithms.yml'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["META_PATH", "OUR_TUNERS", "TunerNotRegisteredError", "check_config", "register"]

#: The registry file shipped with the package (``nnictl algo register --meta`` reads it).
META_PATH = Path(__file__).with_name("nni_algorithms.yml")

#: The tuner names :data:`META_PATH` registers.
OUR_TUNERS = ("OptunaTPE", "OptunaCMAES", "OptunaRandom", "Optuna")


class TunerNotRegisteredError(RuntimeError):
    """An nnictl config names one of our tuners and nnictl does not know it.

    Without this check ``nnictl create`` reports success and the experiment turns ERROR
    ("Tuner did not connect") about 10 s later; the cause ("Builtin name is not found:
    optunatpe") is only in the experiment's dispatcher.log.
    """


def check_config(config: str | Path) -> str | None:
    """The tuner of an nnictl config if it is one of ours, after checking it is registered.

    Returns:
        The tuner's name, or ``None`` when the config does not use one of ours.

    Raises:
        TunerNotRegisteredError: the tuner is not registered (the message gives the fix).
        FileNotFoundError: ``config`` does not exist.
    """
    import yaml

    raw = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    tuner = (raw.get("tuner") or {}).get("name") if isinstance(raw, dict) else None
    if tuner not in OUR_TUNERS:
        return None
    from nni.tools import package_utils

    meta = package_utils.get_algo_meta(tuner)
    if meta is None:
        raise TunerNotRegisteredError(
            f"{config}: tuner {tuner!r} is not registered with nnictl, so the experiment "
            "would end ERROR ('Tuner did not connect'); run `idarts nni-register` once, or "
            "start it with `idarts nni-create --config ...`, which registers first"
        )
    return str(tuner)


def register() -> list[tuple[str, Path]]:
    """Register every algorithm in :data:`META_PATH`; return ``(name, registry file)`` pairs.

    Raises:
        ImportError: a class named in the file cannot be imported (e.g. Optuna missing:
            ``pip install 'idarts-plugin[optuna]'``).
    """
    from nni.runtime.config import get_config_file
    from nni.tools import package_utils
    from nni.tools.nnictl.algo_management import read_reg_meta_list, verify_algo_import

    registry = get_config_file("registered_algorithms.yml")
    done = []
    for meta in read_reg_meta_list(str(META_PATH)):
        old = package_utils.get_algo_meta(meta.name)
        if old is not None and old.is_builtin:
            raise ValueError(f"{meta.name} is one of NNI's built-in algorithms; not replaced")
        verify_algo_import(meta)
        package_utils.register_algo_meta(meta)
        done.append((meta.name, registry))
    return done
