"""The remedy callback: the auxiliary skip's schedule and hooks, β-decay on the α optimiser."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tests.conftest import requires_nni
from tests.nni_adapter.test_perturbation import Edge, Lambda

pytestmark = requires_nni


def _setup(*, aux_skip=0.0, beta_decay=0.0, shape_preserving=True):
    from idarts_plugin.collapse import Remedies
    from idarts_plugin.strategy.remedies import RemedyCallback

    alpha = nn.Parameter(torch.tensor([0.0, 1.0]))
    op = nn.Identity() if shape_preserving else Lambda(lambda t: t[..., :1])
    edge = Edge("cell/0_1", {"none": Lambda(torch.zeros_like), "op": op}, alpha)
    arch_opt = torch.optim.Adam([alpha], lr=0.1)
    arch_opt.is_arch_optimizer = True
    weight_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    logged = []
    module = SimpleNamespace(
        supernet_modules=lambda: iter([edge]),
        warmup_epochs=1,
        log_dict=lambda d, **_: logged.append(d),
    )
    trainer = SimpleNamespace(current_epoch=0, max_epochs=4, optimizers=[weight_opt, arch_opt])
    callback = RemedyCallback(Remedies(aux_skip=aux_skip, beta_decay=beta_decay))
    return callback, trainer, module, edge, alpha, arch_opt, logged


def test_aux_skip_adds_the_decayed_input_and_is_gone_after_the_search():
    callback, trainer, module, edge, _alpha, _, logged = _setup(aux_skip=1.0)
    x = torch.randn(3, 2)
    plain = edge(x)
    expected = {0: 1.0, 1: 0.75, 2: 0.5, 3: 0.25}
    for epoch, beta in expected.items():
        trainer.current_epoch = epoch
        callback.on_train_epoch_start(trainer, module)
        assert torch.allclose(edge(x), plain + beta * x)
        assert logged[-1]["remedy/aux_skip"] == beta
    assert len(edge._forward_hooks) == 1  # installed once, not per epoch
    callback.on_train_end(trainer, module)
    assert torch.equal(edge(x), plain) and not edge._forward_hooks


def test_aux_skip_refuses_an_edge_that_changes_the_shape():
    from idarts_plugin.strategy.remedies import AuxSkipShapeError

    callback, trainer, module, edge, *_ = _setup(aux_skip=1.0, shape_preserving=False)
    edge.ops["none"] = Lambda(lambda t: torch.zeros_like(t[..., :1]))
    callback.on_train_epoch_start(trainer, module)
    with pytest.raises(AuxSkipShapeError, match="cell/0_1"):
        edge(torch.randn(3, 2))


def test_aux_skip_auto_is_on_for_edges_that_keep_the_shape_and_off_for_strided_ones():
    callback, trainer, module, edge, *_ = _setup(aux_skip="auto")
    x = torch.randn(3, 2)
    plain = edge(x)
    callback.on_train_epoch_start(trainer, module)
    assert callback.remedies.aux_skip == 1.0 and torch.allclose(edge(x), plain + x)

    callback, trainer, module, edge, *_ = _setup(aux_skip="auto")
    edge.ops["op"] = nn.Conv1d(1, 1, 1, stride=2)  # a reduction edge
    callback.on_train_epoch_start(trainer, module)
    assert callback.remedies.aux_skip == 0.0 and not edge._forward_hooks
    assert callback.aux_weight == 0.0


@pytest.mark.parametrize(
    ("name", "options", "keeps"),
    [
        ("nas-bench-201", {"stem_channels": 4, "cells_per_stage": 1}, True),
        ("cell", {"nodes": 2, "channels": 4, "ops": ["none", "skip_connect", "conv_3x3"]}, True),
        ("darts", {"width": 4, "num_cells": 3}, False),
    ],
)
def test_edges_keep_shape_of_the_shipped_spaces(name, options, keeps):
    """What ``aux_skip: auto`` decides on a supernet agrees with the space kind's fact."""
    from nni.nas.strategy import DARTS

    from idarts_plugin.config import SpaceConfig
    from idarts_plugin.nni_adapter import build_space
    from idarts_plugin.spaces import load_space
    from idarts_plugin.strategy.remedies import edges_keep_shape

    spec = load_space(SpaceConfig(name=name, options=options))
    supernet = DARTS().mutate_model(build_space(spec, num_classes=5, in_channels=3))
    module = SimpleNamespace(supernet_modules=supernet.modules)
    assert edges_keep_shape(module) is keeps is spec.edges_keep_shape


def test_beta_decay_adds_its_gradient_before_the_architecture_step_only():
    callback, trainer, module, _, alpha, arch_opt, _ = _setup(beta_decay=3.0)
    trainer.current_epoch = 0  # warm-up: λ = 0
    callback.on_train_epoch_start(trainer, module)
    alpha.grad = torch.tensor([0.1, -0.2])
    arch_opt.step()
    assert torch.equal(alpha.grad, torch.tensor([0.1, -0.2]))
    trainer.current_epoch = 2  # architecture epochs 1..3: λ = 3 · 2/3
    callback.on_train_epoch_start(trainer, module)
    before = alpha.detach().clone()
    alpha.grad = torch.tensor([0.1, -0.2])
    arch_opt.step()
    expected = torch.tensor([0.1, -0.2]) + 2.0 * torch.softmax(before, 0)
    assert torch.allclose(alpha.grad, expected)
    trainer.optimizers[0].step()  # the weight optimiser has no hook
    callback.teardown_hooks()
    alpha.grad = torch.tensor([0.1, -0.2])
    arch_opt.step()
    assert torch.equal(alpha.grad, torch.tensor([0.1, -0.2]))


