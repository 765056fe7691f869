"""A deterministic scorer for pipeline tests: no model, same answer every time."""

from __future__ import annotations

import zlib
from typing import Callable, Sequence

import numpy as np

from selflearn.types import Answer


def _hash_score(answer: Answer, sentence: str) -> float:
    """A stable pseudo-random score in [0, 1) from the question and the sentence."""
    return (zlib.crc32(f"{answer.prompt}\x00{sentence}".encode()) % 1000) / 1000.0


class FakeScorer:
    """Scores each sentence with fn(answer, sentence), a fixed per-prompt value, or a stable hash.

    by_prompt maps a question prompt to the score every sentence of its passage gets (others use fn). An
    answer with no sentences gives an empty array, and one whose samples are all empty gives NaNs, as the
    real scorers do.
    """

    def __init__(self, fn: Callable[[Answer, str], float] | None = None, *,
                 by_prompt: dict[str, float] | None = None):
        self.fn = fn or _hash_score
        self.by_prompt = dict(by_prompt or {})
        self.calls: list[int] = []  # number of answers per score() call, for tests that check batching

    def score(self, answers: Sequence[Answer]) -> list[np.ndarray]:
        """Deterministic sentence scores per answer."""
        self.calls.append(len(answers))
        out = []
        for answer in answers:
            if not any(s.strip() for s in answer.samples):
                out.append(np.full(len(answer.passage_sentences), np.nan))
                continue
            fixed = self.by_prompt.get(answer.prompt)
            out.append(np.array([fixed if fixed is not None else self.fn(answer, s)
                                 for s in answer.passage_sentences], dtype=float))
        return out
