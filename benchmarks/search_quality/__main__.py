"""``python -m benchmarks.search_quality``: see :mod:`benchmarks.search_quality.bench`."""

import sys

from .bench import main

sys.exit(main())
