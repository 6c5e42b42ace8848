"""The Lightning module applies exactly the engine's hypergradient, without side effects."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import TensorDataset

from idarts_plugin.hypergrad import AutoStepSize, WarmStart, hypergradient, module_loss
from tests.conftest import requires_nni

pytestmark = requires_nni


class Recorder(torch.optim.SGD):
    """An architecture optimiser that records the gradient it is asked to apply."""

    applied: list[list[torch.Tensor]]

    def __init__(self, params):
        super().__init__(params, lr=0.0)
        self.applied = []

    def step(self, closure=None):
        self.applied.append(
            [p.grad.detach().clone() for g in self.param_groups for p in g["params"]]
        )
        return super().step(closure)


def _remedies_off(strategy) -> None:
    """These tests check the hypergradient the module applies: no collapse remedy on top."""
    from idarts_plugin.collapse import Remedies

    if hasattr(strategy, "remedies"):
        strategy.remedies = Remedies.off()


def tiny_problem(strategy, seed=0):
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule
    from nni.nas.hub.pytorch import NasBench201

    torch.manual_seed(seed)
    space = NasBench201(stem_out_channels=4, num_modules_per_stack=1, num_labels=3)
    supernet = strategy.mutate_model(space)
    module = ClassificationModule(num_classes=3, learning_rate=0.05, optimizer=torch.optim.SGD)
    _remedies_off(strategy)
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 3, 8, 8, generator=g)
    y = torch.randint(0, 3, (16,), generator=g)
    return oneshot, (x[:8], y[:8]), (x[8:], y[8:])


def fit(oneshot, train, val, **limits) -> None:
    """Run Lightning's loop on the module over (inputs, targets) train/val tensors."""
    import pytorch_lightning as pl

    loaders = {
        "train": torch.utils.data.DataLoader(TensorDataset(*train), batch_size=8),
        "val": torch.utils.data.DataLoader(TensorDataset(*val), batch_size=8),
    }
    trainer = pl.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **limits,
    )
    trainer.fit(oneshot, train_dataloaders=loaders)


PAPER = {"inner_weight_decay": False}
"""The papers' inner problem (the criterion alone), which the engine references below use;
a Python strategy otherwise starts from the run config's defaults (weight decay in H)."""
NEUMANN_PAPER = {**PAPER, "neumann_lr": None, "monitor_every": 0}

STRATEGIES = {
    "implicit": lambda: __import__("idarts_plugin").ImplicitDARTS(neumann_steps=2, **NEUMANN_PAPER),
    "implicit-auto": lambda: __import__("idarts_plugin").ImplicitDARTS(
        neumann_steps=3, **{**NEUMANN_PAPER, "neumann_lr": "auto"}
    ),
    "unrolled": lambda: __import__("idarts_plugin").UnrolledDARTS(**PAPER),
    "amended": lambda: __import__("idarts_plugin").AmendedDARTS(**PAPER),
    "amended-fd": lambda: __import__("idarts_plugin").AmendedDARTS(
        hvp="finite_difference", **PAPER
    ),
    "cg": lambda: __import__("idarts_plugin").HypergradientDARTS(
        method="cg", method_options={"steps": 3, "damping": 0.5}, **PAPER
    ),
    "implicit-shared": lambda: __import__("idarts_plugin").ImplicitDARTS(
        neumann_steps=2, hessian_batch="shared", **NEUMANN_PAPER
    ),
    "implicit-safe-warm": lambda: __import__("idarts_plugin").ImplicitDARTS(
        neumann_steps=2, warm_start=True, **{**NEUMANN_PAPER, "neumann_lr": "safe"}
    ),
    "unrolled-shared": lambda: __import__("idarts_plugin").UnrolledDARTS(
        hessian_batch="shared", **PAPER
    ),
}
ENGINE = {
    "implicit": ("neumann", {"steps": 2, "lr": 0.05}, "exact"),
    "implicit-auto": ("neumann", {"steps": 3, "lr": "auto"}, "exact"),
    "unrolled": ("unrolled", {"lr": 0.05}, "exact"),
    "amended": ("amended", {"lr": 0.05}, "exact"),
    "amended-fd": ("amended", {"lr": 0.05}, "finite_difference"),
    "cg": ("cg", {"steps": 3, "damping": 0.5}, "exact"),
    "implicit-shared": ("neumann", {"steps": 2, "lr": 0.05}, "exact"),
    # safe: min(weight lr, 0.9/λ̂), λ̂ from a fresh estimator (10 power iterations, seed 0);
    # the first warm-started solve is the cold series.
    "implicit-safe-warm": (
        "neumann",
        {
            "steps": 2,
            "lr": lambda: AutoStepSize(iterations=10, warm_iterations=1, safety=0.9),
            "max_lr": 0.05,
            "warm_start": WarmStart,
        },
        "exact",
    ),
    "unrolled-shared": ("unrolled", {"lr": 0.05}, "exact"),
}


