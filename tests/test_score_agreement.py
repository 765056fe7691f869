"""agreement(): Spearman and AUROC of new passage scores against the stored Q_H split."""

import math

import pytest

from selflearn.score.agreement import agreement


def test_perfect_agreement():
    res = agreement([0.1, 0.4, 0.6, 0.9], [0.2, 0.3, 0.7, 0.8])
    assert res == {"spearman": pytest.approx(1.0), "auroc": pytest.approx(1.0), "n": 4}


def test_inverse_agreement():
    res = agreement([0.1, 0.4, 0.6, 0.9], [0.9, 0.7, 0.3, 0.1])
    assert res["spearman"] == pytest.approx(-1.0) and res["auroc"] == pytest.approx(0.0)


def test_nans_are_dropped_pairwise():
    res = agreement([0.1, math.nan, 0.6, 0.9, 0.2], [0.2, 0.5, math.nan, 0.8, 0.1])
    assert res["n"] == 3
    assert res["auroc"] == pytest.approx(1.0)


def test_threshold_is_strict_and_one_class_gives_nan_auroc():
    res = agreement([0.5, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert math.isnan(res["auroc"]) and res["n"] == 3
    assert not math.isnan(res["spearman"])


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        agreement([0.1], [0.1, 0.2])
