"""NAS-Bench-201 arch strings, NNI export dicts and look-up (``idarts_plugin.nb201``).

Tests that read the shared compact tables (``../shared/data/nb201`` beside the repository, or
``$IDARTS_NB201_TABLES``) skip with a reason when they are absent; the others build small
tables of their own.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from idarts_plugin import nb201
from idarts_plugin.nb201 import (
    EDGES,
    NB201_DATASETS,
    NB201_OPS,
    NNI_TO_NB201,
    ArchError,
    ArchNotFoundError,
    DatasetResult,
    LookupResult,
    MissingAPIError,
    NB201Table,
    OfficialAPISource,
    SourceError,
    TableFormatError,
    all_archs,
    arch_from_nni,
    arch_to_nni,
    format_arch,
    format_lookup,
    open_source,
    parse_arch,
)

TABLES = Path(
    os.environ.get("IDARTS_NB201_TABLES")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201"
)
VTAO = TABLES / "vtao_nats_bench.csv.gz"
LAPT = {
    d: TABLES / f"LAPT_nasbench201_{f}.json.gz"
    for d, f in zip(NB201_DATASETS, ("cifar10", "cifar100", "imagenet"), strict=True)
}
BAYESWATCH = TABLES / "bayeswatch_nb201_v1_1_accs.csv.gz"
HAVE_TABLES = VTAO.is_file() and all(p.is_file() for p in LAPT.values())
needs_tables = pytest.mark.skipif(
    not HAVE_TABLES,
    reason=f"NAS-Bench-201 compact tables not found in {TABLES} (set IDARTS_NB201_TABLES)",
)

SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
CELL_KEYS = ["cell/0_1", "cell/0_2", "cell/1_2", "cell/0_3", "cell/1_3", "cell/2_3"]
VTAO_HEADER = [
    "CIFAR10TestAccuracy200Epochs",
    "CIFAR100TestAccuracy200Epochs",
    "ImageNetTestAccuracy200Epochs",
    "ArchitectureString",
]


@pytest.fixture(scope="module")
def table() -> NB201Table:
    if not HAVE_TABLES:
        pytest.skip(f"NAS-Bench-201 compact tables not found in {TABLES} (set IDARTS_NB201_TABLES)")
    return NB201Table.from_path(TABLES)


def write_vtao(path: Path, rows: dict[str, tuple[float, float, float]]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(VTAO_HEADER)
        for arch, (c10, c100, im) in rows.items():
            writer.writerow([c10, c100, im, arch])
    return path


# --------------------------------------------------------------------------------------------
# Arch strings and NNI export dicts (no tables needed).
# --------------------------------------------------------------------------------------------


def test_constants():
    assert NB201_OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert dict(NNI_TO_NB201) == {
        "none": "none",
        "skip_connect": "skip_connect",
        "conv_1x1": "nor_conv_1x1",
        "conv_3x3": "nor_conv_3x3",
        "avg_pool_3x3": "avg_pool_3x3",
    }
    assert NB201_DATASETS == ("cifar10", "cifar100", "imagenet16-120")


def test_parse_and_format():
    ops = parse_arch(RESNET)
    assert list(ops) == list(EDGES)
    assert ops == {
        (0, 1): "nor_conv_3x3",
        (0, 2): "none",
        (1, 2): "nor_conv_3x3",
        (0, 3): "skip_connect",
        (1, 3): "none",
        (2, 3): "skip_connect",
    }
    assert format_arch(ops) == RESNET
    assert parse_arch(f"  {RESNET}\n") == ops  # surrounding whitespace is ignored


def test_all_archs_are_the_whole_space():
    archs = all_archs()
    assert len(archs) == len(set(archs)) == 15625 == nb201.NUM_ARCHS
    assert archs[0] == NONE and archs[-1] == format_arch(dict.fromkeys(EDGES, "avg_pool_3x3"))
    for arch in archs:
        assert format_arch(parse_arch(arch)) == arch
    assert all_archs() is not archs  # a fresh list each call


def test_nni_round_trip_all_cells():
    nni_ops = set(NNI_TO_NB201)
    for arch in all_archs():
        export = arch_to_nni(arch)
        assert list(export) == CELL_KEYS
        assert set(export.values()) <= nni_ops
        assert arch_from_nni(export) == arch


def test_nni_export_conversion_details():
    export = arch_to_nni(RESNET)
    assert export == {
        "cell/0_1": "conv_3x3",
        "cell/0_2": "none",
        "cell/1_2": "conv_3x3",
        "cell/0_3": "skip_connect",
        "cell/1_3": "none",
        "cell/2_3": "skip_connect",
    }
    # Unrelated keys are ignored; key order does not matter; the benchmark's names are accepted.
    shuffled = dict(reversed(list(export.items())))
    assert arch_from_nni({"stem/width": 16, **shuffled, "other/0_1": "x"}) == RESNET
    assert arch_from_nni({**export, "cell/0_1": "nor_conv_3x3"}) == RESNET
    # Other labels.
    assert arch_from_nni(arch_to_nni(RESNET, prefix="mycell"), prefix="mycell") == RESNET
    bare = arch_to_nni(RESNET, prefix="")
    assert set(bare) == {k.removeprefix("cell/") for k in CELL_KEYS}
    assert arch_from_nni({**bare, "lr": 0.1}, prefix="") == RESNET


@pytest.mark.parametrize(
    ("export", "match"),
    [
        (
            {"cell/0_1": "sep_conv_3x3"},
            r"'cell/0_1' has unknown op 'sep_conv_3x3'; valid ops: none, skip_connect, conv_1x1",
        ),
        ({"cell/0_1": 3}, r"'cell/0_1' has unknown op 3"),
        ({"cell/0_4": "none"}, r"'cell/0_4' is not an edge .*expected the keys cell/0_1, cell/0_2"),
        ({"cell/2_1": "none"}, r"'cell/2_1' is not an edge"),
        ({"cell/temperature": 1.0}, r"'cell/temperature' is under 'cell/' but is not a cell edge"),
    ],
)
def test_bad_nni_exports(export, match):
    with pytest.raises(ArchError, match=match):
        arch_from_nni({**arch_to_nni(SKIP), **export})


def test_nni_export_missing_edges():
    export = arch_to_nni(SKIP)
    del export["cell/2_3"], export["cell/0_2"]
    with pytest.raises(ArchError, match=r"lacks the cell edge\(s\) cell/0_2, cell/2_3"):
        arch_from_nni(export)
    with pytest.raises(ArchError, match="lacks the cell edge"):
        arch_from_nni(arch_to_nni(SKIP), prefix="cells")  # wrong label: nothing under it


def test_nni_hub_space_labels_match():
    """The keys and op names of NNI's own NasBench201 space are the ones converted here."""
    pytest.importorskip("nni")
    from nni.nas.hub.pytorch import NasBench201

    space = NasBench201(stem_out_channels=4, num_modules_per_stack=1, num_labels=10)
    labels = space.simplify()
    assert sorted(labels) == sorted(CELL_KEYS)
    for mutable in labels.values():
        assert sorted(mutable.values) == sorted(NNI_TO_NB201)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            "|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            r"unknown op 'conv_3x3' \(NNI's 'conv_3x3' is 'nor_conv_3x3'",
        ),
        ("|sep_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'sep_conv_3x3'"),
        ("|none~0|+|none~0|none~1|", r"2 group\(s\) joined by '\+', need 3"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", r"4 group\(s\)"),
        (
            "|none~0|+|none~0|+|none~0|none~1|none~2|",
            r"node 2's group '\|none~0\|' has 1 edge\(s\), need 2",
        ),
        (
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|",
            r"node 3's group .* has 4 edge\(s\), need 3",
        ),
        (
            "|none~0|+|none~0|none~3|+|none~0|none~1|none~2|",
            r"edge 'none~3': node 2 only takes inputs from nodes 0..1",
        ),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", r"should be written op~0"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end with '|'"),
        ("|none~0|,|none~0|none~1|,|none~0|none~1|none~2|", r"1 group\(s\)"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "lacks '~SOURCE'"),
        ("|none~0||+|none~0|none~1|+|none~0|none~1|none~2|", r"has 2 edge\(s\), need 1"),
        ("", r"1 group\(s\)"),
        (None, "expected a str, got NoneType"),
    ],
)
def test_bad_arch_strings(bad, match):
    with pytest.raises(ArchError, match=match) as info:
        parse_arch(bad)
    message = str(info.value)
    assert "\n" not in message
    assert repr(bad) in message  # names the bad string
    assert "expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|" in message
    assert "none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3" in message
    assert isinstance(info.value, ValueError)


