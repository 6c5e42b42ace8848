"""Space files → NNI model spaces, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from idarts_plugin.config import SpaceConfig
from idarts_plugin.spaces import OP_TABLE, SpaceError, available_spaces, load_space
from tests.conftest import requires_nni


def test_shipped_spaces_are_found():
    assert {"nas-bench-201", "darts", "cell"} <= set(available_spaces())


def test_options_merge_file_then_overrides():
    spec = load_space(SpaceConfig(name="nas-bench-201", options={"cells_per_stage": 2}))
    assert spec.options == {"stem_channels": 16, "cells_per_stage": 2}
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


def test_op_table_preserves_shape():
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