def engine_reference(oneshot, trn, val, name):
    """The engine on deep copies, built independently of the module's own plumbing."""
    model = copy.deepcopy(oneshot.training_module.model)
    alpha_ids = {id(p) for p in oneshot.arch_parameters()}
    orig = dict(oneshot.training_module.model.named_parameters())
    a_names = [n for n, p in orig.items() if id(p) in alpha_ids]
    w_names = [n for n, p in orig.items() if id(p) not in alpha_ids]
    params = dict(model.named_parameters())
    crit = torch.nn.CrossEntropyLoss()
    tr = module_loss(model, crit, *trn, weight_names=w_names, alpha_names=a_names)
    va = module_loss(model, crit, *val, weight_names=w_names, alpha_names=a_names)
    method, opts, hvp = ENGINE[name]
    opts = {k: v() if callable(v) else v for k, v in opts.items()}
    grads = hypergradient(
        tr,
        va,
        [params[n] for n in w_names],
        [params[n] for n in a_names],
        method=method,
        hvp=hvp,
        **opts,
    )
    order = {n: i for i, n in enumerate(a_names)}
    return {n: grads[order[n]] for n in a_names}


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_applied_alpha_gradient_equals_engine(name):

    strategy = STRATEGIES[name]()
    oneshot, trn, val = tiny_problem(strategy)
    expected = engine_reference(oneshot, trn, val, name)
    recorder: dict[str, Recorder] = {}

    def configure(self=oneshot):
        recorder["opt"] = Recorder(self.arch_parameters())
        return recorder["opt"]

    oneshot.configure_architecture_optimizers = configure
    fit(oneshot, trn, val, max_steps=1)
    applied = recorder["opt"].applied
    assert len(applied) == 1
    names = {id(p): n for n, p in oneshot.training_module.model.named_parameters()}
    params = [p for g in recorder["opt"].param_groups for p in g["params"]]
    for p, g in zip(params, applied[0], strict=True):
        ref = expected[names[id(p)]]
        torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-7)
    assert oneshot.last_diagnostics is not None
    assert oneshot.last_diagnostics.method in {"neumann", "unrolled", "amended", "cg"}


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_hypergradient_leaves_weights_and_bn_statistics_alone(name):
    oneshot, trn, val = tiny_problem(STRATEGIES[name]())
    model = oneshot.training_module.model
    model.train()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    alphas, grads, diag = oneshot.hypergradient(trn, val, weight_lr=0.05)
    assert [g.shape for g in grads] == [a.shape for a in alphas]
    assert diag.finite
    after = model.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    for p in model.parameters():
        assert torch.equal(p.grad, torch.ones_like(p))


def test_alpha_order_is_stable_and_complete():
    """α come in the model's parameter order, by *name*, whatever order NNI's set yields."""
    from idarts_plugin import ImplicitDARTS

    def alpha_names(oneshot):
        names = {id(p): n for n, p in oneshot.training_module.model.named_parameters()}
        return [names[id(p)] for p in oneshot.arch_parameters()]

    a, _, _ = tiny_problem(ImplicitDARTS())
    expected = [
        n
        for n, p in a.training_module.model.named_parameters()
        if any(p is q for q in a.arch_parameters())
    ]
    assert len(expected) == 6  # one α per NB201 edge label, each a parameter of the model
    assert alpha_names(a) == expected
    # NNI's base returns the α of a set; shuffle what it sees and the order must not change.
    b, _, _ = tiny_problem(ImplicitDARTS())
    modules = list(b.supernet_modules())
    b.supernet_modules = lambda: iter(reversed(modules))  # type: ignore[method-assign]
    assert alpha_names(b) == expected