def test_format_arch_errors():
    ops = dict.fromkeys(EDGES, "none")
    with pytest.raises(ArchError, match=r"missing edges \[\(2, 3\)\]"):
        format_arch({e: o for e, o in ops.items() if e != (2, 3)})
    with pytest.raises(ArchError, match=r"unexpected edges \[\(0, 4\)\]"):
        format_arch({**ops, (0, 4): "none"})
    with pytest.raises(ArchError, match=r"unknown op 'conv_1x1' \(NNI's .*valid ops: none"):
        format_arch({**ops, (1, 2): "conv_1x1"})


def test_module_imports_neither_torch_nor_nni():
    """The nb201 package is pure data handling: loading it alone (without the parent package's
    ``__init__``) pulls in neither torch nor nni."""
    code = (
        "import importlib, sys, types\n"
        "parent = types.ModuleType('idarts_plugin')\n"
        f"parent.__path__ = [{str(Path(nb201.__file__).parents[1])!r}]\n"
        "sys.modules['idarts_plugin'] = parent\n"
        "module = importlib.import_module('idarts_plugin.nb201')\n"
        "assert len(module.all_archs()) == 15625\n"
        "bad = sorted(m for m in ('torch', 'nni', 'numpy', 'pandas') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------------
# The shared compact tables.
# --------------------------------------------------------------------------------------------


@needs_tables
def test_acceptance_values(table):
    skip = table.lookup(SKIP).results
    assert skip["cifar10"].val_acc == pytest.approx(39.77, abs=0.01)
    assert skip["cifar10"].test_acc == pytest.approx(54.30, abs=0.01)
    assert skip["cifar100"].val_acc == pytest.approx(15.03, abs=0.01)
    assert skip["cifar100"].test_acc == pytest.approx(15.61, abs=0.01)
    assert skip["imagenet16-120"].val_acc == pytest.approx(16.43, abs=0.01)
    assert skip["imagenet16-120"].test_acc == pytest.approx(16.32, abs=0.01)
    resnet = table.lookup(RESNET).results["cifar10"]
    assert (resnet.val_acc, resnet.test_acc) == pytest.approx((90.86, 93.91), abs=0.01)
    assert table.lookup(NONE).results["cifar10"].test_acc == pytest.approx(10.00, abs=0.01)


@needs_tables
def test_best_cell_ranks_first(table):
    results = {a: table.lookup(a).results["cifar10"] for a in all_archs()}
    best_test = max(r.test_acc for r in results.values())
    assert best_test == pytest.approx(94.37, abs=0.01)
    assert max(r.val_acc for r in results.values()) == pytest.approx(91.61, abs=0.01)
    firsts = [a for a, r in results.items() if r.rank == 1]
    assert firsts and all(results[a].test_acc == pytest.approx(best_test, abs=1e-4) for a in firsts)
    # Competition ranking: two cells tie at 94.37 (mean over seeds), so the next rank is 3.
    assert len(firsts) == 2
    assert min(r.rank for r in results.values() if r.rank != 1) == 3
    assert results[RESNET].rank == 1 + sum(
        r.test_acc > results[RESNET].test_acc + 1e-4 for r in results.values()
    )
    assert results[SKIP].rank > 15000
    # Ranks are computed for every data set.
    assert {table.lookup(a).results["cifar100"].rank for a in firsts} <= set(range(1, 20))


@needs_tables
def test_tables_cover_exactly_the_space(table):
    with gzip.open(VTAO, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    in_csv = [row["ArchitectureString"] for row in rows]
    assert set(in_csv) == set(all_archs())
    assert len(table) == 15625 and SKIP in table and "nonsense" not in table
    # The CSV's rows are in the official index order.
    assert table.lookup(in_csv[0]).index == 0 and table.lookup(in_csv[-1]).index == 15624


@needs_tables
def test_sources_and_combination(table):
    result = table.lookup(RESNET)
    assert (
        result.arch == RESNET and result.hp == "200" and set(result.results) == set(NB201_DATASETS)
    )
    assert (
        result.results["cifar10"].source
        == "val: LAPT_nasbench201_cifar10.json.gz, test: vtao_nats_bench.csv.gz"
    )
    assert "LAPT_nasbench201_imagenet" in result.results["imagenet16-120"].source
    # Test accuracies come from the mean-over-seeds CSV, not from LAPT (single-seed for some).
    with gzip.open(LAPT["cifar10"], "rt") as fh:
        lapt = json.load(fh)
    with gzip.open(VTAO, "rt", newline="") as fh:
        vtao = {
            row["ArchitectureString"]: float(row["CIFAR10TestAccuracy200Epochs"])
            for row in csv.DictReader(fh)
        }
    differ = [a for a in all_archs() if abs(lapt[a]["test_acc_200"] - vtao[a]) > 0.01]
    assert differ
    assert table.lookup(differ[0]).results["cifar10"].test_acc == vtao[differ[0]]
    assert table.lookup(differ[0]).results["cifar10"].val_acc == lapt[differ[0]]["val_acc_200"]


@needs_tables
def test_single_table_files():
    lapt = NB201Table.from_path(LAPT["cifar10"])
    result = lapt.lookup(SKIP)
    assert result.index is None
    assert result.results["cifar10"].test_acc == pytest.approx(54.30, abs=0.01)
    assert result.results["cifar10"].source == "LAPT_nasbench201_cifar10.json.gz"
    assert result.results["cifar100"] == DatasetResult(None, None, None, "n/a")
    vtao = NB201Table.from_path(VTAO)
    result = vtao.lookup(RESNET)
    assert result.results["cifar10"].val_acc is None and result.results["cifar10"].rank is not None
    assert result.results["cifar10"].test_acc == pytest.approx(93.91, abs=0.01)


@needs_tables
def test_twelve_epoch_table():
    if not BAYESWATCH.is_file():
        pytest.skip(f"{BAYESWATCH} not found")
    twelve = open_source(TABLES, hp="12")
    assert isinstance(twelve, NB201Table)
    result = twelve.lookup(SKIP)
    assert result.hp == "12" and result.results["cifar10"].source == BAYESWATCH.name
    assert result.results["cifar10"].test_acc == pytest.approx(36.84, abs=0.01)
    assert result.results["cifar10"].val_acc == pytest.approx(33.94, abs=0.01)
    assert "12 ep." in format_lookup(result)
    # Its index column agrees with the 200-epoch CSV's row order.
    two_hundred = NB201Table.from_path(VTAO)
    for arch in (SKIP, NONE, RESNET):
        assert twelve.lookup(arch).index == two_hundred.lookup(arch).index
    with pytest.raises(TableFormatError, match=r"12-epoch figures only .*hp='12'"):
        NB201Table.from_path(BAYESWATCH)


@needs_tables
def test_open_source_from_env(monkeypatch):
    monkeypatch.setenv("IDARTS_NB201", str(TABLES))
    source = open_source()
    assert isinstance(source, NB201Table) and len(source) == 15625


@needs_tables
def test_format_lookup_of_a_table_result(table):
    text = format_lookup(table.lookup(RESNET))
    assert RESNET in text and "93.91" in text and "90.86" in text and "imagenet16-120" in text
    assert "vtao_nats_bench.csv.gz" in text


@needs_tables
def test_invalid_arch_lookup(table):
    with pytest.raises(ArchError, match="unknown op 'conv_3x3'"):
        table.lookup(SKIP.replace("skip_connect~0|+", "conv_3x3~0|+"))
    with pytest.raises(ArchError, match=r"node 2 only takes inputs from nodes 0\.\.1"):
        table.lookup("|none~0|+|none~0|none~3|+|none~0|none~1|none~2|")


# --------------------------------------------------------------------------------------------
# Small tables of our own (no shared data needed).
# --------------------------------------------------------------------------------------------


def test_full_synthetic_table_ranks_ties_and_index(tmp_path):
    archs = all_archs()
    rows = {a: (float(i % 800) / 10.0, 50.0, 20.0) for i, a in enumerate(archs)}  # < 80
    # Plant a tie at the top (equal up to float noise) and one just below.
    rows[archs[5]] = (99.9 + 1e-9, 60.0, 30.0)
    rows[archs[7]] = (99.9, 60.0, 30.0)
    rows[archs[9]] = (99.89, 60.0, 30.0)
    table = NB201Table.from_path(write_vtao(tmp_path / "nats.csv", rows))
    ranks = {a: table.lookup(a).results["cifar10"].rank for a in (archs[5], archs[7], archs[9])}
    assert ranks == {archs[5]: 1, archs[7]: 1, archs[9]: 3}
    # cifar100: 15622 archs tie at 50.0 below the three at 60.0.
    assert table.lookup(archs[0]).results["cifar100"].rank == 4
    assert table.lookup(archs[123]).index == 123  # row number in a full file
    assert table.lookup(archs[123]).results["cifar10"].val_acc is None


def test_small_table_missing_arch_and_no_rank(tmp_path):
    table = NB201Table.from_path(write_vtao(tmp_path / "mine.csv.gz", {SKIP: (54.3, 15.6, 16.3)}))
    assert len(table) == 1 and table.datasets() == NB201_DATASETS
    result = table.lookup(f" {SKIP} ")
    assert result.arch == SKIP and result.index is None  # not the full file: no official index
    assert result.results["cifar10"].test_acc == 54.3 and result.results["cifar10"].rank is None
    with pytest.raises(
        ArchNotFoundError, match=r"valid NAS-Bench-201 cell but .* does not hold it"
    ) as info:
        table.lookup(RESNET)
    assert isinstance(info.value, KeyError)
    assert str(info.value).startswith(repr(RESNET))  # a plain message, not KeyError's repr
    with pytest.raises(ArchError):
        table.lookup("|none~0|")


def test_table_constructor():
    table = NB201Table({"cifar10": {NONE: 10.0}}, {"cifar100": {NONE: 1.0}}, index={NONE: 1651})
    result = table.lookup(NONE)
    assert result.index == 1651 and result.results["cifar100"].val_acc == 1.0
    assert result.results["cifar10"].source == "n/a" and table.datasets() == ("cifar10", "cifar100")
    with pytest.raises(SourceError, match="unknown data set 'cifar-10'"):
        NB201Table({"cifar-10": {NONE: 10.0}})
    with pytest.raises(ArchError, match="unknown op"):
        NB201Table({"cifar10": {"|x~0|+|none~0|none~1|+|none~0|none~1|none~2|": 10.0}})
    with pytest.raises(SourceError, match="hp must be one of 200, 12"):
        NB201Table({}, hp="50")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        (
            "mine.csv",
            "a,b\n1,2\n",
            r"mine\.csv: unknown NAS-Bench-201 table format; expected a CSV with columns ArchitectureString, CIFAR10TestAccuracy200Epochs",
        ),
        ("mine.json", '{"a": 1}', r"mine\.json: unknown NAS-Bench-201 table format"),
        ("mine.txt", "hello", r"mine\.txt: unknown NAS-Bench-201 table format"),
        ("mine.json", "{not json", r"mine\.json: cannot read it as a table"),
        ("mine.csv.gz", "not gzip", r"mine\.csv\.gz: cannot read it as a table"),
        (
            "accs.json",
            json.dumps({SKIP: {"val_acc_200": 1, "test_acc_200": 2}}),
            r"accs\.json: .*file name does not say its data set",
        ),
        (
            "t_cifar10.json",
            json.dumps({SKIP: {"test_acc_200": "n/a"}}),
            r"t_cifar10\.json: key .*test_acc_200: not a number: 'n/a'",
        ),
        (
            "t_cifar10.json",
            json.dumps({"|none~0|": {"test_acc_200": 1}}),
            r"t_cifar10\.json: key '\|none~0\|': not a NAS-Bench-201 arch string",
        ),
        (
            "nats.csv",
            ",".join(VTAO_HEADER) + f"\n1,2,3,{SKIP}\n1,2,3,|bad~0|\n",
            r"nats\.csv: row 3: not a NAS-Bench-201 arch string: '\|bad~0\|'",
        ),
    ],
)
def test_bad_table_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TableFormatError, match=match):
        NB201Table.from_path(path)


