"""Search quality: a ground truth of NAS-Bench-201 cells trained from scratch, and a benchmark
of what each strategy finds measured against it.

* ``python -m benchmarks.search_quality.ground_truth``: train random cells and landmarks with one
  fixed recipe (:data:`RECIPE`) and extend ``ground_truth.csv.gz`` (resumable).
* ``python -m benchmarks.search_quality``: run every strategy over several seeds, train what
  each finds with the same recipe, and write the ``search-quality`` section of
  ``benchmarks/RESULTS.md`` with its plot.
"""