def test_inner_steps_and_warmup_schedule_arch_steps():

    from idarts_plugin import ImplicitDARTS

    oneshot, trn, _val = tiny_problem(ImplicitDARTS(inner_steps=3, warmup_epochs=1))
    x = torch.cat([trn[0]] * 6)
    y = torch.cat([trn[1]] * 6)
    fit(oneshot, (x, y), (x, y), max_epochs=2)
    # epoch 0: warm-up, no α step; epoch 1: 6 batches, T = 3 -> steps at batch 0 and 3.
    assert oneshot.arch_steps == 2


def test_strategy_arguments_are_validated():
    from idarts_plugin import AmendedDARTS, HypergradientDARTS, ImplicitDARTS

    with pytest.raises(ValueError, match="neumann_steps"):
        ImplicitDARTS(neumann_steps=-1)
    with pytest.raises(ValueError, match="inner_steps"):
        ImplicitDARTS(inner_steps=0)
    with pytest.raises(ValueError, match="hvp mode 'fd'; valid modes: exact, finite_difference"):
        ImplicitDARTS(hvp="fd")
    with pytest.raises(ValueError, match="lr must be"):
        AmendedDARTS(amended_lr=-1.0)
    with pytest.raises(ValueError, match="method 'newton'; valid methods: first_order"):
        HypergradientDARTS(method="newton")
    with pytest.raises(ValueError, match="arc_betas"):
        ImplicitDARTS(arc_betas=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"shared.*needs hvp='exact'"):
        ImplicitDARTS(hessian_batch="shared", hvp="finite_difference")
    with pytest.raises(TypeError, match="unexpected keyword argument 'neumann_step'"):
        ImplicitDARTS(neumann_step=3)  # a typo reaches NNI's constructor, which rejects it


def test_options_object_is_built_once_and_handed_whole_to_the_module():
    from idarts_plugin import HypergradientDARTS, ImplicitDARTS
    from idarts_plugin.hypergrad import SearchOptions

    strategy = ImplicitDARTS(neumann_steps=3, inner_steps=2, arc_betas=[0.0, 0.9])
    opts = strategy.options
    assert opts.method.name == "neumann" and opts.method.options == {"steps": 3}
    assert opts.inner_steps == 2 and opts.arc_betas == (0.0, 0.9)
    oneshot, _, _ = tiny_problem(strategy)
    assert oneshot.options is opts
    same = HypergradientDARTS(options=opts)
    assert same.options is opts
    with pytest.raises(TypeError, match="either options= or keyword options"):
        HypergradientDARTS(options=opts, inner_steps=3)
    with pytest.raises(TypeError, match=r"unknown option.*'steps'"):
        SearchOptions.from_kwargs(steps=3)


def test_auto_schedule_is_the_run_configs_and_is_fitted_to_the_trainer():
    """The Python strategies take the run config's α schedule: ``auto`` warm-up and α lr,
    fitted when the fit starts to the trainer's epochs and batches, as ``idarts search`` fits
    them (a first-order step here: the schedule is the module's, whatever the method)."""
    from idarts_plugin import AmendedDARTS, HypergradientDARTS, ImplicitDARTS, UnrolledDARTS
    from idarts_plugin.budget import AlphaSchedule, arc_learning_rate_for_budget
    from idarts_plugin.config import load_config

    default = load_config(None, []).strategy.schedule()
    for cls in (ImplicitDARTS, AmendedDARTS, UnrolledDARTS, HypergradientDARTS):
        assert cls().schedule == AlphaSchedule() == default
    oneshot, trn, _val = tiny_problem(HypergradientDARTS(method="first_order"))
    x, y = torch.cat([trn[0]] * 2), torch.cat([trn[1]] * 2)  # 2 batches of 8 an epoch
    fit(oneshot, (x, y), (x, y), max_epochs=12)
    # warm-up: a sixth of 12 epochs = 2 (96 steps would take 48); then 10 x 2 = 20
    # architecture steps at lr 30 / 20, capped at 0.2.
    assert oneshot.warmup_epochs == oneshot.options.warmup_epochs == 2
    assert oneshot.arch_steps == 20  # the warm-up it fitted is the one it ran
    lr = arc_learning_rate_for_budget(20)
    assert lr == 0.2 and oneshot.options.arc_learning_rate == lr
    assert oneshot.architecture_optimizers().param_groups[0]["lr"] == lr

    capped = HypergradientDARTS(method="first_order", warmup_steps=0, arc_travel=2.0)
    oneshot, _, _ = tiny_problem(capped)  # warm-up: a sixth of 6 epochs, capped to 0 steps
    fit(oneshot, (x, y), (x, y), max_epochs=6)
    assert oneshot.warmup_epochs == 0 and oneshot.arch_steps == 12
    assert oneshot.architecture_optimizers().param_groups[0]["lr"] == pytest.approx(2 / 12)

    stepped = HypergradientDARTS(method="first_order", warmup_steps=2, arc_travel=1.0)
    oneshot, _, _ = tiny_problem(stepped)
    fit(oneshot, (x, y), (x, y), max_steps=12)  # read as 6 epochs: warm-up 1, 10 steps
    assert oneshot.warmup_epochs == 1
    assert oneshot.options.arc_learning_rate == pytest.approx(1 / 10)


