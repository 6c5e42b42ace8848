"""The budget rules: the warm-up and the architecture learning rate of ``auto``."""

from __future__ import annotations

import pytest

from idarts_plugin.budget import (
    ARC_HORIZON,
    SCHEDULE_KEYS,
    WARMUP_STEPS,
    AlphaSchedule,
    arc_learning_rate_for_budget,
    planned_arch_steps,
    resolve_arc_learning_rate,
    resolve_warmup_epochs,
    warmup_for_budget,
)


def test_arc_learning_rate_fits_the_budget():
    assert arc_learning_rate_for_budget(300) == pytest.approx(0.1)  # travel 30
    assert arc_learning_rate_for_budget(300, travel=3.0) == pytest.approx(0.01)
    # The papers' 19,500 steps give back about their 3e-4; never below it, never above 0.2.
    assert arc_learning_rate_for_budget(19_500, travel=5.85) == pytest.approx(3e-4)
    assert arc_learning_rate_for_budget(10**7) == 3e-4
    assert arc_learning_rate_for_budget(1) == 0.2
    with pytest.raises(ValueError, match="arch_steps"):
        arc_learning_rate_for_budget(0)
    with pytest.raises(ValueError, match="travel"):
        arc_learning_rate_for_budget(10, travel=-1.0)


def test_warmup_is_a_sixth_of_the_epochs():
    assert [warmup_for_budget(e) for e in (1, 5, 6, 30, 50)] == [0, 0, 1, 5, 8]


def test_warmup_cap_is_whole_epochs_holding_the_weight_steps():
    # ceil(96 / spe) epochs, never more than a sixth of the epochs
    assert warmup_for_budget(12, steps_per_epoch=48, warmup_steps=96) == 2  # 96 steps
    assert warmup_for_budget(36, steps_per_epoch=64, warmup_steps=96) == 2  # 128 steps
    assert warmup_for_budget(48, steps_per_epoch=78, warmup_steps=96) == 2  # 156 steps
    assert warmup_for_budget(48, steps_per_epoch=200, warmup_steps=96) == 1
    assert warmup_for_budget(30, steps_per_epoch=11, warmup_steps=96) == 5  # a sixth: 5 < 9
    assert warmup_for_budget(30, steps_per_epoch=11, warmup_steps=0) == 0
    assert warmup_for_budget(36, steps_per_epoch=64, warmup_steps=None) == 6  # no cap
    assert warmup_for_budget(36, warmup_steps=96) == 6  # steps per epoch unknown: no cap
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_for_budget(36, steps_per_epoch=64, warmup_steps=-1)


def test_arc_horizon_caps_the_steps_the_travel_is_spread_over():
    assert arc_learning_rate_for_budget(3588, horizon=480) == 30 / 480
    assert arc_learning_rate_for_budget(275, horizon=480) == pytest.approx(30 / 275)  # shorter
    assert arc_learning_rate_for_budget(3588, horizon=None) == pytest.approx(30 / 3588)
    assert arc_learning_rate_for_budget(10**6, travel=0.01, horizon=480) == 3e-4  # floor holds
    with pytest.raises(ValueError, match="horizon"):
        arc_learning_rate_for_budget(100, horizon=0)


