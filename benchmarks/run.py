"""Run every benchmark in turn (``make bench``): fidelity, speed, peer check.

python -m benchmarks.run [--toy] [--no-write]
"""

from __future__ import annotations

import argparse

from . import fidelity, peer, speed


def main(argv: list[str] | None = None) -> None:
    """Run fidelity, speed and the peer check in turn, passing ``--toy`` / ``--no-write`` on."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    passed = [a for a, on in (("--toy", args.toy), ("--no-write", args.no_write)) if on]
    for module in (fidelity, speed, peer):
        print(f"== python -m {module.__name__} {' '.join(passed)}".rstrip())
        module.main(passed)


if __name__ == "__main__":
    main()
