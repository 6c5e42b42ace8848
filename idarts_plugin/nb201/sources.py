"""Opening a look-up source by path: the official files or compact tables."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SourceError
from .official import OfficialAPISource, is_official
from .results import LookupSource
from .table import NB201Table

__all__ = ["open_source", "source_path"]


def source_path(path: str | os.PathLike[str] | None) -> Path | None:
    """Where :func:`open_source` reads (whether it exists is the caller's to check).

    ``path``, or ``$IDARTS_NB201`` when ``path`` is None or empty; ``None`` when neither is set.

    Example:
        >>> source_path("~/nb201") == Path.home() / "nb201"
        True
    """
    if path is None or str(path) == "":
        path = os.environ.get("IDARTS_NB201") or None
    return None if path is None else Path(path).expanduser()


def open_source(path: str | os.PathLike[str] | None = None, *, hp: str = "200") -> LookupSource:
    """The look-up source at ``path``, or at ``$IDARTS_NB201`` when ``path`` is None.

    An official benchmark file (``NAS-Bench-201-v1_*.pth``, a NATS-Bench ``*.pickle.pbz2``
    file or a directory of them) opens through its API (:class:`OfficialAPISource`); anything
    else is read as compact tables (:meth:`NB201Table.from_path`). Both are a
    :class:`~idarts_plugin.nb201.results.LookupSource`.

    Args:
        path: a benchmark file, or a directory / file of compact tables.
        hp: ``"200"`` (default) or ``"12"`` training epochs.

    Raises:
        SourceError: nothing configured, or ``path`` does not exist (says how to configure it).
        MissingAPIError: an official file whose API package is not installed.
        TableFormatError: compact tables of unknown format.

    Example:
        >>> source = open_source("../shared/data/nb201")  # doctest: +SKIP
        >>> print(format_lookup(source.lookup(arch)))  # doctest: +SKIP
    """
    p = source_path(path)
    if p is None:
        raise SourceError(
            "no NAS-Bench-201 source configured: pass a path (idarts lookup --tables PATH) or "
            "set IDARTS_NB201 to an official benchmark file or a directory of compact tables"
        )
    if not p.exists():
        raise SourceError(
            f"NAS-Bench-201 source {str(p)!r} does not exist; give an official benchmark file "
            "or a directory of compact tables (--tables PATH or IDARTS_NB201)"
        )
    if is_official(p):
        return OfficialAPISource.from_path(p, hp=hp)
    return NB201Table.from_path(p, hp=hp)
