"""Open generation: the model proposes three topics, then one question about them (PAPER.md, "Methods")."""

from __future__ import annotations

import math

import numpy as np

from selflearn.protocols import Generator
from selflearn.questions import ask, complete, with_temperature
from selflearn.questions.prompts import OPEN_QUESTION_PROMPT, TOPIC_PROMPT
from selflearn.types import QUESTION_PARAMS, TOPIC_PARAMS, GenParams, Question


class ModelTopicsSource:
    """Topics from the model, then one question per (topic set, word); open and induced generation differ in words."""

    method = "model-topics"
    template = OPEN_QUESTION_PROMPT
    words: tuple[str | None, ...] = (None,)  # None: the template takes no question word

    def __init__(
        self,
        generator: Generator,
        *,
        temperature: float | None = None,
        topic_params: GenParams = TOPIC_PARAMS,
        question_params: GenParams = QUESTION_PARAMS,
    ):
        self.generator = generator
        # The paper's temperature study changes both steps' temperature (default 1.0 from TOPIC/QUESTION_PARAMS).
        self.topic_params = with_temperature(topic_params, temperature)
        self.question_params = with_temperature(question_params, temperature)

    def propose(self, k: int, rng: np.random.Generator) -> list[Question]:
        """k questions: ceil(k / len(words)) topic sets in one generate call, then the k questions in another."""
        if k <= 0:
            return []
        n_sets = math.ceil(k / len(self.words))
        topic_sets = complete(self.generator, [TOPIC_PROMPT] * n_sets, self.topic_params, rng)
        # Truncate before generating so no question is asked only to be thrown away.
        pairs = [(t, w) for t in topic_sets for w in self.words][:k]
        topics = [t for t, _ in pairs]
        metas = [{} if w is None else {"word": w} for _, w in pairs]
        return ask(
            self.generator, self.template, topics, metas, method=self.method, params=self.question_params, rng=rng
        )


class OpenSource(ModelTopicsSource):
    """The paper's open generation: one question per model-proposed topic set."""

    method = "open"
