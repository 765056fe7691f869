"""The paper's baseline: fixed topics "AI, blockchain, cryptocurrency", the question asked of the given generator.

With the deterministic baseline generator (every answer = the prompt + "...") this reproduces the paper's dummy.
"""

from __future__ import annotations

import numpy as np

from selflearn.protocols import Generator
from selflearn.questions import ask, with_temperature
from selflearn.questions.prompts import BASELINE_TOPICS, OPEN_QUESTION_PROMPT
from selflearn.types import QUESTION_PARAMS, GenParams, Question


class BaselineSource:
    """k questions about the baseline topics, in one generate call."""

    method = "baseline"

    def __init__(
        self,
        generator: Generator,
        *,
        topics: str = BASELINE_TOPICS,
        temperature: float | None = None,
        question_params: GenParams = QUESTION_PARAMS,
    ):
        self.generator = generator
        self.topics = topics
        self.question_params = with_temperature(question_params, temperature)

    def propose(self, k: int, rng: np.random.Generator) -> list[Question]:
        """k questions, all about the same fixed topics."""
        if k <= 0:
            return []
        return ask(
            self.generator,
            OPEN_QUESTION_PROMPT,
            [self.topics] * k,
            [{}] * k,
            method=self.method,
            params=self.question_params,
            rng=rng,
        )
