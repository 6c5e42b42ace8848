"""Search spaces declared in YAML (``search_spaces/*.yaml``) → NNI model spaces.

A space file has a ``kind`` and ``options``::

    kind: nas-bench-201        # nas-bench-201 | darts | cell
    options: {stem_channels: 16, cells_per_stage: 5}

``nas-bench-201`` and ``darts`` are NNI's hub spaces; ``cell`` is a generic DAG cell built
from NNI's ``LayerChoice`` with ops named in :data:`OPS`. This module reads and validates
the files without NNI or torch; :func:`idarts_plugin.nni_adapter.build_space` builds the model
space.

Example:
    >>> from idarts_plugin.config import SpaceConfig
    >>> spec = load_space(SpaceConfig(name="nas-bench-201", options={"stem_channels": 4}))
    >>> spec.kind, spec.options["stem_channels"]
    ('nas-bench-201', 4)
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError, SpaceConfig
from .derive import NOTATIONS
from .hypergrad.checks import check_choice, check_int

__all__ = [
    "CHOICES",
    "FACTS",
    "KINDS",
    "OPS",
    "SPACE_KINDS",
    "SpaceError",
    "SpaceKind",
    "SpaceSpec",
    "available_spaces",
    "keep_shape_kinds",
    "load_space",
    "space_dirs",
]


class SpaceError(ConfigError):
    """A space file or option is invalid (names the file and key)."""


# --------------------------------------------------------------------------------------------
# The generic cell space's op names.
# --------------------------------------------------------------------------------------------


NORMS = ("batch", "group", "none")
"""Normalisations of the cell space: per-batch statistics (DARTS' choice), per-sample
GroupNorm (one group: batch-independent, so a data-parallel search equals the union batch's
exactly), or none."""

OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "conv_1x1",
    "conv_3x3",
    "conv_5x5",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "avg_pool_3x3",
    "max_pool_3x3",
)
"""The cell space's op names (each a shape-preserving module,
:data:`idarts_plugin.nni_adapter.spaces.OP_TABLE` builds it): the space files are read and
checked against these without loading torch."""

# --------------------------------------------------------------------------------------------
# Space files.
# --------------------------------------------------------------------------------------------

CELL_BN = ("affine", "non-affine")
"""NAS-Bench-201's ``cell_bn``: the BatchNorm of the searched ops keeps NNI's hub default
(``affine``, a learned scale and shift) or has none (``non-affine``, as DARTS' and
NAS-Bench-201's own search code build the supernet's ops)."""

CHOICES: Mapping[str, Collection[str]] = {"ops": OPS, "norm": NORMS, "cell_bn": CELL_BN}
"""Space options whose values are names → the valid names. A text option takes one of them; a
list option takes a non-empty list of distinct ones. Every other option is a whole number >= 1."""

PACKAGED = Path(__file__).resolve().parent / "search_spaces"
"""The shipped space files; ``<kind>.yaml`` among them defines the kind ``<kind>``."""


FACTS: Mapping[str, tuple[type, Any]] = {
    "input_channels": (int, None),
    "notation": (str, None),
    "cell_plot": (bool, False),
    "edges_keep_shape": (bool, True),
}
"""The facts a kind's file states beside its options → (their type, the value when the file
leaves them out); see :class:`SpaceKind`. A user's space file may repeat them (a copy of a
shipped file) but not change them: they describe the model the kind builds."""


@dataclass(frozen=True)
class SpaceKind:
    """A kind of space, as its packaged file ``search_spaces/<kind>.yaml`` defines it.

    What the rest of the plugin needs to know of a kind is read here, from that file, never
    from the kind's name: a new kind is its file, its model builder and a test.

    Attributes:
        name: the kind (the file's ``kind`` and stem).
        defaults: the file's ``options``: every option the kind takes, with its default (the
            default's type is the option's: a whole number, a name or a list of names from
            :data:`CHOICES`).
        input_channels: the image channels the model needs (``None``: any); the file's
            ``input_channels``.
        notation: how a found architecture is written, a key of
            :data:`idarts_plugin.derive.NOTATIONS` (``nas-bench-201``: the benchmark's arch
            string, which its tables and the ground truth look up); ``None``: NNI's export
            dict only.
        cell_plot: whether the found cell is drawn (``cell.png``): the kind's cell is a DAG
            whose node ``j`` sums one op on each edge ``i -> j``.
        edges_keep_shape: whether every searched edge maps its input to an output of the same
            shape (what the auxiliary skip needs).

    Example:
        >>> KINDS["darts"].notation, KINDS["darts"].edges_keep_shape
        ('darts-genotype', False)
    """

    name: str
    defaults: Mapping[str, Any]
    input_channels: int | None = None
    notation: str | None = None
    cell_plot: bool = False
    edges_keep_shape: bool = True


def _kind_fact(path: Path, key: str, value: Any) -> Any:
    """The fact ``key`` of the kind file ``path``, checked against :data:`FACTS`."""
    kind, _ = FACTS[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        what = {bool: "true or false", int: "a whole number", str: "a name"}[kind]
        raise SpaceError(f"must be {what}, got {value!r}", key=key, source=str(path))
    if key == "notation" and value not in NOTATIONS:
        raise SpaceError(
            f"unknown notation {value!r}; valid: {', '.join(NOTATIONS)} (or leave it out: NNI's "
            "export dict only; a new notation is an entry of derive.NOTATIONS)",
            key=key,
            source=str(path),
        )
    return value


def _read_kinds(folder: Path) -> dict[str, SpaceKind]:
    """The kinds the files ``folder/<kind>.yaml`` (with ``kind: <kind>``) define."""
    kinds: dict[str, SpaceKind] = {}
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if raw.get("kind") != path.stem:
            continue  # a preset of another kind
        defaults = dict(raw.get("options") or {})
        for key, value in defaults.items():
            if isinstance(value, (str, list)) and key not in CHOICES:
                raise SpaceError(
                    f"option {key!r} takes names: add its valid names to spaces.CHOICES",
                    key=f"options.{key}",
                    source=str(path),
                )
            if not isinstance(value, (str, list, int)) or isinstance(value, bool):
                raise SpaceError(
                    f"a default must be a whole number or names from spaces.CHOICES, got {value!r}",
                    key=f"options.{key}",
                    source=str(path),
                )
        facts = {k: _kind_fact(path, k, raw[k]) for k in FACTS if raw.get(k) is not None}
        kinds[path.stem] = SpaceKind(path.stem, defaults, **facts)
    return kinds


KINDS: Mapping[str, SpaceKind] = _read_kinds(PACKAGED)
"""Kind → its definition, read from the packaged ``search_spaces/<kind>.yaml`` files: adding
a kind is its file there, its model in :data:`idarts_plugin.nni_adapter.spaces.BUILDERS` and
a test."""
SPACE_KINDS = tuple(KINDS)


@dataclass(frozen=True, kw_only=True)
class SpaceSpec:
    """A resolved space: its kind, validated options and the file it came from."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "<defaults>"

    @property
    def in_channels(self) -> int | None:
        """Input channels the space needs (NNI's hub spaces: RGB), ``None`` if any."""
        return KINDS[self.kind].input_channels

    @property
    def notation(self) -> str | None:
        """How a found architecture is written (:attr:`SpaceKind.notation`)."""
        return KINDS[self.kind].notation

    @property
    def cell_plot(self) -> bool:
        """Whether the found cell is drawn (:attr:`SpaceKind.cell_plot`)."""
        return KINDS[self.kind].cell_plot

    @property
    def edges_keep_shape(self) -> bool:
        """Whether every searched edge maps its input to an output of the same shape.

        What the auxiliary skip needs (:meth:`idarts_plugin.collapse.Remedies.resolve`): true
        for NAS-Bench-201 and ``cell`` spaces, false for the DARTS space, whose reduction
        cells' edges halve the resolution (:attr:`SpaceKind.edges_keep_shape`).
        """
        return KINDS[self.kind].edges_keep_shape


