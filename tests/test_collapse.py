"""Collapse knowledge: the signal, the threshold, the early stop's chosen epoch, the remedies."""

from __future__ import annotations

import pytest

from idarts_plugin.collapse import (
    AUX_SKIP_AUTO,
    BETA_DECAY_DEFAULT,
    COLLAPSE_SHARE,
    Remedies,
    aux_skip_coefficient,
    chance_share,
    collapse_warning,
    early_stop_choice,
    is_collapsed,
    parameter_free_share,
    select_epoch,
)
from idarts_plugin.derive import candidates


def test_parameter_free_share_counts_skip_pooling_and_none():
    export = {"a": "none", "b": "skip_connect", "c": "max_pool_3x3", "d": "conv_3x3", "x": [0]}
    assert parameter_free_share(export) == 0.75
    assert parameter_free_share({"input": [0, 1]}) is None


def test_collapse_threshold_is_inclusive_and_warns():
    assert is_collapsed(COLLAPSE_SHARE) and not is_collapsed(COLLAPSE_SHARE - 0.01)
    assert not is_collapsed(None)
    assert collapse_warning(0.33) is None
    text = collapse_warning(5 / 6)
    assert text is not None and "83 %" in text and "strategy.derive=perturbation" in text


def test_chance_share_is_the_mean_parameter_free_share_of_the_candidates():
    nb201 = ["skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]
    assert chance_share({f"e{i}": nb201 for i in range(6)}) == 0.5
    assert chance_share({"a": ["none", *nb201]}) == pytest.approx(0.6)
    assert chance_share({"a": ["conv_3x3"], "b": ["max_pool_3x3", "conv_5x5"]}) == 0.25
    assert chance_share({"input": [0, 1]}) is None and chance_share({}) is None


def test_candidates_leave_none_out_where_the_rule_does():
    probs = {"e": {"none": 0.4, "skip_connect": 0.3, "conv_3x3": 0.3}, "only": {"none": 1.0}}
    assert candidates(probs, "argmax") == {
        "e": ["none", "skip_connect", "conv_3x3"],
        "only": ["none"],
    }
    assert candidates(probs, "exclude_none") == {
        "e": ["skip_connect", "conv_3x3"],
        "only": ["none"],
    }
    assert candidates(probs, "perturbation") == candidates(probs, "exclude_none")


def test_early_stop_fires_above_chance_and_keeps_the_least_parameter_free_cell_before_it():
    shares = [(0, 0.83), (1, 0.83), (2, 0.33), (3, 0.17), (4, 0.5), (5, 0.67), (6, 0.0)]
    choice = select_epoch(shares, first=2, chance=0.5, patience=1)  # warm-up cannot fire
    assert (choice.epoch, choice.fired) == (3, 5)  # 0.5 is chance, not a collapse
    assert "epoch 5's cell is 67 % parameter-free" in choice.reason
    assert "epoch 3's cell has the fewest parameter-free ops (17 %)" in choice.reason
    assert choice.as_dict() == {"epoch": 3, "fired_at": 5, "reason": choice.reason}


def test_early_stop_keeps_the_latest_of_equally_parameter_free_cells():
    """Of equal shares the later α has trained longer."""
    shares = [(1, 0.33), (2, 0.5), (3, 0.33), (4, 0.83), (5, 1.0)]
    assert select_epoch(shares, first=1, chance=0.5, patience=1).epoch == 3
    choice = select_epoch(shares, first=1, chance=0.5)
    assert (choice.epoch, choice.fired) == (3, 5)


def test_the_trigger_follows_the_space_chance():
    shares = [(0, 0.33), (1, 0.5), (2, 0.6), (3, 0.6)]
    assert select_epoch(shares, chance=0.5).fired == 3
    assert select_epoch(shares, chance=0.6).fired is None  # 0.6 is chance with none: no fire
    assert select_epoch(shares, chance=0.25).fired == 1 and select_epoch(shares).fired == 3
    assert select_epoch(shares, chance=0.25, patience=1).fired == 0


def test_early_stop_without_a_fire_keeps_the_least_parameter_free_cell():
    """A search drifting up to chance has not fired, but is on its way: its cleanest cell is
    kept (of equals, the latest), not the last."""
    choice = select_epoch([(0, 0.83), (1, 0.17), (2, 0.0), (3, 0.0), (4, 0.5)], first=1, chance=0.5)
    assert (choice.epoch, choice.fired) == (3, None)
    assert "no run of 2 cells was more parameter-free than a random cell (50 %)" in choice.reason
    assert "epoch 3's cell has the fewest parameter-free ops (0 %)" in choice.reason
    flat = select_epoch([(0, 0.33), (1, 0.33), (2, 0.33)], chance=0.5)
    assert (flat.epoch, flat.fired) == (2, None)
    warm_only = select_epoch([(0, 0.83)], first=1)
    assert (warm_only.epoch, warm_only.fired) == (0, None)


def test_early_stop_never_keeps_a_warm_up_cell():
    """The warm-up's α is uniform: its cell is arbitrary, so a search whose first architecture
    epoch fires keeps that epoch."""
    choice = select_epoch([(0, 0.0), (1, 0.67), (2, 0.83)], first=1, chance=0.5)
    assert (choice.epoch, choice.fired) == (1, 2) and "first architecture epoch" in choice.reason
    alone = select_epoch([(0, 0.67)], patience=1)
    assert (alone.epoch, alone.fired) == (0, 0)
    with pytest.raises(ValueError):
        select_epoch([])


# NNI's DARTS with β-decay 2, 1920 steps, seed 2 (the budget sweep's record): six warm-up
# epochs, then a first architecture epoch above chance that the second undoes.
DARTS_BETA_SEED2 = [0.5] * 6 + [0.67, 0.33, 0.83, 0.67, 0.67, 0.83]


def test_patience_ignores_a_single_epoch_above_chance_that_the_next_undoes():
    shares = list(enumerate(DARTS_BETA_SEED2))
    once = select_epoch(shares, first=6, chance=0.5, patience=1)
    assert (once.epoch, once.fired) == (6, 6)  # fired on the first flip: nothing to keep
    twice = select_epoch(shares, first=6, chance=0.5, patience=2)
    assert (twice.epoch, twice.fired) == (7, 9)  # epochs 8 and 9 are the run
    assert "the cells of epochs 8-9 are 83 %, 67 % parameter-free" in twice.reason
    assert "epoch 7's cell has the fewest parameter-free ops (33 %)" in twice.reason
    thrice = select_epoch(shares, first=6, chance=0.5, patience=3)
    assert (thrice.epoch, thrice.fired) == (7, 10)


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_the_decision_at_each_epoch_reads_only_the_epochs_so_far(patience):
    """A search that checks after every epoch stops at ``fired`` and keeps what the whole
    history would keep: the signal never needs an epoch after the one that fires it."""
    shares = list(enumerate([0.83, 0.5, 0.67, 0.33, 0.67, 0.17, 0.67, 0.83, 1.0, 0.0]))
    whole = select_epoch(shares, first=1, chance=0.5, patience=patience)
    assert whole.fired is not None
    for end in range(1, len(shares) + 1):
        so_far = select_epoch(shares[:end], first=1, chance=0.5, patience=patience)
        if shares[end - 1][0] < whole.fired:
            assert so_far.fired is None
        else:
            assert so_far == whole
            break


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_patience_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="early_stop_patience"):
        select_epoch([(0, 0.0)], patience=bad)
    with pytest.raises(ValueError, match="early_stop_patience"):
        Remedies(early_stop_patience=bad)


