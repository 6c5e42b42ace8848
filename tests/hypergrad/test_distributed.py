"""Data-parallel hypergradients: two gloo ranks, each on half a batch, give the union's.

Every method (and both HVP modes) is run on 2 processes with ``reduce=process_group_mean()``
and compared, in float64, with one process computing on the whole batch.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from idarts_plugin.hypergrad import compute_hypergradient, module_loss
from idarts_plugin.hypergrad.distributed import process_group_mean

CASES: list[tuple[str, str, dict[str, Any]]] = [
    (m, hvp, opts)
    for hvp in ("exact", "finite_difference")
    for m, opts in [
        ("first_order", {}),
        ("unrolled", {"lr": 0.1}),
        ("neumann", {"steps": 4, "lr": 0.05}),
        ("neumann", {"steps": 3, "lr": "auto"}),
        ("amended", {"lr": 0.05}),
        ("cg", {"steps": 6, "damping": 0.5}),
    ]
]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.randn(3, dtype=torch.float64) * 0.1)
        self.l1 = nn.Linear(5, 6, dtype=torch.float64)
        self.l2 = nn.Linear(6, 3, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mix = torch.softmax(self.alpha, 0)
        h = mix[0] * torch.tanh(self.l1(x)) + mix[1] * torch.sigmoid(self.l1(x)) + mix[2] * 0.0
        return self.l2(h)


def batches() -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(1)
    x_tr = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    y_tr = torch.randint(0, 3, (16,), generator=gen)
    x_va = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    y_va = torch.randint(0, 3, (16,), generator=gen)
    return x_tr, y_tr, x_va, y_va


def hypergrad(rows: slice, reduce: Any) -> list[list[torch.Tensor]]:
    torch.manual_seed(0)
    net = Net()
    x_tr, y_tr, x_va, y_va = batches()
    names = {
        "alpha_names": ["alpha"],
        "weight_names": ["l1.weight", "l1.bias", "l2.weight", "l2.bias"],
    }
    tr = module_loss(net, nn.functional.cross_entropy, x_tr[rows], y_tr[rows], **names)
    va = module_loss(net, nn.functional.cross_entropy, x_va[rows], y_va[rows], **names)
    weights = [net.l1.weight, net.l1.bias, net.l2.weight, net.l2.bias]
    out = []
    for method, hvp, opts in CASES:
        result = compute_hypergradient(
            tr, va, weights, [net.alpha], method=method, hvp=hvp, reduce=reduce, **opts
        )
        out.append([g.clone() for g in result.grads])
    return out


def _rank(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        reduce = process_group_mean()
        assert reduce is not None
        rows = slice(rank * 8, (rank + 1) * 8)
        torch.save(hypergrad(rows, reduce), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_process_group_means_no_reduction():
    assert process_group_mean() is None


@pytest.mark.slow
def test_two_ranks_on_half_batches_equal_one_process_on_the_union(tmp_path: Path):
    union = hypergrad(slice(0, 16), None)
    mp.spawn(_rank, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for i, (method, hvp, opts) in enumerate(CASES):
        for g0, g1, gu in zip(ranks[0][i], ranks[1][i], union[i], strict=True):
            assert torch.equal(g0, g1), f"{method} {hvp} {opts}: ranks differ"
            tol = 1e-10 if hvp == "exact" else 1e-6
            assert torch.allclose(g0, gu, rtol=tol, atol=tol), (
                f"{method} {hvp} {opts}: rank result {g0} != union {gu}"
            )
    # Not trivially equal: the halves alone give other hypergradients.
    half = hypergrad(slice(0, 8), None)
    assert not torch.allclose(half[4][0], union[4][0], atol=1e-6)