def test_table_directories(tmp_path):
    (tmp_path / "README.md").write_text("not a table")
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")  # unknown formats are skipped in a folder
    with pytest.raises(
        TableFormatError, match=r"no 200-epoch NAS-Bench-201 table in .*expected vtao_nats_bench"
    ):
        NB201Table.from_path(tmp_path)
    write_vtao(tmp_path / "one.csv", {SKIP: (54.3, 15.6, 16.3)})
    lapt = {SKIP: {"val_acc_200": 39.77, "test_acc_200": 54.0, "rank": 7}}
    (tmp_path / "x_cifar10.json").write_text(json.dumps(lapt))
    result = NB201Table.from_path(tmp_path).lookup(SKIP).results["cifar10"]
    assert (result.val_acc, result.test_acc) == (39.77, 54.3)  # test from the CSV
    assert result.source == "val: x_cifar10.json, test: one.csv"
    write_vtao(tmp_path / "two.csv", {SKIP: (54.3, 15.6, 16.3)})
    with pytest.raises(TableFormatError, match="several mean-over-seeds test accuracy CSV tables"):
        NB201Table.from_path(tmp_path)
    with pytest.raises(TableFormatError, match="no 12-epoch NAS-Bench-201 table"):
        NB201Table.from_path(tmp_path, hp="12")


