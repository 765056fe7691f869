"""The jobs, as readable sequences of stages. Each stage reads what earlier ones stored and skips what is done."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from selflearn import components
from selflearn.config import Config, from_dict
from selflearn.errors import UserError
from selflearn.progress import Progress, SilentProgress
from selflearn.score.sentences import SentenceSplitter
from selflearn.selfquestion import Components, measure_run, run_self_questioning
from selflearn.store import Store

log = logging.getLogger(__name__)

_PACKAGES = ("selflearn", "torch", "transformers", "trl", "peft", "sentence-transformers", "scikit-learn", "numpy")


def environment() -> dict[str, Any]:
    """Versions of what produced a run (stored with it)."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}


@dataclass
class Built:
    """Everything a self-questioning run needs, built once per job."""

    parts: Components
    embedder: Any


def build(config: Config) -> Built:
    """Load the generator, embedder, question source and scorer a config names."""
    generator = components.build_generator(config.generation)
    embedder = components.build_embedder(config.metrics)
    parts = Components(
        source=components.build_source(config.questions, generator, embedder),
        generator=generator,
        scorer=components.build_scorer(config.scoring, generator=generator, embedder=embedder),
        scorer_name=components.scorer_name(config.scoring),
        splitter=SentenceSplitter(),
        model_version=components.model_version(config.generation, generator),
    )
    return Built(parts=parts, embedder=embedder)


def start_questions_run(store: Store, config: Config, *, label: str | None = None) -> int:
    """Create a self-questioning run for this config."""
    q = config.questions
    if q.method == "external" and q.topics and (q.topics == "serpapi" or "://" in q.topics):
        config = _freeze_topics(store, config)
    return store.create_run(kind="questions", method=q.method, model=config.generation.model,
                            scorer=components.scorer_name(config.scoring), seed=q.seed, n_target=q.n,
                            config=config.to_dict(), env=environment(), label=label)


def _freeze_topics(store: Store, config: Config) -> Config:
    """Live topics (SerpApi trends, a feed) are fetched once and kept with the run, so a resume sees the same sets."""
    import copy
    import json
    import time

    from selflearn.questions.external import topic_sets_from

    sets = topic_sets_from(config.questions.topics)
    path = store.workspace / "topics" / f"{config.questions.method}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sets, indent=1))
    frozen = copy.deepcopy(config)
    frozen.questions.topics = str(path)
    return frozen


def resume_config(store: Store, run_id: int | None) -> tuple[int, Config]:
    """The run to resume (the newest unfinished one when no id is given) and its stored config."""
    if run_id is None:
        run_id = store.latest_unfinished_run()
        if run_id is None:
            raise UserError(f"nothing to resume: no unfinished run in {store.path}")
    run = store.run(run_id)
    if run["kind"] != "questions":
        raise UserError(f"run {run_id} is an {run['kind']} run; only self-questioning runs resume")
    return run_id, from_dict(run["config"])


def run_questions(store: Store, config: Config, run_id: int, *, built: Built | None = None,
                  progress: Progress | None = None, finish: bool = True) -> dict:
    """Self-questioning + scoring + metrics for one run, resuming whatever the store holds; returns the metrics.

    finish=False leaves the run open (a learning cycle finishes it after its last stage)."""
    progress = progress or SilentProgress()
    built = built or build(config)
    q = config.questions
    run_self_questioning(store, run_id, built.parts, n=q.n, batch_size=q.batch_size, seed=q.seed,
                         num_samples=config.scoring.num_samples, progress=progress)
    store.update_run(run_id, model_version=built.parts.model_version)
    with progress.task("metrics (embed + cluster)", total=1) as bar:
        summary = measure_run(store, run_id, scorer_name=built.parts.scorer_name,
                              threshold=config.scoring.threshold, embedder=built.embedder,
                              embedder_name=config.metrics.embedder, reduce_dims=config.metrics.reduce_dims)
        bar.advance()
    if finish:
        store.finish_run(run_id)
    return summary