@pytest.mark.parametrize(
    ("epochs", "batches", "old", "new"),
    [
        # the budget sweep's points: (warm-up, α lr) of the stretching rule and of the caps
        (4, 30, (0, 0.2), (0, 0.2)),
        (12, 48, (2, 0.0625), (2, 0.0625)),
        (36, 64, (6, 30 / 1920), (2, 0.0625)),
        (48, 78, (8, 30 / 3120), (2, 0.0625)),
        (30, 11, (5, 30 / 275), (5, 30 / 275)),  # the demo: unchanged
    ],
)
def test_defaults_keep_the_480_step_schedule_at_every_budget(epochs, batches, old, new):
    def schedule(warmup_steps, horizon):
        warmup = resolve_warmup_epochs(
            "auto", epochs=epochs, steps_per_epoch=batches, warmup_steps=warmup_steps
        )
        steps = planned_arch_steps(
            epochs=epochs,
            warmup_epochs=warmup,
            steps_per_epoch=batches,
            limit_batches=None,
            inner_steps=1,
        )
        return warmup, resolve_arc_learning_rate(
            "auto", arch_steps=steps, travel=30.0, horizon=horizon
        )

    assert schedule(None, None) == pytest.approx(old)
    assert schedule(WARMUP_STEPS, ARC_HORIZON) == pytest.approx(new)
    # The same numbers through the schedule object the run config and the strategies share.
    lr, warmup, _ = AlphaSchedule().resolve(epochs=epochs, steps_per_epoch=batches)
    assert (warmup, lr) == pytest.approx(new)
    stretch = AlphaSchedule(arc_horizon=None, warmup_steps=None)
    lr, warmup, _ = stretch.resolve(epochs=epochs, steps_per_epoch=batches)
    assert (warmup, lr) == pytest.approx(old)
    assert resolve_warmup_epochs(3, epochs=epochs, steps_per_epoch=batches) == 3  # a number


def test_alpha_schedule_is_the_run_configs_and_checks_its_values():
    from idarts_plugin.config import StrategyConfig

    assert StrategyConfig().schedule() == AlphaSchedule()
    assert {k: getattr(StrategyConfig(), k) for k in SCHEDULE_KEYS} == {
        k: getattr(AlphaSchedule(), k) for k in SCHEDULE_KEYS
    }
    assert not AlphaSchedule().is_fixed and AlphaSchedule.paper().is_fixed
    assert not AlphaSchedule(arc_learning_rate=0.1).is_fixed  # the warm-up is still auto
    # numbers pass through; lr x steps: inner steps and limit_batches count as in a search
    assert AlphaSchedule(arc_learning_rate=0.01, warmup_epochs=3).resolve(
        epochs=10, steps_per_epoch=20, inner_steps=2, limit_batches=8
    ) == (0.01, 3, 7 * 4)
    assert AlphaSchedule(warmup_epochs=0, arc_travel=2.0, arc_horizon=None).resolve(
        epochs=10, steps_per_epoch=20, inner_steps=2, limit_batches=8
    ) == (2 / 40, 0, 40)
    assert AlphaSchedule(warmup_epochs=0, arc_travel=2.0, arc_horizon=16).resolve(
        epochs=10, steps_per_epoch=20, inner_steps=2, limit_batches=8
    ) == (2 / 16, 0, 40)
    for kwargs, message in [
        ({"arc_learning_rate": 0}, "arc_learning_rate must be a finite number > 0, got 0"),
        ({"arc_learning_rate": "fast"}, "arc_learning_rate must be a finite number > 0"),
        ({"warmup_epochs": -1}, "warmup_epochs must be an integer >= 0, got -1"),
        ({"warmup_epochs": 1.5}, "warmup_epochs must be an integer >= 0, got 1.5"),
        ({"arc_travel": 0.0}, "arc_travel must be a finite number > 0"),
        ({"arc_horizon": 0}, "arc_horizon must be an integer >= 1, got 0"),
        ({"warmup_steps": -2}, "warmup_steps must be an integer >= 0, got -2"),
    ]:
        with pytest.raises(ValueError, match=message):
            AlphaSchedule(**kwargs)
    with pytest.raises(ValueError, match="steps_per_epoch must be an integer >= 1, got 0"):
        AlphaSchedule().resolve(epochs=3, steps_per_epoch=0)
    with pytest.raises(TypeError):
        AlphaSchedule(0.1)  # keyword-only


def test_the_old_import_from_derive_still_works_with_a_deprecation_warning():
    import idarts_plugin.derive as derive

    with pytest.warns(DeprecationWarning, match="import it from idarts_plugin.budget"):
        old = derive.arc_learning_rate_for_budget
    assert old is arc_learning_rate_for_budget
    assert "arc_learning_rate_for_budget" not in derive.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        derive.nope  # noqa: B018
