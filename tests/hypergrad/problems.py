"""Test problems with closed-form hypergradients, and a small real supernet."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DT = torch.float64


def rel(a: Tensor, b: Tensor) -> float:
    """Relative error ``‖a − b‖ / ‖b‖``."""
    return float((a - b).norm() / b.norm())


@dataclass
class Quadratic:
    """L_tr = ½wᵀAw − wᵀBα + ½αᵀCα,  L_val = ½‖Pw − q‖² + ½αᵀDα + wᵀFα.

    H = A, ∇²_{αw}L_tr·v = −Bᵀv, ∇w L_val = Pᵀ(Pw − q) + Fα, ∇α L_val = Dα + Fᵀw.
    """

    A: Tensor
    B: Tensor
    C: Tensor
    P: Tensor
    q: Tensor
    D: Tensor
    F: Tensor

    @classmethod
    def random(cls, n: int = 6, m: int = 3, seed: int = 0, cond: float = 10.0) -> Quadratic:
        g = torch.Generator().manual_seed(seed)
        Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=DT))
        eig = torch.linspace(1.0, cond, n, dtype=DT)
        A = Q @ torch.diag(eig) @ Q.T
        r = lambda *s: torch.randn(*s, generator=g, dtype=DT)  # noqa: E731
        C = torch.eye(m, dtype=DT)
        D = r(m, m)
        D = D @ D.T
        return cls(A, r(n, m), C, r(n + 1, n), r(n + 1), D, r(n, m) * 0.3)

    def train_loss(self, w: list[Tensor], a: list[Tensor]) -> Tensor:
        w0, a0 = w[0], a[0]
        return 0.5 * w0 @ self.A @ w0 - w0 @ self.B @ a0 + 0.5 * a0 @ self.C @ a0

    def val_loss(self, w: list[Tensor], a: list[Tensor]) -> Tensor:
        w0, a0 = w[0], a[0]
        r = self.P @ w0 - self.q
        return 0.5 * r @ r + 0.5 * a0 @ self.D @ a0 + w0 @ self.F @ a0

    # closed forms ---------------------------------------------------------------------------
    def w_star(self, a: Tensor) -> Tensor:
        return torch.linalg.solve(self.A, self.B @ a)

    def gw_val(self, w: Tensor, a: Tensor) -> Tensor:
        return self.P.T @ (self.P @ w - self.q) + self.F @ a

    def ga_val(self, w: Tensor, a: Tensor) -> Tensor:
        return self.D @ a + self.F.T @ w

    def implicit(self, w: Tensor, a: Tensor) -> Tensor:
        return self.ga_val(w, a) + self.B.T @ torch.linalg.solve(self.A, self.gw_val(w, a))

    def neumann(self, w: Tensor, a: Tensor, K: int, lr: float) -> Tensor:
        b = self.gw_val(w, a)
        M = torch.eye(len(b), dtype=DT) - lr * self.A
        x = sum(torch.linalg.matrix_power(M, j) @ b for j in range(K + 1)) * lr
        return self.ga_val(w, a) + self.B.T @ x

    def amended(self, w: Tensor, a: Tensor, eta: float) -> Tensor:
        return self.ga_val(w, a) + eta * self.B.T @ self.A @ self.gw_val(w, a)

    def unrolled(self, w: Tensor, a: Tensor, xi: float) -> Tensor:
        w1 = w - xi * (self.A @ w - self.B @ a)
        return self.ga_val(w1, a) + xi * self.B.T @ self.gw_val(w1, a)

    def first_order(self, w: Tensor, a: Tensor) -> Tensor:
        return self.ga_val(w, a)

    def total_derivative(self, a: Tensor) -> Tensor:
        """d/dα L_val(w*(α), α) by autograd through the exact inner solution."""
        a = a.clone().requires_grad_(True)
        val = self.val_loss([self.w_star(a)], [a])
        return torch.autograd.grad(val, a)[0]


@dataclass
class Ridge:
    """Ridge regression with one log-penalty per feature: the classic closed-form bilevel case.

    L_tr(w, α) = ½‖Xw − y‖² + ½ Σ exp(α_i) w_i²,   L_val(w) = ½‖X_v w − y_v‖².
    """

    X: Tensor
    y: Tensor
    Xv: Tensor
    yv: Tensor

    @classmethod
    def random(cls, n: int = 40, d: int = 5, seed: int = 0) -> Ridge:
        g = torch.Generator().manual_seed(seed)
        w_true = torch.randn(d, generator=g, dtype=DT)
        X = torch.randn(n, d, generator=g, dtype=DT)
        Xv = torch.randn(n, d, generator=g, dtype=DT)
        noise = lambda: 0.5 * torch.randn(n, generator=g, dtype=DT)  # noqa: E731
        return cls(X, X @ w_true + noise(), Xv, Xv @ w_true + noise())

    def train_loss(self, w: list[Tensor], a: list[Tensor]) -> Tensor:
        r = self.X @ w[0] - self.y
        return 0.5 * r @ r + 0.5 * (torch.exp(a[0]) * w[0] ** 2).sum()

    def val_loss(self, w: list[Tensor], a: list[Tensor]) -> Tensor:
        r = self.Xv @ w[0] - self.yv
        return 0.5 * r @ r

    def w_star(self, a: Tensor) -> Tensor:
        A = self.X.T @ self.X + torch.diag(torch.exp(a))
        return torch.linalg.solve(A, self.X.T @ self.y)

    def total_derivative(self, a: Tensor) -> Tensor:
        a = a.clone().requires_grad_(True)
        val = self.val_loss([self.w_star(a)], [a])
        return torch.autograd.grad(val, a)[0]

    def lambda_max(self, a: Tensor) -> float:
        A = self.X.T @ self.X + torch.diag(torch.exp(a))
        return float(torch.linalg.eigvalsh(A)[-1])


class MixedOp(nn.Module):
    """A softmax-weighted sum of candidate ops (conv3x3+BN, conv1x1+BN, avg-pool, skip)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)),
                nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)),
                nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                nn.Identity(),
            ]
        )

    def forward(self, x: Tensor, alpha: Tensor) -> Tensor:
        weights = F.softmax(alpha, dim=-1)
        return sum(wt * op(x) for wt, op in zip(weights, self.ops, strict=True))


