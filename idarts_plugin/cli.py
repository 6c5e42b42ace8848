"""The ``idarts`` command line.

Subcommands::

    idarts search CONFIG.yaml [--set key=value ...] [--run-dir DIR]
    idarts search --resume RUN_DIR
    idarts evaluate RUN_DIR [--epochs N] [--seeds N]
    idarts tune TUNE.yaml --study NAME [--storage URL] [--n-trials N] [--timeout S]
    idarts lookup ARCH_OR_RUN_DIR [--tables PATH]
    idarts nni-trial CONFIG.yaml | nni-register | nni-check --config X | nni-create --config X
    idarts methods | spaces

Errors a user can fix (bad config, unknown name, unwritable output, missing data) print one
line to stderr and exit with status 2; nothing else is printed for them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_overrides(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help_text,
    )


def _objective_help() -> str:
    from .objectives import objective_help

    return objective_help()


def _default_objective() -> str:
    from .objectives import DEFAULT_OBJECTIVE

    return DEFAULT_OBJECTIVE


def _strategy_help() -> str:
    from .strategy_table import strategy_help

    return "\n".join("  " + line for line in strategy_help().splitlines())


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="idarts", description="Implicit-gradient differentiable NAS on NNI.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _search_parsers(sub)
    _tune_parsers(sub)
    _nni_parsers(sub)
    sub.add_parser("methods", help="list hypergradient methods and their options")
    sub.add_parser("spaces", help="list the search spaces found")
    return p


def _search_parsers(sub: Any) -> None:
    """search, evaluate, lookup."""
    s = sub.add_parser(
        "search",
        help="run (or resume) an architecture search",
        epilog=f"strategy.name (--set strategy.name=NAME):\n{_strategy_help()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("config", nargs="?", help="run config YAML (see examples/configs/)")
    _add_overrides(s, "override a config key, e.g. --set strategy.neumann_steps=5 (repeatable)")
    s.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted search")
    s.add_argument("--run-dir", metavar="DIR", help="write to this run directory")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", help="retrain the architecture a search found, from scratch")
    ev.add_argument("run_dir", help="a run directory written by idarts search")
    ev.add_argument("--epochs", type=int, default=50, help="training epochs per seed (50)")
    ev.add_argument("--seeds", type=int, default=1, help="independent trainings (1)")
    ev.add_argument("--lr", type=float, default=None, help="initial learning rate (the search's)")
    _add_overrides(ev, "override a key of the run's config, e.g. --set data.root=/data")

    lk = sub.add_parser("lookup", help="NAS-Bench-201 accuracy of an architecture")
    lk.add_argument("arch", help="an arch string |op~0|+|...| or a run directory")
    lk.add_argument(
        "--tables",
        metavar="PATH",
        default=None,
        help="benchmark file or compact tables (default: $IDARTS_NB201)",
    )
    lk.add_argument("--json", action="store_true", help="print JSON")


def _tune_parsers(sub: Any) -> None:
    """Tune (Optuna)."""
    tu = sub.add_parser("tune", help="an Optuna study over a search's outer hyperparameters")
    tu.add_argument("tune_config", help="tune config YAML (see examples/optuna/)")
    tu.add_argument("--study", required=True, help="study name (created or joined)")
    tu.add_argument(
        "--storage", default=None, help="SQLAlchemy URL (default: SQLite in output_dir)"
    )
    tu.add_argument("--n-trials", type=int, default=None, help="trials this worker runs")
    tu.add_argument("--timeout", type=float, default=None, help="seconds this worker runs")
    _add_overrides(tu, "fixed override of the base run config")


def _nni_parsers(sub: Any) -> None:
    """nni-trial, nni-register, nni-create, nni-check."""
    nt = sub.add_parser(
        "nni-trial", help="one search as an nnictl trial (the trialCommand of an experiment)"
    )
    nt.add_argument("config", help="run config YAML; the tuner's parameters override its keys")
    _add_overrides(nt, "fixed override applied before the tuner's parameters")
    nt.add_argument(
        "--objective",
        default=_default_objective(),
        help=f"final metric: {_objective_help()}",
    )
    nt.add_argument(
        "--objective-option",
        dest="objective_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="objective option, e.g. epochs=10 or tables=/data/nb201 (repeatable)",
    )

    rg = sub.add_parser(
        "nni-register", help="register the Optuna-backed tuners with nnictl (OptunaTPE, ...)"
    )
    rg.add_argument(
        "--meta-path", action="store_true", help="only print the path of the registry file"
    )

    cr = sub.add_parser(
        "nni-create",
        help="nnictl create, after registering the Optuna-backed tuner the config names",
    )
    cr.add_argument("--config", required=True, help="the nnictl experiment config (YAML)")
    cr.add_argument(
        "nnictl_args", nargs=argparse.REMAINDER, help="passed on to nnictl create (--port ...)"
    )
    ck = sub.add_parser(
        "nni-check", help="check that the tuner an nnictl config names is registered"
    )
    ck.add_argument("--config", required=True, help="the nnictl experiment config (YAML)")


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("idarts_plugin").setLevel(logging.INFO if verbose == 0 else level)
    if verbose == 0:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="nni")
        warnings.filterwarnings("ignore", message=".*litmodels.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="pytorch_lightning")


def _quiet_third_party(verbose: int) -> None:
    """Quieten Lightning and NNI; called once a command's config is valid (imports Lightning)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    quiet = ("pytorch_lightning", "lightning_fabric", "lightning", "nni")
    # Lightning sets levels on its own child loggers at import: import, then override.
    with contextlib.suppress(ImportError):
        import pytorch_lightning  # noqa: F401
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in quiet]
    for name in (*quiet, *names):
        logging.getLogger(name).setLevel(logging.ERROR if verbose == 0 else level)


