"""Shared helpers of the benchmark scripts: tables, machine description, RESULTS.md sections."""

from __future__ import annotations

import datetime
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Table:
    """A Markdown table built row by row.

    Attributes:
        title: shown in bold above the table.
        columns: the header cells.
        rows: the body, as strings.
    """

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        """Append a row (one cell per column, formatted with ``str``; ``|`` escaped)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} cells, got {len(cells)}")
        # A "|" inside a cell would end it: escape it the Markdown way.
        self.rows.append([str(c).replace("|", "\\|") for c in cells])

    def render(self) -> str:
        """The title in bold, then the Markdown table."""
        head = "| " + " | ".join(self.columns) + " |"
        sep = "|" + "|".join("---" for _ in self.columns) + "|"
        body = ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join([f"**{self.title}**", "", head, sep, *body, ""])


def machine_line(device: str = "auto") -> str:
    """Which machine produced a table (``device="cpu"``: a CPU-only benchmark, CUDA or not)."""
    import torch

    if device != "cpu" and torch.cuda.is_available():
        device = f"CUDA: {torch.cuda.get_device_name(0)}"
    else:
        device = f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"Machine: {device}; Python {platform.python_version()}; torch {torch.__version__}; date {date}."


def write_section(name: str, command: str, blocks: list[str]) -> None:
    """Replace (or append) the section ``name`` of ``benchmarks/RESULTS.md``."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nEach section is written by the script named in it; re-run the command to refresh it.\n"
    )
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = "\n\n".join(b.strip("\n") for b in blocks)
    section = "\n".join([start, f"## {name}", "", f"Command: `{command}`", "", body, "", end])
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _m: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section + "\n"
    )
    RESULTS.write_text(text)


def _section_text(name: str) -> str | None:
    if not RESULTS.exists():
        return None
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    m = re.search(re.escape(start) + "(.*?)" + re.escape(end), RESULTS.read_text(), re.S)
    return m.group(1) if m else None


def read_tables(name: str) -> dict[str, Table]:
    """The tables of section ``name`` of ``benchmarks/RESULTS.md``, by title (empty if absent).

    Only reads back what :meth:`Table.render` wrote, so a plot can be redrawn from the numbers
    a script already wrote without re-running it.
    """
    text = _section_text(name)
    if text is None:
        return {}
    tables: dict[str, Table] = {}
    for m in re.finditer(r"^\*\*(.+?)\*\*\n\n((?:\|.*\|\n)+)", text, re.M):
        lines = m.group(2).strip().splitlines()
        cells = [[c.strip() for c in line.strip()[1:-1].split(" | ")] for line in lines]
        table = Table(m.group(1), cells[0])
        for row in cells[2:]:
            table.add(*row)
        tables[table.title] = table
    return tables


def add_to_section(name: str, block: str, *, replaces: str | None = None) -> bool:
    """Put ``block`` at the end of section ``name`` of ``benchmarks/RESULTS.md`` (idempotent).

    Args:
        name: the section.
        block: Markdown to append before the section's end marker.
        replaces: a line of the section that ``block`` supersedes (removed first, if present).

    Returns:
        Whether the section exists.
    """
    text = _section_text(name)
    if text is None:
        return False
    new = text.replace(block, "")
    if replaces is not None:
        new = "\n".join(line for line in new.split("\n") if line != replaces)
    new = new.rstrip("\n") + "\n\n" + block + "\n"
    full = RESULTS.read_text()
    RESULTS.write_text(full.replace(text, new, 1))
    return True