class TinySupernet(nn.Module):
    """Stem conv+BN, a two-node cell of mixed ops, global pool, linear head.

    Activations are smooth (SiLU, tanh): central differences of gradients see ReLU's kinks
    that the exact (double-backward) Hessian ignores, so on ReLU nets finite-difference and
    exact products legitimately differ by ~1e-2 (measured); the FD-vs-exact test needs a
    smooth loss.

    Architecture parameters of *different shapes*: ``alpha_edges`` (2, 4) for the two edges of
    node 1, ``alpha_out`` (4,) for the output edge.
    """

    def __init__(self, c: int = 3, classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.edges = nn.ModuleList([MixedOp(c), MixedOp(c)])
        self.out_edge = MixedOp(c)
        self.head = nn.Linear(c, classes)
        self.alpha_edges = nn.Parameter(1e-1 * torch.randn(2, 4))
        self.alpha_out = nn.Parameter(1e-1 * torch.randn(4))

    def forward(self, x: Tensor) -> Tensor:
        s = F.silu(self.stem(x))
        n1 = self.edges[0](s, self.alpha_edges[0]) + self.edges[1](
            torch.tanh(s), self.alpha_edges[1]
        )
        n2 = self.out_edge(F.silu(n1), self.alpha_out)
        return self.head(n2.mean(dim=(2, 3)))


def is_alpha(name: str, _p: nn.Parameter) -> bool:
    return name.startswith("alpha")


def make_supernet_problem(seed: int = 0, dtype: torch.dtype = DT, batch: int = 8):
    """A TinySupernet in train mode and (train_loss, val_loss, weights, alphas, net)."""
    from idarts_plugin.hypergrad import module_loss, split_parameters

    torch.manual_seed(seed)
    net = TinySupernet().to(dtype).train()
    g = torch.Generator().manual_seed(seed + 1)
    xs = torch.randn(2 * batch, 1, 6, 6, generator=g, dtype=dtype)
    ys = torch.randint(0, 3, (2 * batch,), generator=g)
    wn, ws, an, as_ = split_parameters(net, is_alpha)
    tr = module_loss(net, F.cross_entropy, xs[:batch], ys[:batch], weight_names=wn, alpha_names=an)
    va = module_loss(net, F.cross_entropy, xs[batch:], ys[batch:], weight_names=wn, alpha_names=an)
    return tr, va, ws, as_, net
