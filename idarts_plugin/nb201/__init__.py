"""NAS-Bench-201: arch strings, NNI export dicts and accuracy look-up.

A NAS-Bench-201 cell has 4 nodes and 6 edges ``i -> j`` (``i < j``), each one of the 5 ops in
:data:`NB201_OPS`. Its arch string lists, for node ``j = 1, 2, 3``, the incoming edges as
``op~i`` (``i = 0 .. j-1``): ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. NNI's hub space
``nni.nas.hub.pytorch.NasBench201`` exports the same cell as ``{"cell/0_1": op, "cell/0_2": op,
"cell/1_2": op, ...}`` (key ``cell/{i}_{j}``) with NNI's op names, which say ``conv_1x1`` /
``conv_3x3`` where the benchmark says ``nor_conv_1x1`` / ``nor_conv_3x3``.

Look-up sources (:func:`open_source`) answer ``lookup(arch) -> LookupResult``:

* :class:`OfficialAPISource`: the official benchmark files (NATS-Bench ``NATS-tss-v1_0-3ffb9*``
  or ``NAS-Bench-201-v1_*.pth``) through their own API package (``nats_bench`` /
  ``nas_201_api``, imported only then).
* :class:`NB201Table`: compact tables given by path, a directory or a single file:

  - ``vtao_nats_bench.csv(.gz)`` (columns ``ArchitectureString``,
    ``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs``,
    ``ImageNetTestAccuracy200Epochs``): 200-epoch **test** accuracy, mean over seeds, rows in
    the official index order;
  - ``LAPT_nasbench201_{cifar10,cifar100,imagenet}.json(.gz)`` (``{arch: {"val_acc_200",
    "test_acc_200", "rank"}}``): 200-epoch validation and test accuracy; some figures are
    single-seed (about 15 % of the archs differ from the mean over seeds by more than 0.01);
  - ``bayeswatch_nb201_v1_1_accs.csv(.gz)`` (columns ``arch``, ``cellstr``, ``cifar10-test``,
    ``cifar10-val``, ...): **12-epoch** figures, used only with ``hp="12"``.

  With both the CSV and the LAPT files, validation accuracy comes from LAPT and test accuracy
  from the CSV (mean over seeds); without the CSV, test accuracy comes from LAPT. The rank is
  always recomputed from the test accuracies the table uses (1 = best; values within
  ``1e-4`` points tie and share the best rank, "1224" competition ranking); LAPT's own ``rank``
  field, which breaks ties arbitrarily, is not used.

CIFAR-10's validation accuracy is the official ``cifar10-valid`` figure (trained on the train
half); its test accuracy is the ``cifar10`` figure (trained on train + valid), as in the
NAS-Bench-201 paper.

Example:
    >>> arch = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    >>> arch_to_nni(arch)["cell/0_1"]
    'conv_3x3'
    >>> arch_from_nni(arch_to_nni(arch)) == arch
    True
    >>> parse_arch(arch)[(2, 3)]
    'skip_connect'

The package's modules: :mod:`~idarts_plugin.nb201.arch` (arch strings and NNI export dicts),
:mod:`~idarts_plugin.nb201.results` (what a look-up answers), :mod:`~idarts_plugin.nb201.readers`
and :mod:`~idarts_plugin.nb201.table` (compact tables), :mod:`~idarts_plugin.nb201.official`
(the official API), :mod:`~idarts_plugin.nb201.sources` (:func:`open_source`). None of them
imports torch or NNI.
"""

from __future__ import annotations

from .arch import (
    ARCH_FORM,
    EDGES,
    NB201_OPS,
    NB201_TO_NNI,
    NNI_TO_NB201,
    NUM_ARCHS,
    all_archs,
    arch_from_nni,
    arch_to_nni,
    format_arch,
    parse_arch,
)
from .errors import (
    ArchError,
    ArchNotFoundError,
    MissingAPIError,
    NB201Error,
    SourceError,
    TableFormatError,
)
from .official import OfficialAPISource
from .results import HPS, NB201_DATASETS, DatasetResult, LookupResult, LookupSource, format_lookup
from .sources import open_source
from .table import NB201Table

__all__ = [
    "ARCH_FORM",
    "EDGES",
    "HPS",
    "NB201_DATASETS",
    "NB201_OPS",
    "NB201_TO_NNI",
    "NNI_TO_NB201",
    "NUM_ARCHS",
    "ArchError",
    "ArchNotFoundError",
    "DatasetResult",
    "LookupResult",
    "LookupSource",
    "MissingAPIError",
    "NB201Error",
    "NB201Table",
    "OfficialAPISource",
    "SourceError",
    "TableFormatError",
    "all_archs",
    "arch_from_nni",
    "arch_to_nni",
    "format_arch",
    "format_lookup",
    "open_source",
    "parse_arch",
]