def test_fixed_schedules_are_left_alone_and_a_schedule_is_given_once():
    from idarts_plugin import HypergradientDARTS, ImplicitDARTS
    from idarts_plugin.budget import AlphaSchedule

    paper = HypergradientDARTS(method="first_order", schedule=AlphaSchedule.paper())
    assert paper.options.arc_learning_rate == 3e-4 and paper.options.warmup_epochs == 0
    oneshot, trn, _ = tiny_problem(paper)
    fit(oneshot, trn, trn, max_epochs=2)
    assert oneshot.fit_schedule() is None
    assert oneshot.architecture_optimizers().param_groups[0]["lr"] == 3e-4
    numbers = ImplicitDARTS(arc_learning_rate=0.05, warmup_epochs=1)
    assert numbers.schedule.is_fixed and numbers.options.arc_learning_rate == 0.05
    same = HypergradientDARTS(options=numbers.options)  # options fix the schedule
    assert same.schedule == AlphaSchedule(arc_learning_rate=0.05, warmup_epochs=1)
    with pytest.raises(TypeError, match="either schedule= or its keywords"):
        ImplicitDARTS(schedule=AlphaSchedule(), arc_travel=3.0)
    with pytest.raises(TypeError, match=r"either options=.*\['warmup_steps'\]"):
        HypergradientDARTS(options=numbers.options, warmup_steps=3)
    with pytest.raises(ValueError, match="arc_horizon must be an integer >= 1, got 0"):
        ImplicitDARTS(arc_horizon=0)
    with pytest.raises(ValueError, match="arc_learning_rate must be a finite number > 0"):
        ImplicitDARTS(arc_learning_rate="fast")


def test_an_auto_schedule_without_a_budget_says_what_to_give(monkeypatch):
    """A trainer with neither max_epochs nor max_steps (an unsized loader alike) cannot fit
    ``auto``: the error names the trainer's values and the numbers to give instead."""
    from types import SimpleNamespace

    from idarts_plugin import ImplicitDARTS

    oneshot, _, _ = tiny_problem(ImplicitDARTS())
    trainer = SimpleNamespace(max_epochs=-1, max_steps=-1, num_training_batches=4)
    monkeypatch.setattr(type(oneshot), "trainer", property(lambda self: trainer))
    with pytest.raises(ValueError, match=r"max_epochs=-1, max_steps=-1.*3e-4"):
        oneshot.fit_schedule()
    trainer.max_epochs, trainer.num_training_batches = 5, float("inf")
    with pytest.raises(ValueError, match="inf batches an epoch"):
        oneshot.fit_schedule()


