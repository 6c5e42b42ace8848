"""A search space with attention in a LayerChoice runs under every strategy (CPU; CUDA too)."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import requires_nni

pytestmark = requires_nni

DEVICES = ["cpu"] + (["gpu"] if torch.cuda.is_available() else [])


class SelfAttention(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(d, num_heads=2, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


def attention_space():
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace

    class Tokens(ModelSpace):
        def __init__(self, d: int = 8) -> None:
            super().__init__()
            self.embed = nn.Linear(4, d)
            self.mixer = LayerChoice(
                {"attention": SelfAttention(d), "mlp": nn.Linear(d, d), "skip": nn.Identity()},
                label="mixer",
            )
            self.head = nn.Linear(d, 2)

        def forward(self, x):
            return self.head(self.mixer(self.embed(x)).mean(dim=1))

    return Tokens()


def strategies():
    from nni.nas.strategy import DARTS

    from idarts_plugin import AmendedDARTS, HypergradientDARTS, ImplicitDARTS, UnrolledDARTS

    kw = {"arc_learning_rate": 0.05}
    return {
        "implicit": lambda: ImplicitDARTS(neumann_steps=2, **kw),
        "implicit-auto": lambda: ImplicitDARTS(neumann_steps=2, neumann_lr="auto", **kw),
        "implicit-shared": lambda: ImplicitDARTS(hessian_batch="shared", **kw),
        "implicit-fd": lambda: ImplicitDARTS(hvp="finite_difference", **kw),
        "implicit-decay": lambda: ImplicitDARTS(inner_weight_decay=True, **kw),
        "unrolled": lambda: UnrolledDARTS(**kw),
        "unrolled-optimizer": lambda: UnrolledDARTS(virtual_step="optimizer", **kw),
        "amended": lambda: AmendedDARTS(**kw),
        "cg": lambda: HypergradientDARTS(method="cg", method_options={"steps": 3}, **kw),
        "nni-darts": lambda: DARTS(**kw),
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(strategies()))
def test_attention_layer_choice_searches_under_every_strategy(name, device):
    import pytorch_lightning as pl
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule

    torch.manual_seed(0)
    strategy = strategies()[name]()
    supernet = strategy.mutate_model(attention_space())
    sgd = functools.partial(torch.optim.SGD, momentum=0.9)
    module = ClassificationModule(
        num_classes=2, learning_rate=0.05, weight_decay=3e-4, optimizer=sgd
    )
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 5, 4, generator=g)
    y = (x[:, :, 0].mean(1) > 0).long()
    data = TensorDataset(x, y)
    loaders = {
        "train": DataLoader(data, batch_size=8),
        "val": DataLoader(data, batch_size=8, shuffle=True, generator=g),
    }
    before = [a.detach().clone() for a in oneshot.arch_parameters()]
    pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator=device,
    ).fit(oneshot, train_dataloaders=loaders)
    after = oneshot.arch_parameters()
    assert all(torch.isfinite(a).all() for a in after)
    assert any(not torch.equal(b, a.detach()) for b, a in zip(before, after, strict=True))
    if hasattr(oneshot, "skipped_arch_steps"):
        assert oneshot.skipped_arch_steps == 0
        assert oneshot.arch_steps == 4