#: Errors a user can fix, as (module, class name): matched only if that module was imported
#: (it raised the error, so it was), so reporting a bad config imports nothing heavy.
_USER_ERRORS = (
    ("idarts_plugin.config", "ConfigError"),
    ("idarts_plugin.data", "DataError"),
    ("idarts_plugin.outputs", "RunDirError"),
    ("idarts_plugin.runtime", "SearchError"),
    ("idarts_plugin.nb201", "NB201Error"),
    ("idarts_plugin.integrations.nni_tuner", "SearchSpaceError"),
)


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    for module, name in _USER_ERRORS:
        klass = getattr(sys.modules.get(module), name, None)
        if isinstance(klass, type) and isinstance(exc, klass):
            return True
    return False


def _cmd_search(args: argparse.Namespace) -> int:
    from .config import load_config

    if args.resume:
        if args.config:
            raise _UsageError("give either CONFIG or --resume RUN_DIR, not both")
        from .search import resume_config

        cfg = resume_config(args.resume, args.overrides)
        run_dir: str | None = args.resume
    else:
        if not args.config:
            raise _UsageError("a run config is required: idarts search CONFIG.yaml")
        cfg = load_config(args.config, args.overrides)
        run_dir = args.run_dir
    _quiet_third_party(args.verbose)
    from .search import run_search

    if args.no_progress:
        from dataclasses import replace

        cfg = replace(cfg, trainer=replace(cfg.trainer, progress_bar=False))
    result = run_search(cfg, run_dir=run_dir, resume=bool(args.resume))
    print(f"run directory: {result.run_dir}")
    if result.arch_string:
        print(f"architecture:  {result.arch_string}")
    else:
        print(f"architecture:  {json.dumps(result.architecture)}")
    decision = result.decision
    if decision.get("dead_nodes"):
        print(
            f"effective cell: {decision['effective_arch']} "
            f"(nodes {decision['dead_nodes']} are disconnected)"
        )
    acc = result.metrics.get("supernet_val_acc")
    if acc is not None:
        print(f"supernet accuracy on the architecture split: {float(acc):.4f}")
    print(f"epochs: {result.epochs}, search time this run: {result.seconds:.1f} s")
    if decision.get("verdict"):
        print(decision["verdict"]["text"])
    if decision.get("param_free_share") is not None:
        print(f"parameter-free share of the cell: {decision['param_free_share']:.2f}")
    rank = decision.get("ground_truth")
    if rank:
        print(rank["text"])
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _quiet_third_party(args.verbose)
    from .evaluate import evaluate_run

    report = evaluate_run(
        args.run_dir,
        epochs=args.epochs,
        seeds=args.seeds,
        overrides=tuple(args.overrides),
        lr=args.lr,
    )
    accs = ", ".join(f"{a:.4f}" for a in report.test_accs)
    print(f"architecture:  {report.arch}")
    print(f"test accuracy: {report.test_acc_mean:.4f} ± {report.test_acc_std:.4f} ({accs})")
    print(f"parameters:    {report.params:,}")
    print(f"FLOPs (MACs):  {report.flops:,}")
    print(f"written:       {Path(args.run_dir) / 'evaluation.json'}")
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from .integrations.optuna import default_storage, load_tune_config, run_study

    if args.n_trials is None and args.timeout is None:
        raise _UsageError("give --n-trials or --timeout (or both)")
    if args.n_trials is not None and args.n_trials < 1:
        raise _UsageError(f"--n-trials must be >= 1, got {args.n_trials}")
    cfg = load_tune_config(args.tune_config, tuple(args.overrides))
    storage = args.storage or default_storage(cfg)
    _quiet_third_party(args.verbose)
    print(f"study {args.study!r} in {_redact(storage)}")
    print(f"watch it: {dashboard_command(storage)}")
    sys.stdout.flush()
    study = run_study(
        cfg,
        study_name=args.study,
        storage=storage,
        n_trials=args.n_trials,
        timeout=args.timeout,
    )
    states: dict[str, int] = {}
    for t in study.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    print(f"study {study.study_name}: " + ", ".join(f"{n} {k.lower()}" for k, n in states.items()))
    if len(study.directions) == 1:
        try:
            best = study.best_trial
        except ValueError:
            print("no completed trial yet")
        else:
            arch = best.user_attrs.get("arch_string") or best.user_attrs.get("architecture")
            print(f"best trial {best.number}: value {best.value:.4f}, params {best.params}")
            print(f"architecture: {arch}")
            print(f"run directory: {best.user_attrs.get('run_dir')}")
    else:
        print(f"Pareto front: trials {[t.number for t in study.best_trials]}")
    print(f"watch it: {dashboard_command(storage)}")
    return 0


