"""Small pieces of the search's Lightning side: the checkpoint write and the supernet accuracy."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from tests.conftest import requires_nni

pytestmark = requires_nni


class _Trainer:
    """What save_checkpoint uses of Lightning's trainer."""

    def __init__(self, payload: str, *, fail: bool = False) -> None:
        self.is_global_zero, self.payload, self.fail = True, payload, fail

    def save_checkpoint(self, path: str) -> None:
        with open(path, "w") as fh:
            fh.write(self.payload[: len(self.payload) // 2])
            if self.fail:
                raise OSError("disk full")
            fh.write(self.payload[len(self.payload) // 2 :])


def test_a_checkpoint_replaces_the_last_and_keeps_it_as_previous(tmp_path):
    from idarts_plugin.nni_adapter.lightning import save_checkpoint

    path = tmp_path / "checkpoints" / "last.ckpt"
    save_checkpoint(_Trainer("epoch 1"), path)
    save_checkpoint(_Trainer("epoch 2"), path)
    assert path.read_text() == "epoch 2"
    assert (path.parent / "previous.ckpt").read_text() == "epoch 1"
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt", "previous.ckpt"]


def test_a_checkpoint_write_that_fails_leaves_the_last_one_whole(tmp_path):
    import pytest

    from idarts_plugin.nni_adapter.lightning import save_checkpoint

    path = tmp_path / "checkpoints" / "last.ckpt"
    save_checkpoint(_Trainer("epoch 1"), path)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(_Trainer("epoch 2", fail=True), path)
    assert path.read_text() == "epoch 1"  # a resume still finds a whole checkpoint


def test_supernet_accuracy_uses_running_statistics_and_restores_train_mode():
    from idarts_plugin.nni_adapter.lightning import supernet_accuracy

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)).double()
    with torch.no_grad():  # running statistics far from any batch's: eval and train differ
        model[1].running_mean.fill_(5.0)
        model[1].running_var.fill_(0.1)
    x = torch.randn(20, 4)  # float32 batches, a float64 model
    y = torch.randint(0, 3, (20,))
    loader = [(x[:8], y[:8]), (x[8:], y[8:])]
    model.eval()
    with torch.no_grad():
        expected = float((model(x.double()).argmax(dim=1) == y).double().mean())
    model.train()
    before = model[1].running_mean.clone()
    module = SimpleNamespace(training_module=SimpleNamespace(model=model))
    assert supernet_accuracy(module, loader) == expected  # inputs cast to the model's dtype
    assert model.training and torch.equal(model[1].running_mean, before)
