"""SelfCheckGPT's prompt variant: a checker LLM answers Yes/No whether each sample supports each sentence."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from selflearn.protocols import Generator
from selflearn.score import mean_by_sentence, sentence_sample_pairs
from selflearn.types import Answer, GenParams

PROMPT = "Context: {sample}\n\nSentence: {sentence}\n\nIs the sentence supported by the context above? Answer Yes or No.\n\nAnswer: "


def reply_score(reply: str) -> float:
    """SelfCheckGPT's mapping: a reply starting with yes -> 0.0, with no -> 1.0, anything else -> 0.5."""
    text = reply.strip().lower()
    if text.startswith("yes"):
        return 0.0
    if text.startswith("no"):
        return 1.0
    return 0.5


class LLMPromptScorer:
    """Scores sentences with a checker Generator; all prompts of a batch go into one generate call."""

    def __init__(self, generator: Generator, *, max_new_tokens: int = 5):
        self.generator = generator
        self.params = GenParams(max_new_tokens=max_new_tokens, min_new_tokens=1, do_sample=False, temperature=0.0)

    def score(self, answers: Sequence[Answer]) -> list[np.ndarray]:
        """Sentence scores per answer: mean over non-empty samples of the mapped Yes/No reply."""
        pairs, owners = sentence_sample_pairs(answers)
        prompts = [PROMPT.format(sample=sample, sentence=sentence) for sentence, sample in pairs]
        replies = self.generator.generate(prompts, n=1, params=self.params) if prompts else []
        return mean_by_sentence(answers, owners, [reply_score(r[0] if r else "") for r in replies])