@pytest.mark.parametrize("mode", ["separate", "shared"])
def test_weight_step_uses_alpha_after_or_before_the_arch_step(mode):
    """separate: the weight step sees α_{t+1}; shared: it reuses the forward pass at α_t."""

    from idarts_plugin import ImplicitDARTS

    oneshot, trn, val = tiny_problem(ImplicitDARTS(neumann_steps=1, hessian_batch=mode))
    model = oneshot.training_module.model
    twin = copy.deepcopy(model)  # weight step by hand at α_t, plain SGD (lr 0.05, no momentum)
    alpha_ids = {id(p) for p in oneshot.arch_parameters()}
    loss = torch.nn.functional.cross_entropy(twin(trn[0]), trn[1])
    names = [n for n, p in model.named_parameters() if id(p) not in alpha_ids]
    params_twin = dict(twin.named_parameters())
    grads = torch.autograd.grad(loss, [params_twin[n] for n in names])
    expected = {n: params_twin[n].detach() - 0.05 * g for n, g in zip(names, grads, strict=True)}
    fit(oneshot, trn, val, max_steps=1)
    got = dict(model.named_parameters())
    diffs = [float((got[n].detach() - expected[n]).abs().max()) for n in names]
    if mode == "shared":
        assert max(diffs) < 1e-6  # exactly a weight step at (w_t, α_t)
        # ... whose gradient came from the Hessian terms' graph: no second backward pass
        assert oneshot.weight_gradients_reused == 1
    else:
        assert max(diffs) > 1e-9  # the weight step saw the updated α
        assert oneshot.weight_gradients_reused == 0
    assert oneshot.arch_steps == 1


def test_shared_weight_step_with_reused_gradient_equals_a_real_backward():
    """Several steps (momentum, clipping): reusing ∇w L_tr changes nothing but the cost."""
    from idarts_plugin import ImplicitDARTS

    finals = []
    for reuse in (True, False):
        oneshot, trn, val = tiny_problem(
            ImplicitDARTS(neumann_steps=1, hessian_batch="shared", gradient_clip_val=0.5)
        )
        if not reuse:
            oneshot._may_reuse_weight_gradients = lambda: False
        three = [(torch.cat([t[0]] * 3), torch.cat([t[1]] * 3)) for t in (trn, val)]
        fit(oneshot, *three, max_epochs=2)
        assert oneshot.weight_gradients_reused == (6 if reuse else 0)
        finals.append({k: v.detach().clone() for k, v in oneshot.state_dict().items()})
    reused, real = finals
    for key, value in real.items():
        torch.testing.assert_close(reused[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_weight_lr_of_zero_gives_a_first_order_step():
    from idarts_plugin import ImplicitDARTS

    oneshot, trn, val = tiny_problem(ImplicitDARTS(neumann_steps=2, **NEUMANN_PAPER))
    _, grads, diag = oneshot.hypergradient(trn, val, weight_lr=0.0)
    assert diag.method == "first_order" and diag.n_hvp == 0 and diag.finite
    first = tiny_problem(
        __import__("idarts_plugin").HypergradientDARTS(method="first_order", **PAPER)
    )
    _, ref, _ = first[0].hypergradient(first[1], first[2], weight_lr=0.05)
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r)


def test_penalty_is_rejected_with_a_clear_error():
    from idarts_plugin import ImplicitDARTS

    with pytest.raises(ValueError, match=r"penalty=.*not supported.*nni\.nas\.strategy\.DARTS"):
        ImplicitDARTS(penalty={"profiler": None, "baseline": 1.0})


def test_a_bad_lambda_estimate_skips_and_counts_the_arch_step(monkeypatch):
    from idarts_plugin import ImplicitDARTS
    from idarts_plugin.hypergrad import AutoStepSize

    def broken(self, *a, **k):
        raise FloatingPointError("λ̂ = 0.0")

    monkeypatch.setattr(AutoStepSize, "step_size", broken)
    oneshot, trn, val = tiny_problem(ImplicitDARTS(neumann_steps=2, neumann_lr="auto"))
    alphas_before = [a.detach().clone() for a in oneshot.arch_parameters()]
    fit(oneshot, trn, val, max_steps=2)
    assert oneshot.skipped_arch_steps == 2 and oneshot.arch_steps == 0
    assert "λ̂ = 0.0" in oneshot.last_diagnostics.note
    for a, b in zip(oneshot.arch_parameters(), alphas_before, strict=True):
        assert torch.equal(a.detach(), b)


def _decayed_momentum_problem(strategy):
    """tiny_problem with SGD(momentum 0.9) and a large weight decay, after two steps."""
    import functools

    from nni.nas.evaluator.pytorch.lightning import ClassificationModule
    from nni.nas.hub.pytorch import NasBench201

    torch.manual_seed(0)
    space = NasBench201(stem_out_channels=4, num_modules_per_stack=1, num_labels=3)
    supernet = strategy.mutate_model(space)
    sgd = functools.partial(torch.optim.SGD, momentum=0.9)
    module = ClassificationModule(
        num_classes=3, learning_rate=0.05, weight_decay=0.05, optimizer=sgd
    )
    _remedies_off(strategy)
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 8, 8, generator=g)
    y = torch.randint(0, 3, (16,), generator=g)
    trn, val = (x[:8], y[:8]), (x[8:], y[8:])
    fit(oneshot, trn, val, max_steps=2)  # momentum buffers exist now
    return oneshot, trn, val


