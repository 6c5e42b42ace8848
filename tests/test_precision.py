"""Mixed precision: the weight step under autocast, every Hessian-vector product in float32.

bf16 autocast runs on CPU too, so the first tests run everywhere; the CUDA ones (bf16 and
fp16 with Lightning's gradient scaler, device placement) skip without a CUDA device. On a GPU
machine: ``python -m pytest tests/test_precision.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from idarts_plugin.config import RunConfig
from tests.conftest import requires_nni
from tests.test_search import tiny_config

pytestmark = requires_nni
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


class Spy:
    def __init__(self) -> None:
        self.applied_equal: list[bool] = []
        self.step_autocast: list[bool] = []
        self.hvp: list[tuple[torch.dtype, bool, str]] = []
        self.from_loss = 0


@pytest.fixture
def spy(monkeypatch) -> Spy:
    from idarts_plugin.hypergrad import autodiff
    from idarts_plugin.strategy import module

    record = Spy()
    # Every architecture step goes through _hypergradient (hypergradient() wraps it).
    original_hg = module.HypergradientDartsModule._hypergradient
    original_hvp = autodiff.ExactCurvature.hvp
    original_from_loss = autodiff.ExactCurvature.from_loss.__func__
    original_apply = module.HypergradientDartsModule._apply_arch_gradient

    def apply(self: Any, optim: Any, alphas: Any, grads: Any, diag: Any) -> Any:
        out = original_apply(self, optim, alphas, grads, diag)
        # The optimiser saw exactly the hypergradient (no loss-scaler "unscaling" of it).
        record.applied_equal.append(
            all(torch.equal(p.grad, g.to(p.dtype)) for p, g in zip(alphas, grads, strict=True))
        )
        return out

    def hypergradient(self: Any, *args: Any, **kwargs: Any) -> Any:
        device = next(self.training_module.model.parameters()).device.type
        record.step_autocast.append(torch.is_autocast_enabled(device))
        return original_hg(self, *args, **kwargs)

    def hvp(self: Any, v: Any) -> Any:
        out = original_hvp(self, v)
        device = out[0].device.type
        record.hvp.append((out[0].dtype, torch.is_autocast_enabled(device), device))
        return out

    def from_loss(cls: Any, *args: Any, **kwargs: Any) -> Any:
        record.from_loss += 1
        return original_from_loss(cls, *args, **kwargs)

    monkeypatch.setattr(module.HypergradientDartsModule, "_hypergradient", hypergradient)
    monkeypatch.setattr(module.HypergradientDartsModule, "_apply_arch_gradient", apply)
    monkeypatch.setattr(autodiff.ExactCurvature, "hvp", hvp)
    monkeypatch.setattr(autodiff.ExactCurvature, "from_loss", classmethod(from_loss))
    return record


def _run(tmp_path: Path, precision: str, device: str = "cpu", **strategy: Any) -> Any:
    from idarts_plugin.search import run_search

    raw = tiny_config("implicit", epochs=1, limit_batches=2, precision=precision, device=device)
    raw["strategy"].update({"beta_decay": 0.0, "early_stop": "off", **strategy})  # HVPs only
    return run_search(RunConfig.from_dict(raw), run_dir=tmp_path / "run")


def _check(spy: Spy, result: Any, device: str) -> None:
    assert spy.step_autocast and all(spy.step_autocast)  # the training step ran under autocast
    assert spy.hvp, "no Hessian-vector product was taken"
    assert all(dtype == torch.float32 and not autocast for dtype, autocast, _ in spy.hvp)
    assert {d for _, _, d in spy.hvp} == {device}
    assert spy.applied_equal and all(spy.applied_equal)
    assert all(p == p for dist in result.probs.values() for p in dist.values())


@pytest.mark.slow
def test_bf16_autocast_on_cpu_keeps_hvps_in_float32(tmp_path: Path, spy: Spy):
    result = _run(tmp_path, "bf16-mixed")
    _check(spy, result, "cpu")


@pytest.mark.slow
def test_shared_forward_under_autocast_takes_a_float32_pass(tmp_path: Path, spy: Spy):
    result = _run(tmp_path, "bf16-mixed", hessian_batch="shared")
    _check(spy, result, "cpu")
    assert spy.from_loss == 0  # the weight step's bf16 graph is not reused for the products


@pytest.mark.slow
def test_shared_forward_in_float32_reuses_the_weight_step_graph(tmp_path: Path, spy: Spy):
    _run(tmp_path, "32", hessian_batch="shared")
    assert spy.from_loss > 0 and not any(spy.step_autocast)


def test_fp16_on_cpu_is_a_clear_error(tmp_path: Path):
    from idarts_plugin.runtime import SearchError

    with pytest.raises(SearchError, match=r"16-mixed.*needs a CUDA device.*bf16-mixed"):
        _run(tmp_path, "16-mixed")


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_cuda_autocast_keeps_hvps_in_float32(tmp_path: Path, spy: Spy, precision: str):
    result = _run(tmp_path, precision, device="cuda")
    _check(spy, result, "cuda")


@needs_cuda
def test_cuda_search_places_everything_on_the_gpu(tmp_path: Path):
    from idarts_plugin.search import run_search

    raw = tiny_config("implicit", epochs=1, limit_batches=2, device="cuda")
    result = run_search(RunConfig.from_dict(raw), run_dir=tmp_path / "run")
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert result.epochs == 1
    tensors = [v for v in ckpt["state_dict"].values() if torch.is_tensor(v)]
    assert tensors and all(v.is_cuda for v in tensors)  # weights, α and BN statistics
