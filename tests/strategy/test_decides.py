"""A search on a toy space with a known best op ends decided and picks it."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from idarts_plugin.budget import arc_learning_rate_for_budget, warmup_for_budget
from idarts_plugin.derive import derive, verdict
from tests.conftest import requires_nni

pytestmark = requires_nni


class Zero(nn.Module):
    def forward(self, x):
        return x * 0.0


class Square(nn.Module):
    def forward(self, x):
        return x * x


def toy_space():
    """One choice before a linear head; the label depends on x₀² + x₁², so only 'square' works."""
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace

    class Toy(ModelSpace):
        def __init__(self):
            super().__init__()
            self.op = LayerChoice(
                {"none": Zero(), "skip": nn.Identity(), "square": Square()}, label="op"
            )
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.op(x))

    return Toy()


def toy_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = ((x[:, 0] ** 2 + x[:, 1] ** 2) > 1.386).long()  # the median of chi²(2): balanced
    return TensorDataset(x, y)


@pytest.mark.parametrize("name", ["implicit", "implicit-safe-warm", "darts"])
def test_toy_search_ends_decided_on_the_known_best_op(name):
    import pytorch_lightning as pl
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule
    from nni.nas.strategy import DARTS

    from idarts_plugin import ImplicitDARTS

    torch.manual_seed(0)
    epochs, batches = 20, 8
    # The `auto` rules of the run config: warm-up, then lr = travel / architecture steps.
    warmup = warmup_for_budget(epochs)
    kw = {
        "arc_learning_rate": arc_learning_rate_for_budget((epochs - warmup) * batches),
        "warmup_epochs": warmup,
    }
    strategy = {
        "implicit": lambda: ImplicitDARTS(neumann_steps=2, **kw),
        "implicit-safe-warm": lambda: ImplicitDARTS(
            neumann_steps=2, neumann_lr="safe", warm_start=True, **kw
        ),
        "darts": lambda: DARTS(**kw),
    }[name]()
    supernet = strategy.mutate_model(toy_space())
    module = ClassificationModule(num_classes=2, learning_rate=0.05, optimizer=torch.optim.SGD)
    if hasattr(strategy, "remedies"):  # the hypergradient alone decides here
        from idarts_plugin.collapse import Remedies

        strategy.remedies = Remedies.off()
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    loaders = {
        "train": DataLoader(toy_data(batches * 32, 1), batch_size=32, shuffle=True),
        "val": DataLoader(toy_data(batches * 32, 2), batch_size=32, shuffle=True),
    }
    pl.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    ).fit(oneshot, train_dataloaders=loaders)
    probs = {k: {str(c): float(p) for c, p in v.items()} for k, v in oneshot.export_probs().items()}
    assert derive(probs)["op"] == "square", probs
    v = verdict(probs)
    assert v.decided, (v.text, probs)
