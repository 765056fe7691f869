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
                   concurrency=gen.concurrency, chat_format=chat_format(gen))
    if gen.backend == "vllm":
        return cls(gen.model, tensor_parallel_size=gen.tensor_parallel_size, chat_format=chat_format(gen))
    if gen.backend == "llamacpp":
        return cls.load(gen.model, chat_format=chat_format(gen))
    if gen.backend == "fake":
        return cls.from_env()
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
        from selflearn.questions.external import topic_sets_from

        return cls(generator, topic_sets_from(q.topics), temperature=q.temperature)
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
        return cls()  # reads MiniLM's token embeddings through its own encoder
    if scoring.scorer == "llm":
        checker = generator
        if scoring.checker_model:
            checker = build_generator(GenerationConfig(model=scoring.checker_model))
        if checker is None:
            raise UserError("the llm scorer needs a checker model: --checker-model NAME")
        return cls(checker)
    return cls()


def model_path(gen: GenerationConfig) -> str:
    """A local folder for the configured model (the embedded default is converted once); hub ids pass through."""
    from selflearn.generate.default_model import DEFAULT_MODEL, default_model_path

    return str(default_model_path()) if gen.model == DEFAULT_MODEL else gen.model


def load_version(store: Any, config: Any, version: str) -> Generator:
    """A transformers generator for a model version: "base" is the configured model; merged versions are folders;
    routed (Dyn-Adapt) versions are the base with the adapter and its router."""
    from selflearn.generate.hf import HFGenerator

    gen = config.generation
    record = None if version == "base" else store.version(version)
    if version != "base" and record is None:
        raise UserError(f"no model version {version!r} in {store.path}")
    if record is None:
        return HFGenerator.load(gen.model, chat_format=chat_format(gen), dtype=gen.dtype, device=gen.device,
                                batch_size=gen.batch_size)
    if record["metrics"].get("integrate") != "route":
        return HFGenerator.load(record["path"], chat_format=chat_format(gen), dtype=gen.dtype, device=gen.device,
                                batch_size=gen.batch_size)
    from peft import PeftModel

    from selflearn.dynadapt import Router, RoutedGenerator

    base = HFGenerator.load(record["base_model"], chat_format=chat_format(gen), dtype=gen.dtype, device=gen.device,
                            batch_size=gen.batch_size)
    base.model = PeftModel.from_pretrained(base.model, record["metrics"]["adapter"])
    routed = RoutedGenerator(base, Router.load(record["metrics"]["router"]))
    routed.model, routed.tokenizer = base.model, base.tokenizer  # perplexity reads these
    return routed


def build_search_engine(search: Any) -> Any:
    """The knowledge-search engine: the local index (default: WordNet glosses) or a web API."""
    cls = registry.resolve("search engine", search.engine)
    if search.engine == "local":
        if search.index:
            return cls(search.index)
        from selflearn.search.corpus import ensure_default_index

        return ensure_default_index()
    if search.engine == "searxng":
        if not search.searxng_url:
            raise UserError("the searxng engine needs --searxng-url (your instance's base URL)")
        return cls(search.searxng_url)
    return cls()


def build_reader(search: Any, *, cache: Any) -> Any:
    """The page reader for web hits, caching pages in the store."""
    from selflearn.search.reader import PageReader

    return PageReader(allow_private_hosts=search.allow_private_hosts, cache=cache)


def build_extractor(search: Any, embedder: Embedder) -> Any:
    """Answer extraction: offline by embeddings, or the paper's QA model and summariser."""
    from selflearn.search.extract import EmbeddingExtractor, HFExtractor

    if search.extractor == "hf":
        return HFExtractor(qa_model=search.qa_model, summarizer=search.summarizer)
    if search.extractor != "embedding":
        raise UserError(f"unknown extractor {search.extractor!r}; choose embedding or hf")
    return EmbeddingExtractor(embedder)


def build_judge(search: Any, *, scorer: HallucinationScorer, scorer_name: str) -> tuple[Any, str]:
    """(judge, name): an LLM judge through an OpenAI-compatible model, or the offline scorer judge."""
    from selflearn.judge import LLMJudge, ScorerJudge

    if search.judge == "llm":
        if not search.judge_model:
            raise UserError("--judge llm needs --judge-model (a model name on your OpenAI-compatible server)")
        gen = GenerationConfig(backend="openai", model=search.judge_model, system_prompt=None)
        return LLMJudge(build_generator(gen)), f"llm:{search.judge_model}"
    if search.judge != "scorer":
        raise UserError(f"unknown judge {search.judge!r}; choose scorer or llm")
    return ScorerJudge(scorer), f"scorer:{scorer_name}"