def test_aux_skip_decays_linearly_to_zero():
    assert [aux_skip_coefficient(2.0, epoch=e, epochs=4) for e in range(6)] == [
        2.0,
        1.5,
        1.0,
        0.5,
        0.0,
        0.0,
    ]
    assert aux_skip_coefficient(1.0, epoch=0, epochs=0) == 0.0


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"beta_decay": -1}, "beta_decay"),
        ({"beta_decay_schedule": "cosine"}, "beta_decay_schedule"),
        ({"aux_skip": float("inf")}, "aux_skip"),
        ({"early_stop": "yes"}, "early_stop"),
    ],
)
def test_remedies_validate_and_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        Remedies(**kwargs)


def test_remedies_as_dict_holds_every_remedy_key():
    """summary.json and the config's normalisation read every field, a new remedy included."""
    from idarts_plugin.collapse import REMEDY_KEYS

    chosen = Remedies(beta_decay=0.5, aux_skip="auto", early_stop=False, early_stop_patience=3)
    assert chosen.as_dict() == {
        "beta_decay": 0.5,
        "beta_decay_schedule": "linear",
        "aux_skip": "auto",
        "early_stop": "off",
        "early_stop_patience": 3,
    }
    assert list(Remedies().as_dict()) == list(REMEDY_KEYS)


