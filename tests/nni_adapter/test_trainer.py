"""The search's batch order: a function of (seed, epoch) only, sharded exactly across ranks."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from tests.conftest import requires_nni

pytestmark = requires_nni


def _order(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_the_order_depends_on_seed_and_epoch_only_and_covers_every_index():
    from idarts_plugin.nni_adapter.trainer import EpochSeededSampler

    a, b = EpochSeededSampler(50, seed=3), EpochSeededSampler(50, seed=3)
    assert _order(a, 0) == _order(b, 0)  # two samplers, same (seed, epoch): same batches
    assert sorted(_order(a, 0)) == list(range(50)) and len(a) == 50
    _order(a, 5)
    assert _order(a, 1) == _order(b, 1)  # whatever epochs came before (a resumed search)
    assert _order(a, 1) != _order(a, 0)
    assert _order(EpochSeededSampler(50, seed=4), 0) != _order(a, 0)


@pytest.mark.parametrize("n, world, batch", [(50, 2, 4), (51, 3, 5), (64, 4, 8)])
def test_ranks_batches_together_are_the_single_process_batch(monkeypatch, n, world, batch):
    import idarts_plugin.nni_adapter.trainer as trainer

    single = _order(trainer.EpochSeededSampler(n, seed=7), 2)
    shards = []
    for rank in range(world):
        monkeypatch.setattr(trainer, "_rank_world", lambda r=rank: (r, world))
        sampler = trainer.EpochSeededSampler(n, seed=7)
        shards.append(_order(sampler, 2))
        assert len(sampler) == n // world == len(shards[-1])
    assert not set(shards[0]) & set(shards[1])  # no sample on two ranks
    for s in range(n // world // batch):
        together = sorted(i for shard in shards for i in shard[s * batch : (s + 1) * batch])
        assert together == sorted(single[s * world * batch : (s + 1) * world * batch])


def test_search_loaders_drop_a_short_last_batch_only_when_shuffling():
    from idarts_plugin.config import TrainerConfig
    from idarts_plugin.nni_adapter.trainer import search_loader

    ds = TensorDataset(torch.arange(10.0), torch.arange(10))
    cfg = TrainerConfig(batch_size=4, seed=1, num_workers=0)
    shuffled = search_loader(ds, cfg, seed_offset=0, shuffle=True)
    assert [len(y) for _, y in shuffled] == [4, 4]
    ordered = search_loader(ds, cfg, seed_offset=0, shuffle=False)
    assert [y.tolist() for _, y in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    # A split smaller than one batch is kept whole, not dropped to nothing.
    tiny = TensorDataset(torch.arange(3.0), torch.arange(3))
    assert [len(y) for _, y in search_loader(tiny, cfg, seed_offset=0, shuffle=True)] == [3]
