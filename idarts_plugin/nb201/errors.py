"""The errors of :mod:`idarts_plugin.nb201` (all are :class:`NB201Error`, a ``ValueError``)."""

from __future__ import annotations

__all__ = [
    "ArchError",
    "ArchNotFoundError",
    "MissingAPIError",
    "NB201Error",
    "SourceError",
    "TableFormatError",
]


class NB201Error(ValueError):
    """Base class of this module's errors."""


class ArchError(NB201Error):
    """An arch string, op mapping or NNI export is not a NAS-Bench-201 cell."""


class ArchNotFoundError(NB201Error, KeyError):
    """A valid cell that the look-up source does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TableFormatError(NB201Error):
    """A table file cannot be read or has an unknown format (names the file)."""


class SourceError(NB201Error):
    """No look-up source is configured, or the configured path is unusable."""


class MissingAPIError(NB201Error, ImportError):
    """An official benchmark file needs its API package, which is not installed."""
