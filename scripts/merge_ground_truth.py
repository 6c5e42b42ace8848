"""Git merge driver for the ground-truth tables (``idarts_plugin/ground_truth/*.csv.gz``).

A table is gzip members of CSV rows, appended one per trained cell, so two branches that each
trained cells (two sweeps in two worktrees) conflict as binary files. Their merge is plain: the
rows ``theirs`` added since the common ancestor are appended to ``ours``, each as its own gzip
member, as :func:`idarts_plugin.ground_truth.append_row` writes them. ``ours`` keeps its bytes;
a row is compared without its line ending; rows are counted, so a table's legitimate repeats
(the same cell, seed and time twice) stay and nothing both sides added is doubled.

Set it up once per clone (``.gitattributes`` names the driver)::

    git config merge.ground-truth.name "ground-truth table union"
    git config merge.ground-truth.driver "python3 scripts/merge_ground_truth.py %O %A %B"

Standard library only: git runs it with whatever ``python3`` is on the path.
"""

from __future__ import annotations

import gzip
import sys
from collections import Counter
from pathlib import Path


def rows(data: bytes) -> list[str]:
    """The table's rows, without line endings (every gzip member, in order)."""
    if not data:
        return []
    text = gzip.decompress(data).decode()
    return [line.rstrip("\r") for line in text.split("\n") if line.rstrip("\r")]


def merge_tables(base: bytes, ours: bytes, theirs: bytes) -> bytes:
    r"""``ours`` with the rows ``theirs`` added since ``base`` appended (those ``ours`` lacks).

    Example:
        >>> z = lambda *r: b"".join(gzip.compress(f"{x}\r\n".encode(), mtime=0) for x in r)
        >>> rows(merge_tables(z("a"), z("a", "b"), z("a", "c")))
        ['a', 'b', 'c']
    """
    added = Counter(rows(theirs)) - Counter(rows(base))
    added -= Counter(rows(ours)) - Counter(rows(base))  # both added it: once
    out = bytearray(ours)
    for row in rows(theirs):
        if added[row] > 0:
            added[row] -= 1
            out += gzip.compress(f"{row}\r\n".encode(), mtime=0)
    return bytes(out)


def main(argv: list[str]) -> int:
    """``%O %A %B``: writes the merge into ``%A`` (git's contract); 0 on success."""
    if len(argv) != 3:
        print("usage: merge_ground_truth.py BASE OURS THEIRS", file=sys.stderr)
        return 2
    base, ours, theirs = (Path(p) for p in argv)
    try:
        merged = merge_tables(base.read_bytes(), ours.read_bytes(), theirs.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        print(f"merge_ground_truth: cannot merge {ours}: {exc}", file=sys.stderr)
        return 1
    ours.write_bytes(merged)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
