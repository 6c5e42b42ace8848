"""The budget rules: the warm-up and the architecture learning rate of ``auto``."""

from __future__ import annotations

import pytest

from idarts_plugin.budget import arc_learning_rate_for_budget, warmup_for_budget


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
