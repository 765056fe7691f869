"""How well one scorer's passage scores agree with another's (e.g. a re-score against the stored NLI verdicts)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from selflearn.types import HALLUCINATION_THRESHOLD


def agreement(
    stored_passage_scores: Sequence[float],
    new_passage_scores: Sequence[float],
    threshold: float = HALLUCINATION_THRESHOLD,
) -> dict[str, float]:
    """Spearman rank correlation and AUROC of the new scores against the stored Q_H split (stored > threshold).

    Pairs where either score is NaN are dropped; n is the number of pairs kept. A statistic that is
    undefined (fewer than two pairs, a constant input, or only one class) is NaN.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    stored = np.asarray(stored_passage_scores, dtype=float)
    new = np.asarray(new_passage_scores, dtype=float)
    if stored.shape != new.shape:
        raise ValueError(f"score lists differ in length: {stored.shape} vs {new.shape}")
    keep = ~(np.isnan(stored) | np.isnan(new))
    stored, new = stored[keep], new[keep]
    result = {"spearman": math.nan, "auroc": math.nan, "n": int(keep.sum())}
    if stored.size >= 2 and np.ptp(stored) > 0 and np.ptp(new) > 0:
        result["spearman"] = float(spearmanr(stored, new).statistic)
    labels = stored > threshold
    if 0 < labels.sum() < labels.size:
        result["auroc"] = float(roc_auc_score(labels, new))
    return result
