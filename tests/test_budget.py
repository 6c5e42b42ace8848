"""The budget rules: the warm-up and the architecture learning rate of ``auto``."""

from __future__ import annotations

import pytest

from idarts_plugin.budget import (
    ARC_HORIZON,
    WARMUP_STEPS,
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
    assert resolve_warmup_epochs(3, epochs=epochs, steps_per_epoch=batches) == 3  # a number
