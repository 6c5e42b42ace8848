"""Second-order building blocks: Hessian-vector and mixed products of the training loss.

Everything here works on *lists of tensors* ("tensor trees" of the weights or of the
architecture parameters) and on loss *functions* ``loss(weights, alphas) -> scalar``. No
function writes into a tensor it was given: perturbed weights for finite differences are new
tensors, and all derivatives come from :func:`torch.autograd.grad`, which never touches
``.grad``.

Two ways to get curvature products are offered, behind one interface
(:class:`TrainCurvature`):

* :class:`ExactCurvature` builds ``g = ∇w L_tr`` once with ``create_graph=True`` and
  differentiates it again for every product (double backward). Exact, but keeps the
  first-order graph alive.
* :class:`FiniteDifferenceCurvature` uses central differences of first-order gradients,
  ``(∇L(w + εv) − ∇L(w − εv)) / 2ε`` with ``ε = scale / ‖v‖`` (DARTS' choice, ``scale=0.01``):
  no second-order graph, two extra gradient passes per product. Every evaluation replays the
  random state the operator was built with, so dropout / drop-path draw the *same* masks in
  the ``+`` and ``−`` passes and in every product (as the single graph of the exact products
  does); without that the difference quotient divides mask noise by ``2ε``.

Two facts about the loss they differentiate:

* Attention: fused ``scaled_dot_product_attention`` kernels (flash, memory-efficient, the CPU
  flash kernel) have no double backward. :class:`ExactCurvature` builds its graph under
  :func:`twice_differentiable`, which restricts attention to the math backend (plain matmul
  and softmax), so exact products work through ``nn.MultiheadAttention`` and
  ``F.scaled_dot_product_attention`` on every device.
* The inner problem: the weight optimiser's weight decay is part of the problem the weights
  solve. :func:`with_weight_decay` adds ``½ Σ λ_i ‖w_i‖²`` to a loss function and
  :class:`WeightDecayed` adds ``λ v`` to a ready operator's products, so that
  ``H = ∇²_w L_tr + λ I`` (the mixed block is unchanged: the decay does not depend on α).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch
from torch import Tensor

from .spec import FD_SCALE, check_hvp_mode
from .types import LossFn

__all__ = [
    "ExactCurvature",
    "FiniteDifferenceCurvature",
    "GaussNewtonCurvature",
    "LossFn",
    "TrainCurvature",
    "WeightDecayed",
    "add",
    "axpy",
    "dot",
    "grads",
    "is_finite",
    "make_curvature",
    "norm",
    "power_iteration",
    "replaying_rng",
    "scale",
    "twice_differentiable",
    "with_weight_decay",
]


# ---------------------------------------------------------------------------------------------
# Small helpers on lists of tensors.
# ---------------------------------------------------------------------------------------------


def dot(xs: Sequence[Tensor], ys: Sequence[Tensor]) -> Tensor:
    """Inner product of two tensor lists (a 0-d tensor)."""
    total = xs[0].new_zeros(())
    for x, y in zip(xs, ys, strict=True):
        total = total + (x * y).sum()
    return total


def norm(xs: Sequence[Tensor]) -> float:
    """Euclidean norm of a tensor list, as a Python float."""
    if not xs:
        return 0.0
    return float(torch.sqrt(sum((x.detach() ** 2).sum() for x in xs)))  # type: ignore[arg-type]


def add(xs: Sequence[Tensor], ys: Sequence[Tensor]) -> list[Tensor]:
    """Elementwise ``xs + ys``."""
    return [x + y for x, y in zip(xs, ys, strict=True)]


def axpy(a: float, xs: Sequence[Tensor], ys: Sequence[Tensor]) -> list[Tensor]:
    """Elementwise ``a * xs + ys``."""
    return [a * x + y for x, y in zip(xs, ys, strict=True)]


def scale(a: float, xs: Sequence[Tensor]) -> list[Tensor]:
    """Elementwise ``a * xs``."""
    return [a * x for x in xs]


def is_finite(xs: Sequence[Tensor]) -> bool:
    """Whether every entry of every tensor is finite."""
    return all(bool(torch.isfinite(x).all()) for x in xs)


def grads(
    output: Tensor,
    inputs: Sequence[Tensor],
    *,
    grad_outputs: Sequence[Tensor] | None = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> list[Tensor]:
    """``torch.autograd.grad`` with zeros for inputs the output does not depend on.

    Unlike ``Tensor.backward`` this never accumulates into ``.grad``.
    """
    if not inputs:
        return []
    out = torch.autograd.grad(
        output,
        list(inputs),
        grad_outputs=None if grad_outputs is None else list(grad_outputs),
        create_graph=create_graph,
        retain_graph=retain_graph,
        allow_unused=True,
        materialize_grads=True,
    )
    return list(out)


def leaves(tensors: Sequence[Tensor]) -> list[Tensor]:
    """Fresh autograd leaves sharing storage with ``tensors`` (never written to)."""
    return [t.detach().requires_grad_(True) for t in tensors]


@contextlib.contextmanager
def twice_differentiable() -> Iterator[None]:
    """Run attention with a backend that has a double backward (the math backend).

    Fused ``scaled_dot_product_attention`` kernels only have a first backward; a graph that
    will be differentiated twice must be built inside this context. Other operations are
    unaffected.
    """
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3: nothing to select
        yield
        return
    with sdpa_kernel([SDPBackend.MATH]):
        yield


def _devices_of(tensors: Sequence[Tensor]) -> list[torch.device]:
    return sorted({t.device for t in tensors if t.device.type == "cuda"}, key=str)


def replaying_rng(loss: LossFn, tensors: Sequence[Tensor]) -> LossFn:
    """``loss``, with every call drawing the random numbers of the *first* one.

    The CPU generator's state and that of every CUDA device holding one of ``tensors`` are
    recorded now; each call runs from that state in :func:`torch.random.fork_rng` (the
    caller's generators are left as they were). Dropout and drop-path masks are then the same
    in every evaluation, which a difference quotient needs.
    """
    devices = _devices_of(tensors)
    cpu_state = torch.get_rng_state()
    cuda_states = [torch.cuda.get_rng_state(d) for d in devices]

    def replayed(weights: Sequence[Tensor], alphas: Sequence[Tensor]) -> Tensor:
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(cpu_state)
            for d, state in zip(devices, cuda_states, strict=True):
                torch.cuda.set_rng_state(state, d)
            return loss(weights, alphas)

    return replayed


def _decays(decay: float | Sequence[float], n: int) -> list[float]:
    out = [float(decay)] * n if isinstance(decay, (int, float)) else [float(d) for d in decay]
    if len(out) != n:
        raise ValueError(f"weight_decay has {len(out)} entries for {n} weight tensors")
    bad = [d for d in out if not (math.isfinite(d) and d >= 0)]
    if bad:
        raise ValueError(f"weight_decay must be finite and >= 0, got {bad[0]!r}")
    return out


def with_weight_decay(loss: LossFn, weight_decay: float | Sequence[float]) -> LossFn:
    """``loss(w, α) + ½ Σ_i λ_i ‖w_i‖²``: the inner problem of a weight optimiser with decay.

    Args:
        loss: the training criterion as a function of ``(weights, alphas)``.
        weight_decay: one λ for every weight tensor, or one per tensor (``0`` for tensors the
            optimiser does not decay, e.g. BatchNorm affine parameters in a no-decay group).

    Example:
        >>> f = with_weight_decay(lambda w, a: w[0].sum(), 0.1)
        >>> round(float(f([torch.full((2,), 3.0)], [])), 4)   # 6 + 0.05 * 18
        6.9
    """
    if isinstance(weight_decay, (int, float)) and weight_decay == 0:
        return loss

    def regularised(weights: Sequence[Tensor], alphas: Sequence[Tensor]) -> Tensor:
        decays = _decays(weight_decay, len(weights))
        value = loss(weights, alphas)
        for w, d in zip(weights, decays, strict=True):
            if d:
                value = value + 0.5 * d * (w * w).sum()
        return value

    return regularised


# ---------------------------------------------------------------------------------------------
# Curvature of the training loss.
# ---------------------------------------------------------------------------------------------


class TrainCurvature(Protocol):
    """Products with the blocks of the training loss' Hessian at a fixed ``(w, α)``.

    Attributes:
        n_products: how many Hessian-vector (or mixed) products have been taken.
    """

    @property
    def n_products(self) -> int:
        """Products taken so far."""
        ...

    def hvp(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``H v`` with ``H = ∇²_w L_tr`` (weights block)."""
        ...

    def mixed(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``∇²_{αw} L_tr · v``: one tensor per architecture tensor."""
        ...


class ExactCurvature:
    """Exact products by double backward through one retained first-order graph.

    Args:
        loss: the training loss function.
        weights: weight tensors (not modified).
        alphas: architecture tensors (not modified).

    Example:
        >>> w, a = [torch.ones(2, dtype=torch.float64)], [torch.zeros(1, dtype=torch.float64)]
        >>> curv = ExactCurvature(lambda w, a: (w[0] ** 2).sum() * (1 + a[0].sum()), w, a)
        >>> curv.hvp([torch.tensor([1.0, 0.0], dtype=torch.float64)])[0].tolist()
        [2.0, 0.0]
    """

    def __init__(self, loss: LossFn, weights: Sequence[Tensor], alphas: Sequence[Tensor]) -> None:
        self._w = leaves(weights)
        self._a = leaves(alphas)
        with twice_differentiable():
            value = loss(self._w, self._a)
        self._first_order(value)

    @classmethod
    def from_loss(
        cls, value: Tensor, weights: Sequence[Tensor], alphas: Sequence[Tensor]
    ) -> ExactCurvature:
        """Curvature of an *already computed* loss (e.g. the weight step's forward pass).

        ``value`` must have been computed from ``weights`` and ``alphas`` themselves (with a
        graph; inside :func:`twice_differentiable` if the model has attention). The first-order graph is built with ``create_graph=True`` and *retained*, so
        the caller can still ``backward()`` through ``value`` afterwards (the weight step)
        without a second forward pass. Nothing is written into ``.grad``.
        """
        self = cls.__new__(cls)
        self._w = list(weights)
        self._a = list(alphas)
        self._first_order(value)
        return self

    def _first_order(self, value: Tensor) -> None:
        # ``∇w L_tr`` with a graph; weights the loss does not depend on get zeros (and are
        # remembered, so that :meth:`weight_gradients` can give them no gradient at all).
        raw = (
            torch.autograd.grad(value, self._w, create_graph=True, allow_unused=True)
            if self._w
            else ()
        )
        self._used = [g is not None for g in raw]
        self._g = [
            torch.zeros_like(w) if g is None else g for g, w in zip(raw, self._w, strict=True)
        ]
        self.loss_value = float(value.detach())
        self.n_products = 0

    @property
    def gradient(self) -> list[Tensor]:
        """``∇w L_tr`` at the point of evaluation (detached)."""
        return [g.detach() for g in self._g]

    def weight_gradients(self) -> list[Tensor | None]:
        """What ``loss.backward()`` would accumulate into each weight's ``.grad``.

        ``∇w L_tr`` as new tensors (safe to modify in place, e.g. by gradient clipping), and
        ``None`` for a weight the loss does not depend on, as autograd leaves its ``.grad``
        alone. Lets a caller that already built this curvature take its weight step without a
        second backward pass.
        """
        return [
            g.detach().clone() if used else None
            for g, used in zip(self._g, self._used, strict=True)
        ]

    def _vjp(self, v: Sequence[Tensor], wrt: Sequence[Tensor]) -> list[Tensor]:
        self.n_products += 1
        # Entries of g that do not depend on anything (e.g. a parameter that enters linearly)
        # have no grad_fn; torch then needs them excluded from the product.
        pairs = [(g, x) for g, x in zip(self._g, v, strict=True) if g.requires_grad]
        if not pairs:
            return [torch.zeros_like(t) for t in wrt]
        gs, vs = zip(*pairs, strict=True)
        out = torch.autograd.grad(
            list(gs),
            list(wrt),
            grad_outputs=[x.detach() for x in vs],
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        return [o.detach() for o in out]

    def hvp(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``H v`` with ``H = ∇²_w L_tr``."""
        return self._vjp(v, self._w)

    def mixed(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``∇²_{αw} L_tr · v``."""
        return self._vjp(v, self._a)


class FiniteDifferenceCurvature:
    """Products by central differences of first-order gradients (no second-order graph).

    ``H v ≈ (∇w L(w + εv) − ∇w L(w − εv)) / 2ε`` and likewise for the α block, with
    ``ε = fd_scale / ‖v‖``. The perturbed weights are new tensors; nothing is written back.
    Every evaluation replays the random state of construction (:func:`replaying_rng`), so a
    network with dropout is differentiated as one fixed function, as the exact products do.

    Args:
        loss: the training loss function.
        weights: weight tensors (not modified).
        alphas: architecture tensors (not modified).
        fd_scale: numerator of the step size ``ε = fd_scale / ‖v‖`` (DARTS uses 0.01).
    """

    def __init__(
        self,
        loss: LossFn,
        weights: Sequence[Tensor],
        alphas: Sequence[Tensor],
        *,
        fd_scale: float = FD_SCALE,
    ) -> None:
        if not fd_scale > 0:
            raise ValueError(f"fd_scale must be > 0, got {fd_scale!r}")
        self._w = [w.detach() for w in weights]
        self._a = [a.detach() for a in alphas]
        self._loss = replaying_rng(loss, [*self._w, *self._a])
        self._fd_scale = fd_scale
        self._gradient: list[Tensor] | None = None
        self.n_products = 0

    @property
    def gradient(self) -> list[Tensor]:
        """``∇w L_tr`` at the point of evaluation, with the products' random draws (cached)."""
        if self._gradient is None:
            w = leaves(self._w)
            self._gradient = [g.detach() for g in grads(self._loss(w, leaves(self._a)), w)]
        return self._gradient

    def _both(self, v: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        self.n_products += 1
        vnorm = norm(v)
        if vnorm == 0.0 or not math.isfinite(vnorm):
            zero_w = [torch.zeros_like(w) for w in self._w]
            zero_a = [torch.zeros_like(a) for a in self._a]
            if vnorm == 0.0:
                return zero_w, zero_a
            nan = float("nan")
            return [z + nan for z in zero_w], [z + nan for z in zero_a]
        eps = self._fd_scale / vnorm
        results = []
        for sign in (1.0, -1.0):
            w = [
                (w0 + sign * eps * x).requires_grad_(True) for w0, x in zip(self._w, v, strict=True)
            ]
            a = leaves(self._a)
            value = self._loss(w, a)
            results.append(grads(value, [*w, *a]))
        plus, minus = results
        diff = [(p - m) / (2 * eps) for p, m in zip(plus, minus, strict=True)]
        n = len(self._w)
        return diff[:n], diff[n:]

    def hvp(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``H v`` with ``H = ∇²_w L_tr``."""
        return self._both(v)[0]

    def mixed(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``∇²_{αw} L_tr · v``."""
        return self._both(v)[1]


class GaussNewtonCurvature:
    """Products with the generalised Gauss–Newton matrix ``G = Jᵀ ∇²_z ℓ J`` of the training loss.

    ``z = outputs(w, α)`` are the network's outputs and ``ℓ(z)`` the criterion on them; ``J`` is
    ``∂z/∂w``. For a convex criterion (cross-entropy, squared error) ``G`` is positive
    semi-definite, so damped solves and Neumann series with ``γ ≤ 2/λmax`` always converge,
    where the Hessian of a minibatch is indefinite. ``G`` drops the Hessian's second term
    ``Σ_k ∂ℓ/∂z_k ∇²z_k``, which vanishes as the training loss is fitted.

    Each product is two backward passes through retained graphs (``Jv`` by the double-vjp
    trick, then ``Jᵀ(∇²_z ℓ · Jv)``), the cost class of a Hessian-vector product. The mixed block
    is the exact ``∇²_{αw} L_tr · v`` (``mixed="exact"``, one more retained graph) or its
    Gauss–Newton counterpart ``J_αᵀ ∇²_z ℓ J_w v`` (``mixed="gauss_newton"``, from the same
    backward pass as ``G v``).

    Args:
        outputs: ``(weights, alphas) -> z``.
        criterion: ``z -> scalar`` (the targets bound in).
        weights: weight tensors (not modified).
        alphas: architecture tensors (not modified).
        mixed: ``"exact"`` or ``"gauss_newton"``.

    Example:
        >>> w, a = [torch.tensor([1.0, 2.0], dtype=torch.float64)], [torch.zeros(1, dtype=torch.float64)]
        >>> out = lambda w, a: torch.stack([w[0][0] * w[0][1], w[0][1]])   # z
        >>> mse = lambda z: 0.5 * (z ** 2).sum()                           # ∇²_z ℓ = I
        >>> ggn = GaussNewtonCurvature(out, mse, w, a)
        >>> ggn.hvp([torch.tensor([1.0, 0.0], dtype=torch.float64)])[0].tolist()   # JᵀJ e₁
        [4.0, 2.0]
    """

    MIXED = ("exact", "gauss_newton")
    """The mixed-block choices (the same as :data:`~idarts_plugin.hypergrad.spec.GGN_MIXED`)."""

    def __init__(
        self,
        outputs: Callable[[Sequence[Tensor], Sequence[Tensor]], Tensor],
        criterion: Callable[[Tensor], Tensor],
        weights: Sequence[Tensor],
        alphas: Sequence[Tensor],
        *,
        mixed: str = "exact",
    ) -> None:
        if mixed not in self.MIXED:
            raise ValueError(f"unknown mixed block {mixed!r}; valid: {', '.join(self.MIXED)}")
        self._mixed_exact = mixed == "exact"
        self._w = leaves(weights)
        self._a = leaves(alphas)
        with twice_differentiable():
            z = outputs(self._w, self._a)
        self._z = z
        # ∇_z ℓ with a graph in z alone: ∇²_z ℓ · u is one cheap backward pass.
        self._zd = z.detach().requires_grad_(True)
        value = criterion(self._zd)
        self._gz = torch.autograd.grad(value, self._zd, create_graph=True)[0]
        # Jᵀu for a free u (linear in u): differentiating it in u gives J v.
        self._u = torch.zeros_like(z, requires_grad=True)
        self._jt_u = grads(z, self._w, grad_outputs=[self._u], create_graph=True)
        loss = criterion(z)
        self.loss_value = float(loss.detach())
        self._g: list[Tensor] | None = None
        if self._mixed_exact:
            self._g = grads(loss, self._w, create_graph=True, retain_graph=True)
            self._gradient = [g.detach() for g in self._g]
        else:
            self._gradient = [g.detach() for g in grads(loss, self._w, retain_graph=True)]
        self.n_products = 0

    @property
    def gradient(self) -> list[Tensor]:
        """``∇w L_tr`` at the point of evaluation (detached)."""
        return list(self._gradient)

    def _gauss_newton(self, v: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        self.n_products += 1
        pairs = [(j, x) for j, x in zip(self._jt_u, v, strict=True) if j.requires_grad]
        if not pairs:
            return [torch.zeros_like(w) for w in self._w], [torch.zeros_like(a) for a in self._a]
        js, xs = zip(*pairs, strict=True)
        jv = torch.autograd.grad(
            list(js), self._u, grad_outputs=[x.detach() for x in xs], retain_graph=True
        )[0]
        hjv = torch.autograd.grad(self._gz, self._zd, grad_outputs=jv, retain_graph=True)[0]
        out = grads(self._z, [*self._w, *self._a], grad_outputs=[hjv], retain_graph=True)
        n = len(self._w)
        return [o.detach() for o in out[:n]], [o.detach() for o in out[n:]]

    def hvp(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``G v``."""
        return self._gauss_newton(v)[0]

    def mixed(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``∇²_{αw} L_tr · v`` (exact), or ``J_αᵀ ∇²_z ℓ J_w v``."""
        if not self._mixed_exact:
            return self._gauss_newton(v)[1]
        assert self._g is not None
        self.n_products += 1
        pairs = [(g, x) for g, x in zip(self._g, v, strict=True) if g.requires_grad]
        if not pairs:
            return [torch.zeros_like(a) for a in self._a]
        gs, xs = zip(*pairs, strict=True)
        out = torch.autograd.grad(
            list(gs),
            self._a,
            grad_outputs=[x.detach() for x in xs],
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        return [o.detach() for o in out]


class WeightDecayed:
    """A curvature operator of ``L_tr + ½ Σ λ_i ‖w_i‖²`` from one of ``L_tr``.

    ``hvp`` adds ``λ v``, ``gradient`` adds ``λ w``; the mixed block and
    ``weight_gradients`` (what the weight step's own backward pass gives, before the
    optimiser applies its decay) are the wrapped operator's.

    Args:
        inner: the criterion's curvature operator.
        weights: the weight tensors it was built at.
        weight_decay: λ, one for all or one per weight tensor.

    Example:
        >>> w, a = [torch.ones(2)], [torch.zeros(1)]
        >>> curv = WeightDecayed(ExactCurvature(lambda w, a: (w[0] ** 2).sum(), w, a), w, 0.5)
        >>> curv.hvp([torch.tensor([1.0, 0.0])])[0].tolist()
        [2.5, 0.0]
    """

    def __init__(
        self,
        inner: TrainCurvature,
        weights: Sequence[Tensor],
        weight_decay: float | Sequence[float],
    ) -> None:
        self.inner = inner
        self._w = [w.detach() for w in weights]
        self._decays = _decays(weight_decay, len(self._w))

    @property
    def n_products(self) -> int:
        """Products taken by the wrapped operator."""
        return self.inner.n_products

    def hvp(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``(H + λ I) v``."""
        hv = self.inner.hvp(v)
        return [h + d * x.detach() if d else h for h, x, d in zip(hv, v, self._decays, strict=True)]

    def mixed(self, v: Sequence[Tensor]) -> list[Tensor]:
        """``∇²_{αw} L_tr · v`` (the decay has no mixed term)."""
        return self.inner.mixed(v)

    @property
    def gradient(self) -> list[Tensor]:
        """``∇w L_tr + λ w``."""
        g = self.inner.gradient  # type: ignore[attr-defined]
        return [gi + d * w if d else gi for gi, w, d in zip(g, self._w, self._decays, strict=True)]

    def weight_gradients(self) -> list[Tensor | None]:
        """The wrapped operator's (the criterion's gradient, for the weight step)."""
        grads: list[Tensor | None] = self.inner.weight_gradients()  # type: ignore[attr-defined]
        return grads


def make_curvature(
    mode: str,
    loss: LossFn,
    weights: Sequence[Tensor],
    alphas: Sequence[Tensor],
    *,
    fd_scale: float = FD_SCALE,
) -> TrainCurvature:
    """Build the curvature operator for ``mode`` (``"exact"`` or ``"finite_difference"``).

    Both operators also expose ``gradient`` (``∇w L_tr`` at the point).

    Raises:
        ValueError: for an unknown mode, naming the valid ones.
    """
    if check_hvp_mode(mode) == "exact":
        return ExactCurvature(loss, weights, alphas)
    return FiniteDifferenceCurvature(loss, weights, alphas, fd_scale=fd_scale)


def power_iteration(
    hvp: Callable[[Sequence[Tensor]], list[Tensor]],
    start: Sequence[Tensor],
    *,
    iterations: int,
) -> tuple[float, list[Tensor]]:
    """Estimate the magnitude of the dominant eigenvalue of a symmetric operator.

    Returns ``‖H v‖`` for the last unit iterate ``v``, which converges to ``max |λ|`` even when
    H has eigenvalues of both signs and equal magnitude (where the Rayleigh quotient ``vᵀHv``
    oscillates near zero), and never exceeds it.

    Args:
        hvp: the operator ``v -> H v``.
        start: the starting vector (need not be normalised).
        iterations: number of products to take (at least 1).

    Returns:
        ``(|λ̂|, v)``: the estimate and the unit iterate, which can warm-start a later call.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    n = norm(start)
    if n == 0.0:
        raise ValueError("power iteration needs a non-zero starting vector")
    v = scale(1.0 / n, start)
    lam = 0.0
    for _ in range(iterations):
        hv = hvp(v)
        lam = norm(hv)
        if lam == 0.0 or not math.isfinite(lam):
            break
        v = scale(1.0 / lam, hv)
    return lam, v
