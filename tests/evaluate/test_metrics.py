"""Metric code against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nokoding.evaluate import metrics as M


def test_accuracy_skips_missing_labels():
    assert M.accuracy([0, 1, 1, M.MISSING], [0, 0, 1, 1]) == pytest.approx(2 / 3)


def test_cohen_kappa_hand_computed():
    # p_o = 3/4; p_e = 0.5*0.25 + 0.5*0.75 = 0.5; kappa = (0.75 - 0.5) / 0.5
    score = M.cohen_kappa([0, 0, 1, 1], [0, 1, 1, 1])
    assert score.defined
    assert score.value == pytest.approx(0.5)


def test_cohen_kappa_three_labels_hand_computed():
    a = [0, 0, 1, 1, 2, 2]
    b = [0, 1, 1, 1, 2, 0]
    # p_o = 4/6; marginals a: 1/3 each; b: 0 -> 2/6, 1 -> 3/6, 2 -> 1/6; p_e = (2+3+1)/18 = 1/3
    expected = (4 / 6 - 1 / 3) / (1 - 1 / 3)
    assert M.cohen_kappa(a, b).value == pytest.approx(expected)


def test_cohen_kappa_single_class_is_a_noted_zero_not_nan():
    score = M.cohen_kappa([2, 2, 2], [2, 2, 2])
    assert score.value == 0.0 and not math.isnan(score.value)
    assert not score.defined and "chance agreement is 1" in score.note


def test_cohen_kappa_constant_prediction_against_varied_gold_is_defined_zero():
    score = M.cohen_kappa([0, 0, 1, 1], [0, 0, 0, 0])
    assert score.defined
    assert score.value == pytest.approx(0.0)


def test_cohen_kappa_no_pairs_is_noted():
    score = M.cohen_kappa([M.MISSING, M.MISSING], [0, 1])
    assert score.value == 0.0 and not score.defined


def test_krippendorff_alpha_with_missing_value_hand_computed():
    # Unit 5 has only one value: not pairable. Coincidences of units 1-4:
    # o00 = 2, o01 = o10 = 1, o11 = 4; n0 = 3, n1 = 5, n = 8.
    # alpha = 1 - (n - 1) * (o01 + o10) / (n0*n1 + n1*n0) = 1 - 7*2/30 = 16/30
    score = M.krippendorff_alpha_nominal([0, 0, 1, 1, M.MISSING], [0, 1, 1, 1, 0])
    assert score.defined
    assert score.value == pytest.approx(16 / 30)


def test_krippendorff_alpha_perfect_agreement_is_one():
    assert M.krippendorff_alpha_nominal([0, 1, 2, 1], [0, 1, 2, 1]).value == pytest.approx(1.0)


def test_krippendorff_alpha_single_value_is_a_noted_zero():
    score = M.krippendorff_alpha_nominal([3, 3, M.MISSING], [3, 3, 1])
    assert score.value == 0.0 and not score.defined and "single value" in score.note


def test_ece_hand_computed_one_unit_per_bin():
    # bins of width 1/15: 0.9 -> (0.867, 0.933], 0.75 -> (0.733, 0.8], 0.3 -> (0.267, 0.333], 0.62 -> (0.6, 0.667]
    conf = [0.9, 0.75, 0.3, 0.62]
    correct = [1, 0, 0, 1]
    expected = (abs(1 - 0.9) + abs(0 - 0.75) + abs(0 - 0.3) + abs(1 - 0.62)) / 4
    assert M.expected_calibration_error(conf, correct) == pytest.approx(expected)
    assert expected == pytest.approx(0.3825)


def test_ece_hand_computed_shared_bin():
    # 0.9 and 0.88 share bin (0.867, 0.933]: accuracy 0.5, mean confidence 0.89; 0.1 is alone, right.
    conf = [0.9, 0.88, 0.1]
    correct = [1, 0, 1]
    expected = (2 / 3) * abs(0.5 - 0.89) + (1 / 3) * abs(1 - 0.1)
    assert M.expected_calibration_error(conf, correct) == pytest.approx(expected)


def test_ece_perfectly_calibrated_is_zero_and_rejects_bad_confidence():
    assert M.expected_calibration_error([1.0, 1.0], [1, 1]) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        M.expected_calibration_error([1.5], [1])


def test_reliability_bins_edges_and_counts():
    mean_conf, acc, count = M.reliability_bins([0.0, 1 / 15 - 1e-9, 0.5, 1.0], [1, 0, 1, 1])
    assert count.sum() == 4 and count[0] == 2 and count[7] == 1 and count[14] == 1
    assert acc[0] == pytest.approx(0.5)


def test_top_k_accuracy_with_several_gold_labels():
    probs = np.array([[0.5, 0.3, 0.1, 0.1], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    gold = [[3], [0, 3], [3, 2]]
    # unit 0: top-2 {0, 1} misses 3; unit 1: top-2 {3, 2} contains 3; unit 2: top-2 {0, 1} misses.
    assert M.top_k_accuracy(gold, probs, k=2) == pytest.approx(1 / 3)
    assert M.top_k_accuracy(gold, probs, k=3) == pytest.approx(2 / 3)


def test_resolve_gold_prefers_the_matching_code_else_the_first():
    out = M.resolve_gold([[1, 2], [1, 2], [0], []], [2, 0, 0, 1])
    assert out.tolist() == [2, 1, 0, M.MISSING]


def test_macro_f1_averages_over_gold_labels_only():
    y_true = [0, 0, 1, 1]
    y_pred = [0, 2, 1, 1]  # label 2 is never gold: not averaged, but its prediction costs label 0 recall
    # label 0: P = 1, R = 0.5, F1 = 2/3; label 1: P = R = F1 = 1
    assert M.macro_f1(y_true, y_pred) == pytest.approx((2 / 3 + 1) / 2)


def test_per_label_prf_never_predicted_label_has_zero_precision():
    p, r, f, s = M.per_label_prf([0, 1, 1], [1, 1, 1], [0, 1])
    assert p.tolist() == [0.0, pytest.approx(2 / 3)]
    assert r.tolist() == [0.0, 1.0]
    assert s.tolist() == [1, 2]