@pytest.mark.parametrize("name", ["implicit-decay", "unrolled-optimizer"])
def test_inner_problem_follows_the_weight_optimiser(name):
    """λ of each weight from its parameter group; the virtual step's μ·buffer from SGD's state."""
    from idarts_plugin import ImplicitDARTS, UnrolledDARTS

    strategy = {
        "implicit-decay": lambda: ImplicitDARTS(
            neumann_steps=2, neumann_lr=None, monitor_every=0, inner_weight_decay=True
        ),
        "unrolled-optimizer": lambda: UnrolledDARTS(virtual_step="optimizer"),
    }[name]()
    oneshot, trn, val = _decayed_momentum_problem(strategy)
    model = oneshot.training_module.model
    alpha_ids = {id(p) for p in oneshot.arch_parameters()}
    named = list(model.named_parameters())
    a_names = [n for n, p in named if id(p) in alpha_ids]
    w_pairs = [(n, p) for n, p in named if id(p) not in alpha_ids]
    opt = oneshot._weight_optimizer().optimizer
    assert isinstance(opt, torch.optim.SGD)
    group = {id(p): g for g in opt.param_groups for p in g["params"]}
    decays = [group[id(p)]["weight_decay"] for _, p in w_pairs]
    assert max(decays) == 0.05
    crit = torch.nn.CrossEntropyLoss()
    kw = {"weight_names": [n for n, _ in w_pairs], "alpha_names": a_names}
    tr = module_loss(model, crit, *trn, **kw)
    va = module_loss(model, crit, *val, **kw)
    params = dict(named)
    weights, alphas = [p for _, p in w_pairs], [params[n] for n in a_names]
    if name == "unrolled-optimizer":
        velocity = [0.9 * opt.state[p]["momentum_buffer"] for p in weights]
        opts = {"method": "unrolled", "lr": 0.05, "velocity": velocity}
    else:
        opts = {"method": "neumann", "steps": 2, "lr": 0.05}
    want = hypergradient(tr, va, weights, alphas, weight_decay=decays, **opts)
    plain = hypergradient(
        tr, va, weights, alphas, **{k: v for k, v in opts.items() if k != "velocity"}
    )
    got_alphas, got, _ = oneshot.hypergradient(trn, val, weight_lr=0.05)
    assert [id(a) for a in got_alphas] == [id(a) for a in alphas]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-8)
    assert not all(torch.allclose(w, p, rtol=1e-4) for w, p in zip(want, plain, strict=True))


def test_optimizer_virtual_step_needs_sgd():
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule
    from nni.nas.hub.pytorch import NasBench201

    from idarts_plugin import UnrolledDARTS

    strategy = UnrolledDARTS(virtual_step="optimizer")
    space = NasBench201(stem_out_channels=4, num_modules_per_stack=1, num_labels=3)
    supernet = strategy.mutate_model(space)
    module = ClassificationModule(num_classes=3, learning_rate=0.01, optimizer=torch.optim.Adam)
    _remedies_off(strategy)
    oneshot = strategy.configure_oneshot_module(module)
    oneshot.set_model(supernet)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    with pytest.raises(TypeError, match="evaluator's optimiser is Adam; use virtual_step='sgd'"):
        fit(oneshot, (x, y), (x, y), max_steps=1)


