"""The pluggable interfaces, nothing else. Each has one batched method; convenience lives in free functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

from selflearn.types import Answer, GenParams, Hit, Question

if TYPE_CHECKING:  # the record lives with the reader; importing it here at run time would be circular
    from selflearn.search.reader import PageRecord


@runtime_checkable
class Generator(Protocol):
    """Prompts (user turns; the backend applies the chat format) in, n completions per prompt out."""

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams) -> list[list[str]]: ...


@runtime_checkable
class QuestionSource(Protocol):
    """One self-questioning method: open | induced | oracle | external | baseline."""

    def propose(self, k: int, rng: np.random.Generator) -> list[Question]: ...


@runtime_checkable
class HallucinationScorer(Protocol):
    """One array of sentence scores per answer (aligned with answer.passage_sentences); 0 consistent, 1 contradicted."""

    def score(self, answers: Sequence[Answer]) -> list[np.ndarray]: ...


@runtime_checkable
class Embedder(Protocol):
    """Texts in, one float32 row per text out."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class SearchEngine(Protocol):
    """A query in, ranked hits out. Failures are logged and give no hits; they never raise."""

    def search(self, query: str, k: int) -> list[Hit]: ...


@runtime_checkable
class PageCache(Protocol):
    """Pages already read, keyed by the requested URL, so a resumed knowledge search never fetches a page twice."""

    def get(self, url: str) -> "PageRecord | None": ...

    def put(self, record: "PageRecord") -> None: ...
