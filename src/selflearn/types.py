"""The records that cross stages. Plain dataclasses: no behaviour beyond small derived values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GenParams:
    """Decoding settings for one generate() call. temperature 0 or do_sample False means greedy."""

    max_new_tokens: int = 128
    min_new_tokens: int = 1
    do_sample: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return (not self.do_sample) or self.temperature == 0.0

    def with_(self, **changes: Any) -> "GenParams":
        return replace(self, **changes)


# The paper's settings (PAPER.md, "Generation settings").
TOPIC_PARAMS = GenParams(max_new_tokens=64, min_new_tokens=1, do_sample=True, temperature=1.0)
QUESTION_PARAMS = TOPIC_PARAMS
PASSAGE_PARAMS = GenParams(max_new_tokens=128, min_new_tokens=1, do_sample=False, repetition_penalty=1.1)
SAMPLE_PARAMS = GenParams(max_new_tokens=128, min_new_tokens=1, do_sample=True, temperature=1.0, repetition_penalty=1.1)
NUM_SAMPLES = 10
# The passage and the samples answer each question with this prompt; DPO pairs are trained on it too.
ANSWER_PROMPT = "Answer concisely with only one sentence. {question}"
HALLUCINATION_THRESHOLD = 0.5


@dataclass
class Question:
    """One self-proposed question: the topics it was asked about and the question text ("prompt" in the seed)."""

    topics: str
    prompt: str
    method: str
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"word": "WHY"} for induced generation


@dataclass
class Answer:
    """The model's greedy answer (passage), split into sentences, and its sampled answers."""

    prompt: str
    passage: str
    samples: list[str]
    passage_sentences: list[str] = field(default_factory=list)


def nan_safe_mean(scores: np.ndarray) -> float:
    """Mean ignoring NaNs; NaN when there is nothing to average (as the paper's np.nanmean)."""
    arr = np.asarray(scores, dtype=float)
    if arr.size == 0 or np.all(np.isnan(arr)):
        return math.nan
    return float(np.nanmean(arr))


@dataclass
class Score:
    """Sentence-level hallucination scores of one passage; 0 = consistent with samples, 1 = contradicted."""

    sentence_scores: np.ndarray

    @property
    def average_score(self) -> float:
        return nan_safe_mean(self.sentence_scores)

    def hallucinated(self, threshold: float = HALLUCINATION_THRESHOLD) -> bool:
        """A Point in the Unknown: passage score above the threshold (NaN never counts as one)."""
        avg = self.average_score
        return (not math.isnan(avg)) and avg > threshold


@dataclass
class Hit:
    """One search result: a web URL or a local document id, with what the engine knows of it."""

    url: str
    title: str = ""
    snippet: str = ""
    text: str = ""  # full text when the engine has it (local index); empty for web hits, read later
    rank: int = 0
    score: float = 0.0


@dataclass
class Evidence:
    """The paper's knowledge-search record for one (question, source)."""

    prompt: str
    answer_text: str
    summary_text: str
    full_text: str
    answer_score: float
    source_url: str


@dataclass
class Pair:
    """One DPO preference pair. kind is "known" (judge > 0.5: chosen = own passage) or "learn"."""

    prompt: str
    chosen: str
    rejected: str
    kind: str
    question: str = ""
    similarity: float = math.nan