def test_remedies_say_which_act_in_training():
    off = Remedies.off()
    assert not off.active and not off.acts_in_training
    assert Remedies(beta_decay=0.0).active  # the early stop is still on
    assert not Remedies(beta_decay=0.0, early_stop="collapse").acts_in_training
    assert Remedies(aux_skip=1.0).acts_in_training and Remedies(beta_decay=0.5).acts_in_training
    assert Remedies(aux_skip="auto").acts_in_training  # on unless the space refuses it


def test_the_default_remedies_are_the_sweeps_and_the_demos_choice():
    """β-decay 2 (linear) and the early stop; the auxiliary skip off (``auto`` on request)."""
    default = Remedies()
    assert (default.beta_decay, default.beta_decay_schedule) == (BETA_DECAY_DEFAULT, "linear")
    assert BETA_DECAY_DEFAULT == 2.0  # what the sweep's arm measured
    assert (default.aux_skip, default.early_stop) == (0.0, "collapse")
    assert default.resolve(edges_keep_shape=True) == default  # nothing to resolve
    auto = Remedies(aux_skip="auto")
    assert auto.resolve(edges_keep_shape=True) == Remedies(aux_skip=AUX_SKIP_AUTO)
    assert auto.resolve(edges_keep_shape=False) == Remedies(aux_skip=0.0)
    assert AUX_SKIP_AUTO == 1.0  # DARTS-' initial weight, what the sweep measured
    # a number is the user's: resolving leaves it alone, whatever the space
    assert Remedies(aux_skip=0.5).resolve(edges_keep_shape=False).aux_skip == 0.5


@pytest.mark.parametrize("value", ["on", "Auto", ""])
def test_aux_skip_takes_auto_or_a_number(value):
    with pytest.raises(ValueError, match="aux_skip must be 'auto' or a number"):
        Remedies(aux_skip=value)


NB201_PROBS = {
    f"e{i}": dict.fromkeys(
        ["none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"], 0.2
    )
    for i in range(6)
}


@pytest.mark.parametrize(
    "rule, share, fires",
    [
        ("exclude_none", 0.5, False),  # chance without none: 2 of 4
        ("exclude_none", 4 / 6, True),
        ("argmax", 0.5, False),  # with none: 3 of 5 = 0.6
        ("argmax", 4 / 6, True),
        ("perturbation", 0.5, False),  # named by its α rule, exclude_none
    ],
)
def test_early_stop_choice_triggers_above_the_rules_chance(rule, share, fires):
    shares = [(0, 1.0), (1, 0.0), (2, share), (3, share)]
    choice = early_stop_choice(shares, NB201_PROBS, rule=rule, first=1)
    assert (choice.fired == 3) is fires
    chance = chance_share(candidates(NB201_PROBS, rule))
    assert choice == select_epoch(shares, first=1, chance=chance)
    once = early_stop_choice(shares, NB201_PROBS, rule=rule, first=1, patience=1)
    assert (once.fired == 2) is fires


def test_early_stop_choice_without_probs_uses_the_collapse_share():
    shares = [(0, 0.0), (1, COLLAPSE_SHARE)]
    assert early_stop_choice(shares, None) == select_epoch(shares)
    assert early_stop_choice(shares, None).fired is None  # 0.5 does not exceed 0.5
