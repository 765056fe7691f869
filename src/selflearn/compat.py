"""The seed's function names and signatures (SEED-README.md), as thin wrappers over selflearn.

    from selflearn.compat import self_questioning_loop_open_generation, build_dataset, do_train

Each loop function runs the real pipeline (batched generation, the hallucination scorer, the metrics) in a run
store — a temporary one unless `workspace=` is given — and returns the seed's documented dictionary.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, List

from selflearn.config import Config
from selflearn.train import do_train  # noqa: F401  (re-exported with the seed's signature)


def _loop(method: str, pretrained_model_name: str, tokenizer: Any, model: Any, prompt_fn: Callable[[str], str],
          extract_response_fn: Callable[[str], str], num_iteration: int, *, scorer: Any = None,
          embedder: Any = None, workspace: str | None = None, seed: int = 0, batch_size: int = 16,
          topics: str | None = None) -> dict[str, Any]:
    """Shared body of the seed's four loops: one self-questioning run, exported as the seed's dictionary."""
    from selflearn import components
    from selflearn.embed import SentenceTransformerEmbedder
    from selflearn.generate.chat import ChatFormat
    from selflearn.generate.hf import HFGenerator
    from selflearn.loop import Built, run_questions, start_questions_run
    from selflearn.score.sentences import SentenceSplitter
    from selflearn.seedformat import export_seed_dict
    from selflearn.selfquestion import Components, ensure_embeddings
    from selflearn.store import Store

    config = Config(workspace=workspace or tempfile.mkdtemp(prefix="selflearn-seed-"))
    config.generation.model = pretrained_model_name
    config.questions.method, config.questions.seed, config.questions.topics = method, seed, topics
    # induced generation asks six questions per iteration, as the seed's loop did
    config.questions.n = num_iteration * (6 if method == "induced" else 1)
    config.questions.batch_size = batch_size
    generator = HFGenerator(model, tokenizer, ChatFormat(prompt_fn=prompt_fn, extract_response_fn=extract_response_fn))
    embedder = embedder or SentenceTransformerEmbedder()
    scorer = scorer or components.build_scorer(config.scoring, generator=generator, embedder=embedder)
    parts = Components(source=components.build_source(config.questions, generator, embedder), generator=generator,
                       scorer=scorer, scorer_name=getattr(scorer, "name", config.scoring.scorer),
                       splitter=SentenceSplitter(), model_version=pretrained_model_name)
    store = Store(config.workspace)
    run_id = start_questions_run(store, config)
    run_questions(store, config, run_id, built=Built(parts=parts, embedder=embedder))
    rows = store.question_rows(run_id)
    for field in ("prompt", "topics"):
        ensure_embeddings(store, [r["id"] for r in rows], [r[field] for r in rows], field=field,
                          embedder=embedder, embedder_name=config.metrics.embedder)
    return export_seed_dict(store, run_id, scorer=parts.scorer_name, threshold=config.scoring.threshold,
                            embedder=config.metrics.embedder)


def self_questioning_loop_open_generation(pretrained_model_name, tokenizer, model, prompt_fn, extract_response_fn,
                                          num_iteration=100, **kwargs) -> dict[str, Any]:
    """Open generation: the model proposes topics, then one question per iteration."""
    return _loop("open", pretrained_model_name, tokenizer, model, prompt_fn, extract_response_fn, num_iteration,
                 **kwargs)


def self_questioning_loop_induced_generation(pretrained_model_name, tokenizer, model, prompt_fn,
                                             extract_response_fn, num_iteration=100, **kwargs) -> dict[str, Any]:
    """Induced generation: topics, then six questions (WHAT, WHO, WHY, WHERE, WHEN, HOW) per iteration."""
    return _loop("induced", pretrained_model_name, tokenizer, model, prompt_fn, extract_response_fn,
                 num_iteration, **kwargs)


def self_questioning_loop_oracle_selected(pretrained_model_name, tokenizer, model, prompt_fn, extract_response_fn,
                                          num_iteration=100, **kwargs) -> dict[str, Any]:
    """Oracle-selected: topics from a random point in the WordNet embedding space."""
    return _loop("oracle", pretrained_model_name, tokenizer, model, prompt_fn, extract_response_fn, num_iteration,
                 **kwargs)


def self_questioning_loop_extrinsic_inspiration(pretrained_model_name, tokenizer, model, prompt_fn,
                                                extract_response_fn, num_iteration=100, **kwargs) -> dict[str, Any]:
    """External prompt: topics from Google Trends via SerpApi when SERP_API_KEY is set, else the paper's sets."""
    if "topics" not in kwargs and os.environ.get("SERP_API_KEY"):
        kwargs["topics"] = "serpapi"
    return _loop("external", pretrained_model_name, tokenizer, model, prompt_fn, extract_response_fn,
                 num_iteration, **kwargs)


def build_dataset(questions: List[str], search_engine_fn: Callable[[str], List[str]], *,
                  allow_private_hosts: bool = False, embedder: Any = None) -> list[dict[str, Any]]:
    """The seed's knowledge search: links from search_engine_fn, pages read, answer and summary extracted."""
    from dataclasses import asdict

    from selflearn.curate import gather_evidence
    from selflearn.embed import SentenceTransformerEmbedder
    from selflearn.search.extract import EmbeddingExtractor
    from selflearn.search.reader import PageReader
    from selflearn.types import Hit

    class _LinksEngine:
        """A search_engine_fn (query -> links) as a SearchEngine."""

        def search(self, query: str, k: int) -> list[Hit]:
            return [Hit(url=link, rank=i) for i, link in enumerate(search_engine_fn(query)[:k])]

    evidence = gather_evidence(list(questions), _LinksEngine(), PageReader(allow_private_hosts=allow_private_hosts),
                               EmbeddingExtractor(embedder or SentenceTransformerEmbedder()), k=10)
    return [asdict(e) for q in questions for e in evidence.get(q, [])]