def keep_shape_kinds() -> str:
    """The kinds whose edges keep their input's shape, for messages (``nas-bench-201, cell``)."""
    return ", ".join(k for k, v in KINDS.items() if v.edges_keep_shape)


def space_dirs() -> list[Path]:
    """Directories searched for ``<name>.yaml``: ``$IDARTS_SPACES``, then the packaged ones."""
    dirs: list[Path] = []
    env = os.environ.get("IDARTS_SPACES")
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(PACKAGED)
    return dirs


def available_spaces() -> list[str]:
    """Names of the space files found in :func:`space_dirs`."""
    names: set[str] = set()
    for d in space_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def _find_space_file(name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name:
        if candidate.is_file():
            return candidate
        raise SpaceError(f"space file {name!r} does not exist", key="space.name")
    for d in space_dirs():
        path = d / f"{name}.yaml"
        if path.is_file():
            return path
    raise SpaceError(
        f"unknown space {name!r}; available spaces: {', '.join(available_spaces())} "
        "(or give a path to a space YAML file)",
        key="space.name",
    )


def _check_option(kind: str, key: str, value: Any, source: str) -> Any:
    """``value`` of option ``key``, checked by the type of the kind's default."""
    default = KINDS[kind].defaults[key]
    try:
        if isinstance(default, list):
            item = key.removesuffix("s")
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"must be a non-empty list of {item} names, got {value!r}")
            for name in value:
                check_choice(item, name, CHOICES[key], plural=key)
            if len(set(value)) != len(value):
                raise ValueError(f"{key} must be distinct, got {value!r}")
            return list(value)
        if isinstance(default, str):
            return check_choice(key, value, CHOICES[key], plural=f"{key}s")
        check_int("value", value, minimum=1)
    except ValueError as exc:
        message = str(exc).replace("value must", "must")
        raise SpaceError(message, key=f"options.{key}", source=source) from None
    return value


