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
