"""The self-questioning stage: propose -> answer (passage + samples) -> score -> store, one batch at a time.

Every step of a batch is skipped when the store already has it, so a killed run resumes where it stopped and a
finished batch is never generated twice. Each batch draws its randomness from (seed, batch), so a resumed run
is the run that would have happened without the kill.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from selflearn.errors import UserError
from selflearn.generate import answer_questions
from selflearn.progress import Progress, SilentProgress
from selflearn.protocols import Embedder, Generator, HallucinationScorer, QuestionSource
from selflearn.score.sentences import SentenceSplitter
from selflearn.split import split_run
from selflearn.store import Store
from selflearn.types import Answer, nan_safe_mean

log = logging.getLogger(__name__)


@dataclass
class Components:
    """The collaborators one self-questioning run needs."""

    source: QuestionSource
    generator: Generator
    scorer: HallucinationScorer
    scorer_name: str
    splitter: SentenceSplitter
    model_version: str


EMBED_CHUNK = 4096  # question embeddings computed and stored per chunk


def batch_seed(seed: int, batch: int, salt: int) -> int:
    """A per-batch generation seed: stable across resumes, different per batch and per call."""
    return int(np.random.default_rng([seed, batch, salt]).integers(0, 2**31 - 1))


def run_self_questioning(store: Store, run_id: int, parts: Components, *, n: int, batch_size: int, seed: int,
                         num_samples: int, progress: Progress | None = None) -> None:
    """Fill run_id up to n scored questions, resuming whatever the store already holds."""
    progress = progress or SilentProgress()
    # Induced generation asks one question per word (six) of each topic set: keep the sets whole within a batch.
    group = len(getattr(parts.source, "words", ()) or (None,))
    batch_size = -(-batch_size // group) * group
    batches = list(range(0, n, batch_size))
    done_before = store.count_answered(run_id)
    # Batches already proposed, answered and scored in full: skipped without reading their rows, so a resume
    # (or a run extended to a larger n) costs one query, not a pass over everything stored.
    finished = store.finished_batches(run_id, parts.scorer_name)
    with progress.task("questions + answers + scores", total=n) as bar:
        bar.advance(min(done_before, n))
        for batch, start in enumerate(batches):
            size = min(batch_size, n - start)
            if finished.get(batch) == size:
                continue
            rows = store.question_rows(run_id, batch)
            if not rows:
                _propose(store, run_id, parts.source, batch=batch, start=start, size=size, seed=seed)
                rows = store.question_rows(run_id, batch)
            answered = _answer(store, run_id, parts, batch=batch, seed=seed, num_samples=num_samples)
            _score(store, run_id, parts, batch=batch)
            bar.advance(answered)


def _propose(store: Store, run_id: int, source: QuestionSource, *, batch: int, start: int, size: int,
             seed: int) -> None:
    seek = getattr(source, "seek", None)
    if seek is not None:  # sources that walk a fixed list (external topics) continue where the run stopped
        seek(start)
    questions = source.propose(size, np.random.default_rng([seed, batch]))
    store.add_questions(run_id, batch, start, questions)


def _answer(store: Store, run_id: int, parts: Components, *, batch: int, seed: int, num_samples: int) -> int:
    pending = store.unanswered(run_id, batch)
    if not pending:
        return 0
    prompts = [r["prompt"] for r in pending]
    results = answer_questions(parts.generator, prompts, n_samples=num_samples, seed=batch_seed(seed, batch, 1))
    items = []
    for row, (passage, samples) in zip(pending, results):
        items.append((row["id"], Answer(prompt=row["prompt"], passage=passage, samples=list(samples),
                                        passage_sentences=parts.splitter.split(passage))))
    store.add_answers(items, parts.model_version)
    return len(items)


def _score(store: Store, run_id: int, parts: Components, *, batch: int) -> None:
    ids = store.unscored(run_id, parts.scorer_name, batch)
    if not ids:
        return
    answers = store.answers(ids)
    ordered = [answers[qid] for qid in ids]
    sentence_scores = parts.scorer.score(ordered)
    items = []
    for qid, answer, scores in zip(ids, ordered, sentence_scores):
        scores = np.asarray(scores, dtype=float)
        if len(scores) != len(answer.passage_sentences):
            raise RuntimeError(f"scorer {parts.scorer_name} returned {len(scores)} scores for "
                               f"{len(answer.passage_sentences)} sentences")
        items.append((qid, scores, nan_safe_mean(scores)))
    nan_count = sum(math.isnan(avg) for _, _, avg in items)
    if nan_count:
        log.info("%d passages had no scorable sentence (empty answer); they count as not hallucinated", nan_count)
    store.add_scores(parts.scorer_name, items)


def ensure_embeddings(store: Store, ids: list[int], texts: list[str], *, field: str, embedder: Embedder,
                      embedder_name: str) -> np.ndarray:
    """Embeddings of texts, computed once per (question, field, embedder) and kept in the store."""
    have = store.embeddings(ids, field, embedder_name)
    missing = [(qid, text) for qid, text in zip(ids, texts) if qid not in have]
    # Stored chunk by chunk: a big run killed while embedding keeps what it already embedded.
    for start in range(0, len(missing), EMBED_CHUNK):
        chunk = missing[start:start + EMBED_CHUNK]
        vectors = np.asarray(embedder.embed([t for _, t in chunk]), dtype=np.float32)
        store.add_embeddings(field, embedder_name, list(zip([q for q, _ in chunk], vectors)))
        have.update({qid: v for (qid, _), v in zip(chunk, vectors)})
    if not ids:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([have[qid] for qid in ids])


def measure_run(store: Store, run_id: int, *, scorer_name: str, threshold: float, embedder: Embedder | None,
                embedder_name: str, reuse_labels: bool = False, reduce_dims: int | None = None) -> dict:
    """Curiosity, Knowledge-Limit Awareness, Brevity and SLC of a run, stored with the cluster labels."""
    from selflearn.metrics import compute_metrics

    split = split_run(store, run_id, scorer_name, threshold)
    labels = None
    if reuse_labels:
        stored = store.metrics(run_id)
        if stored is None or len(stored["labels"]) != len(split.ids):
            raise UserError(f"run {run_id} has no stored cluster labels for its {len(split.ids)} questions")
        labels = np.asarray(stored["labels"])
    embeddings = None
    if labels is None and len(set(split.questions)) > 10 and embedder is not None:
        embeddings = ensure_embeddings(store, split.ids, split.questions, field="prompt", embedder=embedder,
                                       embedder_name=embedder_name)
    result = compute_metrics(split.questions, split.hallucinated, embeddings=embeddings, labels=labels,
                             reduce_dims=reduce_dims)
    summary = {"n": len(split.ids), "n_hallucinated": split.n_hallucinated,
               "curiosity_score": result.curiosity, "knowledge_limit_awareness_score": result.knowledge_limit_awareness,
               "brevity_coefficient": result.brevity, "self_learning_capability_score": result.slc}
    store.set_metrics(run_id, scorer_name, "reused" if reuse_labels else embedder_name, summary, result.labels)
    return summary