_URL_PASSWORD = re.compile(r"^(?P<head>[\w+]+://[^:/@?]*:)[^@]*@")
"""``scheme://user:`` then the password up to the first ``@`` (SQLAlchemy's URL grammar)."""

_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)[^&]*", re.IGNORECASE)


def _redact(url: str) -> str:
    """The URL with its password (``user:PASSWORD@`` or ``?password=``) replaced by ``***``.

    Example:
        >>> _redact("postgresql://me:pw@host:5432/db?sslrootcert=/a@b")
        'postgresql://me:***@host:5432/db?sslrootcert=/a@b'
        >>> _redact("mysql+pymysql://me@host/db?password=pw&charset=utf8")
        'mysql+pymysql://me@host/db?password=***&charset=utf8'
        >>> _redact("sqlite:////data/a:b@c.db")
        'sqlite:////data/a:b@c.db'
    """
    url = _URL_PASSWORD.sub(lambda m: f"{m['head']}***@", url, count=1)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['key']}***", url)


def dashboard_command(storage: str) -> str:
    """The ``optuna-dashboard`` command for ``storage`` (quoted for a POSIX shell).

    A password in the URL is never printed: it is shown as ``***`` with a note (a terminal or
    a CI log is no place for it).

    Example:
        >>> dashboard_command("sqlite:////tmp/optuna.db").split("   ")[0]
        'optuna-dashboard sqlite:////tmp/optuna.db'
        >>> print(dashboard_command("postgresql://me:s3cret@db/optuna").split("   ")[0])
        optuna-dashboard 'postgresql://me:***@db/optuna'
    """
    import shlex

    from ._optional import is_available

    shown = _redact(storage)
    command = f"optuna-dashboard {shlex.quote(shown)}"
    if shown != storage:
        command += "   (password hidden: write it in place of ***)"
    if not is_available("optuna_dashboard"):
        command += "   (pip install 'idarts-plugin[dashboard]' first)"
    return command


