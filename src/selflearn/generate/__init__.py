"""Generation backends (one file each: hf, openai, vllm, baseline, fake) and the paper's answering step."""

from __future__ import annotations

from typing import Sequence

from selflearn.protocols import Generator
from selflearn.types import ANSWER_PROMPT, NUM_SAMPLES, PASSAGE_PARAMS, SAMPLE_PARAMS, GenParams


def answer_questions(
    generator: Generator,
    questions: Sequence[str],
    *,
    n_samples: int = NUM_SAMPLES,
    passage_params: GenParams = PASSAGE_PARAMS,
    sample_params: GenParams = SAMPLE_PARAMS,
    seed: int | None = None,
) -> list[tuple[str, list[str]]]:
    """(passage, samples) per question: one greedy call for all passages, one n-sample call for all samples."""
    if not questions:
        return []
    prompts = [ANSWER_PROMPT.format(question=q) for q in questions]
    if seed is not None:
        sample_params = sample_params.with_(seed=seed)
    passages = generator.generate(prompts, n=1, params=passage_params)
    samples = generator.generate(prompts, n=n_samples, params=sample_params) if n_samples > 0 else [[] for _ in prompts]
    return [(p[0], s) for p, s in zip(passages, samples)]