def test_open_source_configuration_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("IDARTS_NB201", raising=False)
    with pytest.raises(
        SourceError, match=r"no NAS-Bench-201 source configured.*--tables PATH.*IDARTS_NB201"
    ):
        open_source()
    with pytest.raises(SourceError, match="does not exist"):
        open_source(tmp_path / "missing")
    monkeypatch.setenv("IDARTS_NB201", str(tmp_path / "also-missing"))
    with pytest.raises(SourceError, match="also-missing"):
        open_source()


# --------------------------------------------------------------------------------------------
# The official-API adapter, with fake API objects.
# --------------------------------------------------------------------------------------------


class FakeAPI:
    """Mimics NATS-Bench's ``get_more_info(index, dataset, iepoch=None, hp='12', is_random=True)``."""

    figures: ClassVar[dict[str, dict[str, float]]] = {
        "cifar10-valid": {"valid-accuracy": 39.77, "test-accuracy": 50.0},
        "cifar10": {"test-accuracy": 54.30},
        "cifar100": {"valid-accuracy": 15.03, "test-accuracy": 15.61},
        "ImageNet16-120": {"valid-accuracy": 16.43, "test-accuracy": 16.32},
    }

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, str, bool]] = []

    def __len__(self) -> int:
        return 15625

    def query_index_by_arch(self, arch):
        return 1835 if arch == SKIP else -1

    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True):
        self.calls.append((index, dataset, hp, is_random))
        return dict(self.figures[dataset])


