"""The LLM-judge measurement (bench/answer_judge.py) scores separation as documented."""

from __future__ import annotations

import math

from bench.answer_judge import auc


def test_auc_is_the_share_of_pairs_ranked_right() -> None:
    assert auc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert auc([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert auc([1.0, 3.0], [2.0]) == 0.5
    assert auc([2.0], [2.0]) == 0.5  # a tie counts half


def test_auc_without_one_side_is_undefined() -> None:
    assert math.isnan(auc([], [1.0]))
    assert math.isnan(auc([1.0], []))


def test_logistic_weighs_a_separating_feature_and_ignores_noise() -> None:
    import numpy as np

    from bench.answerability import logistic

    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    x = np.column_stack([signal * 5 + 3, rng.normal(size=200)])  # unstandardised on purpose
    y = (signal > 0).astype(float)
    bias, coef = logistic(x, y, np.ones(200))
    predicted = 1 / (1 + np.exp(-(bias + x @ coef))) >= 0.5
    assert coef[0] > 0 and abs(coef[1]) < coef[0]
    assert (predicted == (y == 1)).mean() >= 0.95