def load_space(config: SpaceConfig) -> SpaceSpec:
    """Read and validate the space file named by ``config`` and apply its option overrides.

    Raises:
        SpaceError: unknown space or kind, malformed file, unknown or invalid option (the
            message names the file and key).
    """
    path = _find_space_file(config.name)
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SpaceError(f"malformed YAML: {getattr(exc, 'problem', exc)}", source=source) from None
    if not isinstance(raw, dict):
        raise SpaceError("a space file must be a mapping with 'kind' and 'options'", source=source)
    kind: Any = raw.get("kind")
    valid = ("kind", "options", "description", *FACTS)
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise SpaceError(
            f"unknown key; valid keys: {', '.join(valid)}", key=unknown[0], source=source
        )
    if kind not in KINDS:
        raise SpaceError(
            f"unknown kind {kind!r}; valid kinds: {', '.join(SPACE_KINDS)}",
            key="kind",
            source=source,
        )
    for fact in FACTS:  # a copy of the kind's file keeps its facts
        own = getattr(KINDS[kind], fact)
        if raw.get(fact) is not None and _kind_fact(path, fact, raw[fact]) != own:
            what = (
                f"takes {'any number of' if own is None else own} input channels"
                if fact == "input_channels"
                else f"has {fact} {own!r}"
            )
            raise SpaceError(
                f"a {kind} space {what} (search_spaces/{kind}.yaml); leave {fact} out",
                key=fact,
                source=source,
            )
    options = dict(KINDS[kind].defaults)
    file_options = raw.get("options") or {}
    if not isinstance(file_options, dict):
        raise SpaceError("must be a mapping", key="options", source=source)
    for where, values in ((source, file_options), ("space.options", config.options)):
        for key, value in values.items():
            if key not in options:
                raise SpaceError(
                    f"unknown option for a {kind} space; valid options: {', '.join(options)}",
                    key=f"options.{key}" if where == source else f"space.options.{key}",
                    source=where if where == source else None,
                )
            options[key] = _check_option(kind, key, value, where)
    return SpaceSpec(kind=kind, options=options, source=source)
