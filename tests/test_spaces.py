"""Space files → NNI model spaces, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from idarts_plugin.config import SpaceConfig
from idarts_plugin.spaces import SpaceError, available_spaces, load_space
from tests.conftest import requires_nni


def test_shipped_spaces_are_found():
    assert {"nas-bench-201", "darts", "cell"} <= set(available_spaces())


def test_options_merge_file_then_overrides():
    spec = load_space(SpaceConfig(name="nas-bench-201", options={"cells_per_stage": 2}))
    assert spec.options == {"stem_channels": 16, "cells_per_stage": 2, "cell_bn": "affine"}
    assert spec.source.endswith("nas-bench-201.yaml")


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (SpaceConfig(name="nope"), "available spaces"),
        (SpaceConfig(name="cell", options={"ops": ["conv_3x3", "conv_9x9"]}), "valid ops"),
        (SpaceConfig(name="cell", options={"ops": []}), "non-empty"),
        (SpaceConfig(name="nas-bench-201", options={"width": 3}), "valid options"),
        (SpaceConfig(name="nas-bench-201", options={"stem_channels": 0}), ">= 1"),
    ],
)
def test_errors_name_the_key(config, match):
    with pytest.raises(SpaceError, match=match):
        load_space(config)


def test_space_file_errors_name_the_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("kind: resnet\n")
    with pytest.raises(SpaceError, match=r"mine\.yaml.*valid kinds"):
        load_space(SpaceConfig(name=str(f)))
    f.write_text(
        "kind: cell\noptions: {nodes: 2, ops: [skip_connect, max_pool_3x3], colour: red}\n"
    )
    with pytest.raises(SpaceError, match=r"mine\.yaml.*options\.colour"):
        load_space(SpaceConfig(name=str(f)))


@requires_nni
def test_op_table_builds_every_op_name_and_preserves_shape():
    from idarts_plugin.nni_adapter.spaces import OP_TABLE
    from idarts_plugin.spaces import CHOICES, OPS

    assert tuple(OP_TABLE) == OPS and CHOICES["ops"] == OPS
    x = torch.randn(2, 4, 6, 6)
    for name, make in OP_TABLE.items():
        assert make(4)(x).shape == x.shape, name


@requires_nni
@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("nas-bench-201", {"stem_channels": 4, "cells_per_stage": 1}),
        ("cell", {"nodes": 2, "channels": 4, "ops": ["none", "skip_connect", "conv_3x3"]}),
        ("darts", {"width": 4, "num_cells": 3}),
    ],
)
def test_spaces_build_and_run_as_darts_supernets(name, options):
    from nni.nas.strategy import DARTS

    from idarts_plugin.nni_adapter import build_space

    spec = load_space(SpaceConfig(name=name, options=options))
    space = build_space(spec, num_classes=5, in_channels=3)
    choices = space.simplify()
    assert choices
    supernet = DARTS().mutate_model(space)
    out = supernet(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 5)


@requires_nni
def test_nb201_cell_bn_non_affine_drops_only_the_searched_ops_scale_and_shift():
    """``cell_bn: non-affine``: the supernet's op BatchNorms have no weight/bias (as DARTS and
    NAS-Bench-201 search); stem, reduction blocks and head keep theirs; the exported cell is
    built affine (as NAS-Bench-201's table trains it); the default is NNI's affine space."""
    from nni.nas.hub.pytorch.modules.nasbench201 import NasBench201Cell
    from nni.nas.strategy import DARTS

    from idarts_plugin.config import load_config
    from idarts_plugin.nb201 import arch_to_nni
    from idarts_plugin.nni_adapter import build_space, freeze_architecture

    base = {"stem_channels": 4, "cells_per_stage": 1}
    spec = load_space(SpaceConfig(name="nas-bench-201", options={**base, "cell_bn": "non-affine"}))
    assert (
        load_space(SpaceConfig(name="nas-bench-201", options=base)).options["cell_bn"] == "affine"
    )
    space = build_space(spec, num_classes=5, in_channels=3)
    default = build_space(
        load_space(SpaceConfig(name="nas-bench-201", options=base)), num_classes=5
    )

    def bns(model, *, in_cells):
        cells = [m for m in model.modules() if isinstance(m, NasBench201Cell)]
        inside = {id(b) for c in cells for b in c.modules() if isinstance(b, torch.nn.BatchNorm2d)}
        return [
            b
            for b in model.modules()
            if isinstance(b, torch.nn.BatchNorm2d) and (id(b) in inside) == in_cells
        ]

    # 3 stages x 1 cell x 6 edges x (conv_1x1, conv_3x3) one BatchNorm each.
    assert len(bns(space, in_cells=True)) == len(bns(default, in_cells=True)) == 36
    assert all(not b.affine and b.weight is None for b in bns(space, in_cells=True))
    assert all(b.affine for b in bns(default, in_cells=True))
    assert all(b.affine for b in bns(space, in_cells=False))
    assert len(bns(space, in_cells=False)) == len(bns(default, in_cells=False)) > 0
    n = sum(b.num_features for b in bns(default, in_cells=True))
    params = sum(p.numel() for p in space.parameters())
    assert sum(p.numel() for p in default.parameters()) - params == 2 * n
    # The supernet trains and keeps running statistics.
    supernet = DARTS().mutate_model(space)
    supernet(torch.randn(4, 3, 16, 16)).sum().backward()
    assert all(b.num_batches_tracked.item() == 1 for b in bns(space, in_cells=True))
    # The exported cell is NAS-Bench-201's (affine) whatever the search used.
    cfg = load_config(
        None, [f"space.options.{k}={v}" for k, v in {**base, "cell_bn": "non-affine"}.items()]
    )
    arch = arch_to_nni(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|"
    )
    model = freeze_architecture(cfg, arch, num_classes=5, in_channels=3)
    assert all(b.affine for b in model.modules() if isinstance(b, torch.nn.BatchNorm2d))


def test_nb201_cell_bn_takes_two_names():
    with pytest.raises(SpaceError, match=r"cell_bn.*affine, non-affine"):
        load_space(SpaceConfig(name="nas-bench-201", options={"cell_bn": "frozen"}))


@requires_nni
def test_cell_space_shares_one_design_across_cells():
    from idarts_plugin.nni_adapter import build_space

    spec = load_space(
        SpaceConfig(name="cell", options={"nodes": 3, "channels": 4, "layers": 2, "stages": 2})
    )
    space = build_space(spec, num_classes=3, in_channels=1)
    labels = sorted(space.simplify())
    assert labels == ["cell/0_1", "cell/0_2", "cell/0_3", "cell/1_2", "cell/1_3", "cell/2_3"]


def test_darts_genotype_from_an_nni_export():
    from idarts_plugin.derive import describe_architecture

    export = {}
    for cell in ("normal", "reduce"):
        for node in range(2, 6):
            for k in range(2):
                export[f"{cell}/op_{node}_{k}"] = "sep_conv_3x3" if k == 0 else "skip_connect"
                export[f"{cell}/input_{node}_{k}"] = [node - 2 + k]
    text = describe_architecture(load_space(SpaceConfig(name="darts")), export)
    assert text.startswith(
        "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 1)"
    )
    assert text.count("sep_conv_3x3") == 8 and "normal_concat=range(2, 6)" in text
    assert "reduce_concat=range(2, 6)" in text


@requires_nni
def test_every_kind_has_a_builder_and_its_file_defines_its_options():
    from idarts_plugin.nni_adapter.spaces import BUILDERS
    from idarts_plugin.spaces import CHOICES, KINDS, SPACE_KINDS

    assert set(BUILDERS) == set(SPACE_KINDS) == {"nas-bench-201", "darts", "cell"}
    for kind in KINDS.values():  # the kind's own file: its options are the defaults
        assert load_space(SpaceConfig(name=kind.name)).options == dict(kind.defaults)
    assert set(KINDS["cell"].defaults["ops"]) <= set(CHOICES["ops"])
    assert KINDS["cell"].input_channels is None and KINDS["darts"].input_channels == 3


def test_a_new_kind_file_needs_names_for_its_text_options(tmp_path):
    from idarts_plugin.spaces import _read_kinds

    (tmp_path / "ring.yaml").write_text("kind: ring\noptions: {size: 4, shape: round}\n")
    with pytest.raises(SpaceError, match=r"ring\.yaml.*options\.shape.*CHOICES"):
        _read_kinds(tmp_path)
    (tmp_path / "ring.yaml").write_text("kind: ring\noptions: {size: 4}\n")
    (tmp_path / "small-ring.yaml").write_text("kind: ring\noptions: {size: 2}\n")  # a preset
    assert list(_read_kinds(tmp_path)) == ["ring"]


def test_a_users_file_may_not_change_the_kinds_input_channels(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("kind: cell\ninput_channels: 3\n")
    with pytest.raises(SpaceError, match=r"mine\.yaml.*input_channels.*any number of input"):
        load_space(SpaceConfig(name=str(f)))
    # A copy of a shipped file (the way to customise one) keeps the kind's own value.
    f.write_text(Path(load_space(SpaceConfig(name="darts")).source).read_text())
    assert load_space(SpaceConfig(name=str(f))).in_channels == 3


def test_what_the_plugin_knows_of_a_kind_is_read_from_its_file():
    from idarts_plugin.derive import NOTATIONS
    from idarts_plugin.spaces import KINDS

    facts = {k: (v.notation, v.cell_plot, v.edges_keep_shape) for k, v in KINDS.items()}
    assert facts == {
        "nas-bench-201": ("nas-bench-201", True, True),
        "darts": ("darts-genotype", False, False),
        "cell": (None, True, True),
    }
    assert {k.notation for k in KINDS.values()} - {None} <= set(NOTATIONS)
    spec = load_space(SpaceConfig(name="darts"))
    assert (spec.notation, spec.cell_plot, spec.edges_keep_shape) == facts["darts"]


def test_a_new_kind_states_its_facts_and_they_are_checked(tmp_path):
    from idarts_plugin.spaces import _read_kinds

    ring = tmp_path / "ring.yaml"
    ring.write_text("kind: ring\nnotation: nas-bench-201\ncell_plot: true\noptions: {size: 4}\n")
    kind = _read_kinds(tmp_path)["ring"]
    assert (kind.notation, kind.cell_plot, kind.edges_keep_shape) == ("nas-bench-201", True, True)
    ring.write_text("kind: ring\noptions: {size: 4}\n")  # left out: the defaults
    kind = _read_kinds(tmp_path)["ring"]
    assert (kind.notation, kind.cell_plot, kind.input_channels) == (None, False, None)
    ring.write_text("kind: ring\nnotation: genome\n")
    with pytest.raises(
        SpaceError, match=r"ring\.yaml.*notation.*unknown notation 'genome'.*darts-genotype"
    ):
        _read_kinds(tmp_path)
    ring.write_text("kind: ring\nedges_keep_shape: 'yes'\n")
    with pytest.raises(
        SpaceError, match=r"ring\.yaml.*edges_keep_shape.*must be true or false, got 'yes'"
    ):
        _read_kinds(tmp_path)


def test_a_users_file_may_repeat_but_not_change_a_kinds_facts(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("kind: darts\nedges_keep_shape: true\n")
    with pytest.raises(
        SpaceError, match=r"mine\.yaml.*edges_keep_shape.*has edges_keep_shape False"
    ):
        load_space(SpaceConfig(name=str(f)))
    f.write_text("kind: cell\nnotation: nas-bench-201\n")
    with pytest.raises(SpaceError, match=r"mine\.yaml.*notation.*leave notation out"):
        load_space(SpaceConfig(name=str(f)))
    f.write_text("kind: cell\ncell_plot: true\nedges_keep_shape: true\n")  # the kind's own
    assert load_space(SpaceConfig(name=str(f))).cell_plot


def test_a_space_without_a_notation_describes_no_architecture():
    from idarts_plugin.derive import decision_record, describe_architecture

    spec = load_space(SpaceConfig(name="cell"))
    assert describe_architecture(spec, {"cell/0_1": "conv_3x3"}) is None
    record = decision_record(spec, {"cell/0_1": {"conv_3x3": 0.9, "none": 0.1}}, {})
    assert "effective_arch" not in record


def test_a_users_file_states_a_fact_as_the_kinds_file_must(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("kind: darts\nedges_keep_shape: 0\n")  # 0 is not false
    with pytest.raises(SpaceError, match=r"mine\.yaml.*edges_keep_shape.*must be true or false"):
        load_space(SpaceConfig(name=str(f)))
    f.write_text("kind: nas-bench-201\nnotation: null\n")  # null: left out
    assert load_space(SpaceConfig(name=str(f))).notation == "nas-bench-201"


def test_the_auxiliary_skip_error_names_the_space_and_the_kinds_it_fits():
    from idarts_plugin.config import ConfigError, load_config
    from idarts_plugin.search import build_supernet

    cfg = load_config(None, ["space.name=darts", "strategy.aux_skip=1"])
    with pytest.raises(
        ConfigError, match=r"darts space.s edges change.*use it with cell, nas-bench-201 spaces"
    ):
        build_supernet(cfg, load_space(cfg.space))