@pytest.mark.parametrize("name", ["implicit", "unrolled", "amended"])
def test_step_size_follows_a_scheduled_weight_lr(name):
    """γ / ξ / η = None follow the weight optimiser's lr *at each step*, under a scheduler."""
    from nni.nas.evaluator.pytorch.lightning import ClassificationModule
    from nni.nas.hub.pytorch import NasBench201

    from idarts_plugin import AmendedDARTS, ImplicitDARTS, UnrolledDARTS

    class Halving(ClassificationModule):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.08)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5**step)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    strategy = {
        "implicit": lambda: ImplicitDARTS(**NEUMANN_PAPER),  # γ = None: the weight lr
        "unrolled": lambda: UnrolledDARTS(**PAPER),
        "amended": lambda: AmendedDARTS(**PAPER),
    }[name]()
    torch.manual_seed(0)
    space = NasBench201(stem_out_channels=4, num_modules_per_stack=1, num_labels=3)
    supernet = strategy.mutate_model(space)
    oneshot = strategy.configure_oneshot_module(Halving(num_classes=3))
    oneshot.set_model(supernet)
    seen: list[tuple[float, float | None]] = []
    apply = oneshot._apply_arch_gradient

    def record(arc_optim, alphas, grads, diag):
        seen.append((oneshot.weight_learning_rate(), diag.step_size))
        apply(arc_optim, alphas, grads, diag)

    oneshot._apply_arch_gradient = record
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 3, (32,))
    fit(oneshot, (x, y), (x, y), max_epochs=1)  # 4 batches of 8
    assert [lr for lr, _ in seen] == pytest.approx([0.08, 0.04, 0.02, 0.01])
    assert [s for _, s in seen] == pytest.approx([0.08, 0.04, 0.02, 0.01])


CURVATURE_STRATEGIES = {
    "frozen": {"curvature_bn": "frozen"},
    "running": {"curvature_bn": "running"},
    "ggn-frozen": {"curvature": "ggn", "curvature_bn": "frozen"},
    "two-batches": {"hessian_batches": 2},
}


@pytest.mark.parametrize("name", list(CURVATURE_STRATEGIES))
def test_curvature_options_apply_the_engine_gradient_without_side_effects(name):
    from idarts_plugin import ImplicitDARTS
    from idarts_plugin.hypergrad.problem import module_problem

    strategy = ImplicitDARTS(
        neumann_steps=2,
        **{**NEUMANN_PAPER, "monitor_every": 1},
        **CURVATURE_STRATEGIES[name],
    )
    oneshot, trn, val = tiny_problem(strategy)
    model = oneshot.training_module.model
    model.train()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    alphas, grads, diag = oneshot.hypergradient(trn, val, weight_lr=0.05)
    assert diag.finite and diag.implicit_norm > 0 and diag.growth_rate is not None
    for k, v in before.items():
        assert torch.equal(v, model.state_dict()[k]), k
    # the same step from the engine's own problem builder, on a copy
    copy_model = copy.deepcopy(model)
    ids = {id(p) for p in alphas}
    names = dict(model.named_parameters())
    a_names = [n for n, p in names.items() if id(p) in ids]
    order = [id(p) for p in alphas]
    a_names.sort(key=lambda n: order.index(id(names[n])))
    w_names = [n for n in names if n not in a_names]
    cp = dict(copy_model.named_parameters())
    tr, va, curv = module_problem(
        copy_model,
        torch.nn.CrossEntropyLoss(),
        [trn],
        val,
        weight_names=w_names,
        alpha_names=a_names,
        weights=[cp[n] for n in w_names],
        alphas=[cp[n] for n in a_names],
        curvature=strategy.options.curvature_spec,
    )
    from idarts_plugin.hypergrad import compute_hypergradient

    ref = compute_hypergradient(
        tr,
        va,
        [cp[n] for n in w_names],
        [cp[n] for n in a_names],
        method="neumann",
        steps=2,
        lr=0.05,
        curvature=curv,
        weight_decay=0.0,
    )
    for g, r in zip(grads, ref.grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)


def test_hessian_batches_average_over_the_previous_training_batches():
    from idarts_plugin import ImplicitDARTS

    oneshot, trn, val = tiny_problem(
        ImplicitDARTS(neumann_steps=1, hessian_batches=3, **NEUMANN_PAPER)
    )
    seen = []
    original = oneshot._curvature_batches

    def spy(current):
        out = original(current)
        seen.append(len(out))
        return out

    oneshot._curvature_batches = spy
    for _ in range(4):
        oneshot.hypergradient(trn, val, weight_lr=0.05)
    assert seen == [1, 2, 3, 3]