def _probs(share_edges: int, edges: int = 6) -> dict:
    """softmax(α) whose exclude_none cell has ``share_edges`` skip edges, the rest convs."""
    return {
        f"cell/{i}": (
            {
                "none": 0.1,
                "skip_connect": 0.5,
                "nor_conv_3x3": 0.2,
                "avg_pool_3x3": 0.1,
                "nor_conv_1x1": 0.1,
            }
            if i < share_edges
            else {
                "none": 0.1,
                "skip_connect": 0.2,
                "nor_conv_3x3": 0.5,
                "avg_pool_3x3": 0.1,
                "nor_conv_1x1": 0.1,
            }
        )
        for i in range(edges)
    }


@pytest.mark.parametrize("patience, fires", [(1, 4), (2, 5), (3, None)])
def test_early_stop_callback_stops_above_chance_and_restores_the_kept_alpha(patience, fires):
    """Shares 0.5 (warm-up), 1/3, 1/6, 1/2, 2/3, 5/6: chance is 1/2 (none excluded), so it
    fires at epoch 4 with patience 1, at 5 with 2 (two epochs in a row above chance), never
    with 3; α goes back to epoch 2's, the least parameter-free cell before."""
    from idarts_plugin.strategy.remedies import EarlyStopCallback

    alpha = nn.Parameter(torch.zeros(2))
    per_epoch = [3, 2, 1, 3, 4, 5]
    module = SimpleNamespace(warmup_epochs=1, arch_parameters=lambda: [alpha])
    trainer = SimpleNamespace(current_epoch=0, should_stop=False)
    callback = EarlyStopCallback(patience=patience)
    for epoch, skips in enumerate(per_epoch[: 6 if fires is None else fires + 1]):
        trainer.current_epoch = epoch
        with torch.no_grad():
            alpha.fill_(float(epoch))  # α "trains": each epoch's value is its number
        module.export_probs = lambda skips=skips: _probs(skips)
        callback.on_train_epoch_end(trainer, module)
        assert trainer.should_stop == (epoch == fires)
    callback.on_train_end(trainer, module)
    assert (callback.choice.epoch, callback.choice.fired) == (2, fires)
    assert torch.equal(alpha.detach(), torch.full((2,), 2.0))


def test_early_stop_callback_validates_its_patience():
    from idarts_plugin.strategy.remedies import EarlyStopCallback

    with pytest.raises(ValueError, match="patience"):
        EarlyStopCallback(patience=0)


def test_early_stop_callback_without_a_fire_leaves_alpha_alone():
    from idarts_plugin.strategy.remedies import EarlyStopCallback

    alpha = nn.Parameter(torch.full((2,), 7.0))
    module = SimpleNamespace(
        warmup_epochs=0, arch_parameters=lambda: [alpha], export_probs=lambda: _probs(2)
    )
    trainer = SimpleNamespace(current_epoch=0, should_stop=False)
    callback = EarlyStopCallback()
    callback.on_train_epoch_end(trainer, module)
    callback.on_train_end(trainer, module)
    assert callback.choice.fired is None and not trainer.should_stop
    assert torch.equal(alpha.detach(), torch.full((2,), 7.0))


def test_python_strategies_take_the_early_stop_as_a_callback_of_their_module():
    from idarts_plugin import AmendedDARTS, ImplicitDARTS
    from idarts_plugin.strategy.module import HypergradientDartsModule
    from idarts_plugin.strategy.remedies import EarlyStopCallback, RemedyCallback

    both = [RemedyCallback, EarlyStopCallback]
    for strategy, expected in (
        (ImplicitDARTS(early_stop="collapse", aux_skip=1.0), both),
        (AmendedDARTS(), both),  # the defaults: β-decay and the early stop
        (AmendedDARTS(beta_decay=0.0, early_stop="off"), []),
        (ImplicitDARTS(beta_decay=0.0), [EarlyStopCallback]),
    ):
        module = HypergradientDartsModule.__new__(HypergradientDartsModule)
        module.remedies = strategy.remedies
        assert [type(c) for c in module.configure_callbacks()] == expected


def test_early_stop_callback_without_a_fire_still_hands_back_the_cleanest_cell():
    from idarts_plugin.strategy.remedies import EarlyStopCallback

    alpha = nn.Parameter(torch.zeros(2))
    module = SimpleNamespace(warmup_epochs=1, arch_parameters=lambda: [alpha])
    trainer = SimpleNamespace(current_epoch=0, should_stop=False)
    callback = EarlyStopCallback()
    for epoch, skips in enumerate([3, 1, 3]):  # shares 1/2 (warm-up), 1/6, 1/2: no fire
        trainer.current_epoch = epoch
        with torch.no_grad():
            alpha.fill_(float(epoch))
        module.export_probs = lambda skips=skips: _probs(skips)
        callback.on_train_epoch_end(trainer, module)
    callback.on_train_end(trainer, module)
    assert (callback.choice.epoch, callback.choice.fired) == (1, None) and not trainer.should_stop
    assert torch.equal(alpha.detach(), torch.full((2,), 1.0))
