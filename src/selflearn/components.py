"""Build the collaborators a config names. The one place where config fields meet constructor arguments."""

from __future__ import annotations

import os
from typing import Any

from selflearn import registry
from selflearn.config import GenerationConfig, MetricsConfig, QuestionsConfig, ScoringConfig
from selflearn.errors import UserError
from selflearn.protocols import Embedder, Generator, HallucinationScorer, QuestionSource


def chat_format(gen: GenerationConfig) -> Any:
    """The prompt format a config asks for: a template string, or the model's chat template with a system turn."""
    from selflearn.generate.chat import ChatFormat

    if gen.prompt_template:
        return ChatFormat(template=gen.prompt_template, system=gen.system_prompt)
    return ChatFormat(system=gen.system_prompt, assistant_preamble=gen.assistant_preamble)


def build_generator(gen: GenerationConfig) -> Generator:
    """The generation backend named by gen.backend, loaded and ready."""
    cls = registry.resolve("generator", gen.backend)
    if gen.backend == "transformers":
        return cls.load(gen.model, chat_format=chat_format(gen), dtype=gen.dtype, device=gen.device,
                        batch_size=gen.batch_size)
    if gen.backend == "openai":
        return cls(gen.model, base_url=gen.base_url, api_key=os.environ.get(gen.api_key_env),
                   concurrency=gen.concurrency, system_prompt=gen.system_prompt)
    if gen.backend == "vllm":
        return cls(gen.model, tensor_parallel_size=gen.tensor_parallel_size, chat_format=chat_format(gen))
    if gen.backend == "llamacpp":
        return cls.load(gen.model, chat_format=chat_format(gen))
    return cls()


def model_version(gen: GenerationConfig, generator: Generator) -> str:
    """What answered: the generator's own name when it knows it, else backend:model."""
    return str(getattr(generator, "name", None) or f"{gen.backend}:{gen.model}")


def build_embedder(metrics: MetricsConfig) -> Embedder:
    """The sentence embedder for Curiosity, the oracle's WordNet space and the offline scorer."""
    from selflearn.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(metrics.embedder)


def build_source(q: QuestionsConfig, generator: Generator, embedder: Embedder) -> QuestionSource:
    """The self-questioning method named by q.method."""
    cls = registry.resolve("method", q.method)
    if q.method == "oracle":
        return cls(generator, embedder=embedder, temperature=q.temperature)
    if q.method == "external":
        from selflearn.questions.external import topic_provider

        return cls(generator, topic_provider(q.topics), temperature=q.temperature)
    if q.method == "baseline":
        return cls(generator)
    return cls(generator, temperature=q.temperature)


def scorer_name(scoring: ScoringConfig) -> str:
    """The name scores are stored under: the scorer and, where it matters, its model."""
    if scoring.scorer == "nli":
        return f"nli:{scoring.nli_model}"
    if scoring.scorer == "llm" and scoring.checker_model:
        return f"llm:{scoring.checker_model}"
    return scoring.scorer


def build_scorer(scoring: ScoringConfig, *, generator: Generator | None, embedder: Embedder) -> HallucinationScorer:
    """The hallucination scorer named by scoring.scorer."""
    cls = registry.resolve("scorer", scoring.scorer)
    if scoring.scorer == "nli":
        return cls(scoring.nli_model, batch_size=scoring.batch_size)
    if scoring.scorer == "offline":
        return cls(embedder=embedder)
    if scoring.scorer == "llm":
        checker = generator
        if scoring.checker_model:
            checker = build_generator(GenerationConfig(model=scoring.checker_model))
        if checker is None:
            raise UserError("the llm scorer needs a checker model: --checker-model NAME")
        return cls(checker)
    return cls()
