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
