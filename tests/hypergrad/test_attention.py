"""Exact Hessian-vector products through attention (fused kernels have no double backward)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from idarts_plugin.hypergrad import compute_hypergradient, module_loss

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class AttentionChoice(nn.Module):
    """A softmax mix of multi-head attention, a hand-written SDPA head and a linear map."""

    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.embed = nn.Linear(4, d)
        self.mha = nn.MultiheadAttention(d, num_heads=2, batch_first=True)
        self.qkv = nn.Linear(d, 3 * d)
        self.lin = nn.Linear(d, d)
        self.head = nn.Linear(d, 3)
        self.alpha = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        ops = [
            self.mha(h, h, h, need_weights=False)[0],
            F.scaled_dot_product_attention(q, k, v),
            self.lin(h),
        ]
        p = torch.softmax(self.alpha, 0)
        out = sum(pi * o for pi, o in zip(p, ops, strict=True))
        return self.head(out.mean(dim=1))


def problem(device: str, dtype: torch.dtype):
    torch.manual_seed(0)
    net = AttentionChoice().to(device, dtype).train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 5, 4, generator=g, dtype=dtype).to(device)
    y = torch.randint(0, 3, (12,), generator=g).to(device)
    names = [n for n, _ in net.named_parameters()]
    wn = [n for n in names if n != "alpha"]
    params = dict(net.named_parameters())
    tr = module_loss(net, F.cross_entropy, x[:6], y[:6], weight_names=wn, alpha_names=["alpha"])
    va = module_loss(net, F.cross_entropy, x[6:], y[6:], weight_names=wn, alpha_names=["alpha"])
    return tr, va, [params[n] for n in wn], [params["alpha"]]


def test_the_fused_kernel_really_lacks_a_double_backward_here():
    """Precondition of the tests below: without the engine's backend choice this fails.

    (If a future torch gains the double backward, this check is skipped, not failed.)
    """
    q = torch.randn(2, 4, 8, requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q).sum()
    (g,) = torch.autograd.grad(out, q, create_graph=True)
    try:
        torch.autograd.grad(g.sum(), q)
    except RuntimeError as exc:
        assert "not implemented" in str(exc)
    else:
        pytest.skip("this torch has a double backward for its CPU attention kernel")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("method", "opts"),
    [
        ("neumann", {"steps": 2, "lr": 0.05}),
        ("neumann", {"steps": 2, "lr": "auto"}),
        ("unrolled", {"lr": 0.05}),
        ("amended", {"lr": 0.05}),
        ("cg", {"steps": 4, "damping": 1.0}),
    ],
)
def test_exact_products_through_attention_match_finite_differences(device, method, opts):
    dtype = torch.float64 if device == "cpu" else torch.float32
    tr, va, ws, as_ = problem(device, dtype)
    res = compute_hypergradient(tr, va, ws, as_, method=method, hvp="exact", **opts)
    if opts.get("lr") == "auto":  # the same γ for both modes
        opts = {**opts, "lr": res.diagnostics.step_size}
    fd = compute_hypergradient(tr, va, ws, as_, method=method, hvp="finite_difference", **opts)
    a, b = res.grads[0], fd.grads[0]
    assert res.diagnostics.implicit_norm > 0
    tol = 1e-4 if dtype == torch.float64 else 1e-2  # the difference quotient is O(ε²)
    assert float((a - b).norm() / a.norm()) < tol
