"""The run directory: what a search leaves for its user, written so nothing is lost.

Layout of ``RUN_DIR``::

    config.yaml          the resolved run config (what ``--resume`` reads back)
    architecture.json    the exported architecture: NNI dict, NB201 string / DARTS genotype
    alpha_history.csv    softmax(α) per epoch, one column per (label, op)
    alpha.png            a plot of that history, one panel per label
    cell.png             the derived cell (NAS-Bench-201 and generic cell spaces)
    metrics.csv          per-epoch losses, accuracies, collapse signals, hypergradient diagnostics
    summary.json         written when the search finishes
    tb/                  TensorBoard logs (per-step diagnostics, α probabilities)
    checkpoints/last.ckpt  the last complete epoch (written atomically)

Every file is written to a temporary name and renamed into place (``os.replace``), so a killed
process leaves either the old or the new version, never half a file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKPOINT",
    "PREVIOUS_CHECKPOINT",
    "RunDirError",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable",
    "plot_alpha_history",
    "plot_cell",
    "read_csv_rows",
    "truncate_epochs",
    "write_csv_rows",
]


CHECKPOINT = "checkpoints/last.ckpt"
"""The last complete epoch's checkpoint, relative to the run directory."""

PREVIOUS_CHECKPOINT = "checkpoints/previous.ckpt"
"""The checkpoint before it (what ``--resume`` falls back to when the last is damaged)."""


class RunDirError(OSError):
    """The run directory cannot be used (names the path and the fix)."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_writable(run_dir: Path, *, min_free_mb: float = 50.0) -> None:
    """Create ``run_dir`` if needed and prove it is writable with enough free space.

    Raises:
        RunDirError: not creatable, not writable, or too little free disk.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(
            f"output directory {str(run_dir)!r} is not writable ({exc.strerror or exc}); "
            "choose another with --set output.dir=PATH"
        ) from None
    free_mb = _free_mb(run_dir)
    if free_mb < min_free_mb:
        raise RunDirError(
            f"only {free_mb:.0f} MB free under {str(run_dir)!r}; a search needs at least "
            f"{min_free_mb:.0f} MB for checkpoints (free space or set output.dir)"
        )


def _free_mb(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 2**20


def write_csv_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Atomically write rows (union of their keys as header, in first-seen order)."""
    header: list[str] = []
    for row in rows:
        for key in row:
            if key not in header:
                header.append(key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue())


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return value


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file (empty list if it does not exist)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def truncate_epochs(rows: Iterable[Mapping[str, Any]], last_epoch: int) -> list[dict[str, Any]]:
    """Keep rows whose ``epoch`` is at most ``last_epoch`` (for a resumed run)."""
    return [dict(r) for r in rows if int(r["epoch"]) <= last_epoch]


def _save_png(fig: Any, path: Path, *, dpi: int) -> None:
    """Lay out, render and atomically write a matplotlib figure as PNG, then close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_alpha_history(rows: Sequence[Mapping[str, Any]], path: Path) -> bool:
    """Plot softmax(α) per epoch, one panel per label; returns False if nothing to plot.

    Columns are named ``label:choice``; the file is written atomically.
    """
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    columns = [c for c in rows[0] if ":" in c]
    labels: dict[str, list[str]] = {}
    for col in columns:
        labels.setdefault(col.rsplit(":", 1)[0], []).append(col)
    if not labels:
        return False
    n = len(labels)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for ax, (label, cols) in zip(axes.flat, labels.items(), strict=False):
        for col in cols:
            ax.plot(
                epochs, [float(r[col]) for r in rows], marker="o", ms=3, label=col.rsplit(":", 1)[1]
            )
        ax.set_title(label, fontsize=9)
        # Autoscaled: early in a search α moves by less than 1e-2, invisible on [0, 1].
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel("softmax(α)")
        ax.legend(fontsize=6, loc="upper left")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    _save_png(fig, path, dpi=90)
    return True


def _cell_edges(architecture: Mapping[str, Any], prefix: str) -> list[tuple[int, int, str]]:
    """``(i, j, op)`` of every ``{prefix}/{i}_{j}`` key whose value is an op name."""
    edges: list[tuple[int, int, str]] = []
    for key, op in architecture.items():
        if not key.startswith(prefix + "/") or not isinstance(op, str):
            continue
        tail = key.split("/", 1)[1]
        try:
            i, j = (int(t) for t in tail.split("_"))
        except ValueError:
            continue
        edges.append((i, j, op))
    return edges


def plot_cell(
    architecture: Mapping[str, Any], path: Path, *, prefix: str = "cell", title: str | None = None
) -> bool:
    """Draw a DAG cell whose edges are labelled ``{prefix}/{i}_{j}`` → op, as a PNG.

    Edges whose op is ``none`` are left out (they carry nothing). Returns False when the
    architecture has no such edges.
    """
    edges = _cell_edges(architecture, prefix)
    if not edges:
        return False
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    n = max(j for _, j, _ in edges) + 1
    xs = [k * 3.2 for k in range(n)]
    fig, ax = plt.subplots(figsize=(2.6 * n + 1, 3.6))
    colours = {
        "skip_connect": "tab:green",
        "avg_pool_3x3": "tab:orange",
        "max_pool_3x3": "tab:orange",
    }
    for i, j, op in sorted(edges):
        if op == "none":
            continue
        span = j - i
        rad = 0.0 if span == 1 else -0.35 * (1 if (i + j) % 2 else -1)
        colour = colours.get(op, "tab:blue")
        ax.annotate(
            "",
            xy=(xs[j], 0),
            xytext=(xs[i], 0),
            arrowprops={
                "arrowstyle": "-|>",
                "color": colour,
                "lw": 1.6,
                "connectionstyle": f"arc3,rad={rad}",
                "shrinkA": 14,
                "shrinkB": 14,
            },
        )
        mid_y = -rad * (xs[j] - xs[i]) / 2
        ax.text(
            (xs[i] + xs[j]) / 2,
            mid_y,
            op,
            ha="center",
            va="center",
            fontsize=8,
            color=colour,
            bbox={"fc": "white", "ec": "none", "pad": 0.5},
        )
    for k, x in enumerate(xs):
        ax.add_patch(Circle((x, 0), 0.3, color="lightgray", zorder=3))
        ax.text(x, 0, str(k), ha="center", va="center", zorder=4, fontsize=10)
    ax.set_xlim(-0.8, xs[-1] + 0.8)
    ax.set_ylim(-max(2.0, n * 0.7), max(2.0, n * 0.7))
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    _save_png(fig, path, dpi=110)
    return True


def write_json(path: Path, data: Any) -> None:
    """Atomically write JSON (sorted keys, indented)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