def _cmd_lookup(args: argparse.Namespace) -> int:
    from .nb201 import format_lookup, open_source

    arch = args.arch
    path = Path(arch)
    if path.is_dir():
        summary = path / "summary.json"
        arch_file = summary if summary.is_file() else path / "architecture.json"
        if not arch_file.is_file():
            raise _UsageError(f"{arch!r} has neither summary.json nor architecture.json")
        arch = json.loads(arch_file.read_text()).get("arch_string")
        if not arch:
            raise _UsageError(f"the run in {str(path)!r} is not in the NAS-Bench-201 space")
    source = open_source(args.tables)
    try:
        result = source.lookup(arch)
    except KeyError as exc:
        raise _UsageError(exc.args[0] if exc.args else str(exc)) from None
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(result), indent=2, default=str))
    else:
        print(format_lookup(result))
    return 0


def _cmd_nni_trial(args: argparse.Namespace) -> int:
    from .config import parse_value
    from .integrations.nni_trial import run_trial

    options: dict[str, object] = {}
    for item in args.objective_options:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"--objective-option {item!r} must look like key=value")
        options[key] = parse_value(text)  # as run-config overrides are read
    _quiet_third_party(args.verbose)
    outcome = run_trial(
        args.config,
        overrides=tuple(args.overrides),
        objective=args.objective,
        objective_options=options,
    )
    print(f"run directory: {Path(outcome.run_dir).resolve()}")
    print(f"parameters:    {json.dumps(outcome.parameters)}")
    print(f"final result:  {json.dumps(outcome.final)}")
    return 0


def _cmd_nni_register(args: argparse.Namespace) -> int:
    from .integrations.nni_register import META_PATH, register

    if args.meta_path:
        print(META_PATH)
        return 0
    for name, where in register():
        print(f"registered {name} in {where}")
    return 0


def _cmd_nni_check(args: argparse.Namespace) -> int:
    from .integrations.nni_register import TunerNotRegisteredError, check_config

    try:
        tuner = check_config(args.config)
    except TunerNotRegisteredError as exc:
        raise _UsageError(str(exc)) from None
    print(f"tuner {tuner} is registered" if tuner else "the config uses none of our tuners")
    return 0


def _cmd_nni_create(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    from .integrations.nni_register import TunerNotRegisteredError, check_config, register

    try:
        check_config(args.config)
    except TunerNotRegisteredError:
        for name, where in register():
            print(f"registered {name} in {where}")
        check_config(args.config)
    nnictl = shutil.which("nnictl") or str(Path(sys.executable).with_name("nnictl"))
    command = [nnictl, "create", "--config", args.config, *args.nnictl_args]
    print("$ " + " ".join(command))
    sys.stdout.flush()
    return subprocess.call(command)


def _cmd_methods(_: argparse.Namespace) -> int:
    from .hypergrad import METHODS, method_options

    for name in METHODS:
        opts = ", ".join(method_options(name)) or "-"
        print(f"{name:12s} options: {opts}; all: hvp=exact|finite_difference")
    return 0


def _cmd_spaces(_: argparse.Namespace) -> int:
    from .spaces import available_spaces, space_dirs

    for name in available_spaces():
        print(name)
    print(f"(searched: {', '.join(str(d) for d in space_dirs())})")
    return 0


class _UsageError(Exception):
    pass


_COMMANDS = {
    "search": _cmd_search,
    "evaluate": _cmd_evaluate,
    "tune": _cmd_tune,
    "lookup": _cmd_lookup,
    "nni-trial": _cmd_nni_trial,
    "nni-register": _cmd_nni_register,
    "nni-check": _cmd_nni_check,
    "nni-create": _cmd_nni_create,
    "methods": _cmd_methods,
    "spaces": _cmd_spaces,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``idarts`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    from ._optional import MissingDependencyError

    try:
        return _COMMANDS[args.command](args)
    except (_UsageError, MissingDependencyError) as exc:
        print(f"idarts {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("idarts: interrupted; continue with: idarts search --resume RUN_DIR", file=sys.stderr)
        return 130
    except Exception as exc:
        interrupted = getattr(
            sys.modules.get("idarts_plugin.search"), "SearchInterruptedError", None
        )
        if isinstance(interrupted, type) and isinstance(exc, interrupted):
            # SIGTERM / SIGINT: 143 / 130, resumable
            print(f"idarts {args.command}: {exc}", file=sys.stderr)
            return int(getattr(exc, "exit_code", 1))
        if _is_user_error(exc):
            print(f"idarts {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
