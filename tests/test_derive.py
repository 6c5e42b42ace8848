"""What a search decided: margins, verdict, derivation rules, effective cell."""

from __future__ import annotations

import math

import pytest

from idarts_plugin.derive import derive, edge_decisions, effective_nb201, verdict
from idarts_plugin.nb201 import format_arch, parse_arch


def test_edge_decision_margin_and_normalised_entropy():
    d = edge_decisions({"e": {"a": 0.5, "b": 0.3, "c": 0.2}})["e"]
    assert (d.top, d.second) == ("a", "b")
    assert d.margin == pytest.approx(0.2)
    h = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)
    assert d.entropy == pytest.approx(h)
    uniform = edge_decisions({"u": {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}})["u"]
    assert uniform.entropy == pytest.approx(1.0) and uniform.margin == 0.0
    assert edge_decisions({"single": {"a": 1.0}}) == {}


def test_verdict_counts_decided_edges_and_names_the_setting():
    decided = {f"e{i}": {"a": 0.9, "b": 0.05, "c": 0.05} for i in range(4)}
    flat = {f"f{i}": {"a": 0.34, "b": 0.33, "c": 0.33} for i in range(2)}
    v = verdict({**decided, **flat})
    assert v.decided and (v.decided_edges, v.edges) == (4, 6)
    assert v.text.startswith("decided: 4/6 edges with margin ≥ 0.1")
    u = verdict({**flat, "e0": decided["e0"]})
    assert not u.decided and u.decided_edges == 1
    assert "strategy.arc_travel" in u.text and u.text.startswith("undecided")
    # Enough margins but a high mean entropy is still undecided.
    near = {f"n{i}": {"a": 0.26, "b": 0.16, "c": 0.16, "d": 0.16, "e": 0.26} for i in range(3)}
    assert not verdict(near).decided


def test_derivation_rules():
    probs = {
        "e1": {"none": 0.4, "skip": 0.35, "conv": 0.25},
        "e2": {"none": 0.1, "skip": 0.2, "conv": 0.7},
        "only_none": {"none": 1.0},
    }
    assert derive(probs, "argmax") == {"e1": "none", "e2": "conv", "only_none": "none"}
    assert derive(probs, "exclude_none") == {"e1": "skip", "e2": "conv", "only_none": "none"}
    with pytest.raises(ValueError, match="valid rules: argmax, exclude_none"):
        derive(probs, "top2")


@pytest.mark.parametrize(
    ("arch", "effective", "dead"),
    [
        (  # issue 13's export: nodes 1 and 2 are dead, one convolution is left
            "|none~0|+|none~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|",
            "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
            [1, 2],
        ),
        (  # ResNet-like: every non-none edge is on a path
            "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
            "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
            [],
        ),
        (  # node 1 is live but leads nowhere: its input edge is pruned
            "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
            "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
            [1],
        ),
        (  # the output is unreachable: nothing is effective
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            [1, 2],
        ),
    ],
)
def test_effective_cell(arch, effective, dead):
    eff, dead_nodes = effective_nb201(parse_arch(arch))
    assert format_arch(eff) == effective
    assert dead_nodes == dead
