"""Judges: does the model's own passage say what the reference answer says?

LLMJudge asks an LLM (the paper: gpt-4o) with the YES / PARTLY / NO scale, all prompts in one generate call.
ScorerJudge is offline: a HallucinationScorer checks the passage's sentences against the reference, and
similarity = 1 - mean sentence score (0 = contradicted by the reference, 1 = consistent with it).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Callable, Sequence

from selflearn.curate import UNPARSEABLE, Judgement
from selflearn.protocols import Generator, HallucinationScorer
from selflearn.types import Answer, GenParams, nan_safe_mean

VERDICTS = {"YES": 1.0, "PARTLY": 0.5, "NO": 0.0}
JUDGE_PARAMS = GenParams(max_new_tokens=128, min_new_tokens=1, do_sample=False, temperature=0.0)
JUDGE_PROMPT = (
    "You are grading an answer against a gold answer to the same question.\n\n"
    "QUESTION: {question}\n"
    "GOLD_ANSWER: {reference}\n"
    "SYSTEM_ANSWER: {passage}\n\n"
    "Does the SYSTEM_ANSWER convey the same information as the GOLD_ANSWER?\n"
    "Reply with YES if it does, PARTLY if it is partly correct or misses or adds something important, "
    "or NO if it is different or wrong. Start your reply with exactly one of the words YES, PARTLY or NO, "
    "then give a one-sentence reason."
)


def parse_verdict(reply: str) -> float:
    """The paper's mapping of a judge reply: first word YES = 1, PARTLY = 0.5, NO = 0, anything else = -99."""
    words = reply.strip().split(maxsplit=1)
    first = re.sub(r"[^A-Za-z]", "", words[0]).upper() if words else ""  # "**YES**," and "No." count
    return VERDICTS.get(first, UNPARSEABLE)


def _judge_with(items: Sequence[Judgement], verdicts: Callable[[list[Judgement]], list[tuple[float, str]]]):
    """Fill in verdicts for the items that have a reference; the rest are unparseable without asking anyone."""
    todo = [i for i, item in enumerate(items) if item.reference.strip()]
    out = [replace(item, similarity=UNPARSEABLE, similarity_text="no reference answer") for item in items]
    for i, (similarity, text) in zip(todo, verdicts([items[i] for i in todo]) if todo else []):
        out[i] = replace(items[i], similarity=similarity, similarity_text=text)
    return out


class LLMJudge:
    """Any selflearn Generator as the judge; greedy, one generate call for all items."""

    def __init__(self, generator: Generator, *, prompt: str = JUDGE_PROMPT, params: GenParams = JUDGE_PARAMS):
        self.generator, self.prompt, self.params = generator, prompt, params

    def judge(self, items: Sequence[Judgement]) -> list[Judgement]:
        """Copies of items with similarity and similarity_text (the full reply) filled in."""
        return _judge_with(items, self._verdicts)

    def _verdicts(self, items: list[Judgement]) -> list[tuple[float, str]]:
        prompts = [self.prompt.format(question=i.question, reference=i.reference, passage=i.passage) for i in items]
        replies = self.generator.generate(prompts, n=1, params=self.params)
        texts = [reply[0] if reply else "" for reply in replies]
        return [(parse_verdict(text), text) for text in texts]


class ScorerJudge:
    """Offline judge: similarity = 1 - hallucination score of the passage's sentences against [reference].

    The scorer treats the reference as the one sample: a sentence it contradicts scores near 1, so similarity
    near 0 ("learn"); a passage consistent with the reference gets similarity near 1 ("known"). A passage with
    no scorable sentence is unparseable (-99), like a judge reply that says nothing.
    """

    def __init__(self, scorer: HallucinationScorer, *, split: Callable[[str], list[str]] | None = None):
        self.scorer = scorer
        self._split = split

    def judge(self, items: Sequence[Judgement]) -> list[Judgement]:
        """Copies of items with similarity = 1 - score, one scorer call for all items."""
        return _judge_with(items, self._verdicts)

    def _verdicts(self, items: list[Judgement]) -> list[tuple[float, str]]:
        if self._split is None:
            from selflearn.score.sentences import SentenceSplitter

            self._split = SentenceSplitter()
        answers = [Answer(prompt=i.question, passage=i.passage, samples=[i.reference],
                          passage_sentences=self._split(i.passage)) for i in items]
        scores = self.scorer.score(answers)
        out = []
        for answer, sentence_scores in zip(answers, scores):
            score = nan_safe_mean(sentence_scores) if answer.passage_sentences else math.nan
            if math.isnan(score):
                out.append((UNPARSEABLE, "no scorable sentence"))
            else:
                out.append((min(1.0, max(0.0, 1.0 - score)), f"hallucination score {score:.3f} against the reference"))
        return out
