"""Hallucination scorers (SelfCheckGPT variants) and the pair bookkeeping they share.

Every scorer compares each passage sentence with each non-empty sample. The helpers here flatten all
(sentence, sample) pairs of a whole batch of answers, so a scorer makes one batched model call, and
average the pair scores back into one array of sentence scores per answer.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from selflearn.protocols import HallucinationScorer
from selflearn.types import Answer, Score

__all__ = ["sentence_sample_pairs", "mean_by_sentence", "score_answers"]


def sentence_sample_pairs(answers: Sequence[Answer]) -> tuple[list[tuple[str, str]], list[tuple[int, int]]]:
    """All (sentence, sample) pairs of all answers, and the (answer, sentence) each belongs to; empty samples skipped."""
    pairs: list[tuple[str, str]] = []
    owners: list[tuple[int, int]] = []
    for a, answer in enumerate(answers):
        samples = [s for s in answer.samples if s.strip()]
        for i, sentence in enumerate(answer.passage_sentences):
            for sample in samples:
                pairs.append((sentence, sample))
                owners.append((a, i))
    return pairs, owners


def mean_by_sentence(answers: Sequence[Answer], owners: Sequence[tuple[int, int]],
                     pair_scores: Sequence[float]) -> list[np.ndarray]:
    """Average pair scores per sentence (the mean over samples); NaN for a sentence that had no non-empty sample."""
    sums = [np.zeros(len(a.passage_sentences)) for a in answers]
    counts = [np.zeros(len(a.passage_sentences)) for a in answers]
    for (a, i), value in zip(owners, pair_scores, strict=True):
        sums[a][i] += value
        counts[a][i] += 1
    out = []
    for total, count in zip(sums, counts):
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    return out


def score_answers(scorer: HallucinationScorer, answers: Sequence[Answer]) -> list[Score]:
    """Run a scorer on a batch of answers and wrap each array of sentence scores in a Score."""
    return [Score(np.asarray(s, dtype=float)) for s in scorer.score(answers)]