def test_official_adapter_with_fake_api():
    api = FakeAPI()
    source = OfficialAPISource(api, name="fake")
    result = source.lookup(f"{SKIP}\n")
    assert isinstance(result, LookupResult) and result.arch == SKIP and result.index == 1835
    c10 = result.results["cifar10"]
    assert (c10.val_acc, c10.test_acc, c10.rank) == (39.77, 54.30, None)  # val: cifar10-valid
    assert c10.source == "fake (val: cifar10-valid, test: cifar10)"
    assert (result.results["cifar100"].val_acc, result.results["cifar100"].test_acc) == (
        15.03,
        15.61,
    )
    assert result.results["imagenet16-120"].source == "fake (ImageNet16-120)"
    assert {(c[2], c[3]) for c in api.calls} == {("200", False)}  # 200 epochs, mean over seeds
    assert sorted(c[1] for c in api.calls) == sorted(FakeAPI.figures)  # each entry queried once
    assert len(source) == 15625
    text = format_lookup(result)
    assert "54.30" in text and "39.77" in text and "index: 1835" in text
    with pytest.raises(ArchNotFoundError, match="is not in fake"):
        source.lookup(NONE)
    n_calls = len(api.calls)
    with pytest.raises(ArchError):
        source.lookup("|none~0|+|none~0|none~3|+|none~0|none~1|none~2|")
    assert len(api.calls) == n_calls


def test_official_adapter_with_old_style_api():
    class OldAPI:  # nas_201_api < 2.0: use_12epochs_result instead of hp; no __len__
        def query_index_by_arch(self, arch):
            return 7

        def get_more_info(
            self, index, dataset, iepoch=None, use_12epochs_result=False, is_random=True
        ):
            assert use_12epochs_result is True and is_random is False
            return {"valid-accuracy": 1.0, "test-accuracy": 2.0}

    source = OfficialAPISource(OldAPI(), hp="12")
    result = source.lookup(NONE)
    assert result.hp == "12" and result.results["cifar100"].test_acc == 2.0 and len(source) == 15625


def test_open_source_official_files(tmp_path, monkeypatch):
    pth = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    pth.write_bytes(b"")
    nats_dir = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    nats_dir.mkdir()
    (nats_dir / "meta.pickle.pbz2").write_bytes(b"")
    # Without the API packages: an ImportError that says what to install.
    monkeypatch.setitem(sys.modules, "nas_201_api", None)
    monkeypatch.setitem(sys.modules, "nats_bench", None)
    with pytest.raises(MissingAPIError, match="pip install nas-bench-201") as info:
        open_source(pth)
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingAPIError, match="pip install nats_bench"):
        open_source(nats_dir)
    # With a (fake) nats_bench: create(path, "tss", fast_mode=..., verbose=False).
    created = []

    def create(path, space, fast_mode=False, verbose=True):
        created.append((path, space, fast_mode, verbose))
        return FakeAPI()

    monkeypatch.setitem(sys.modules, "nats_bench", types.SimpleNamespace(create=create))
    source = open_source(nats_dir)
    assert isinstance(source, OfficialAPISource)
    assert created == [(str(nats_dir), "tss", True, False)]
    assert source.lookup(SKIP).results["cifar10"].test_acc == 54.30
