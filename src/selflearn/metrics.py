"""The paper's batch metrics (PAPER.md, "Metrics (exact)"): pure functions of questions, labels and counts.

The float expressions follow the paper's code exactly (statistics.fmean, `1 - d/100 + 0.5`), so its published
result files reproduce bit for bit from their stored labels.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from selflearn.protocols import Embedder

log = logging.getLogger(__name__)

# Clustering needs more than this many literally unique questions; below it each unique string is its own label.
MIN_UNIQUE_FOR_CLUSTERING = 10
IDEAL_QUESTION_LENGTH = 100  # characters


def literal_labels(questions: Sequence[str]) -> np.ndarray:
    """One label per literally unique question, numbered in first-seen order (the paper used set order)."""
    ids: dict[str, int] = {}
    return np.asarray([ids.setdefault(q, len(ids)) for q in questions], dtype=np.int64)


def needs_clustering(questions: Sequence[str]) -> bool:
    """True when more than 10 questions are literally unique, i.e. when Curiosity needs embeddings."""
    return len(set(questions)) > MIN_UNIQUE_FOR_CLUSTERING


def curiosity_labels(
    questions: Sequence[str], embeddings: np.ndarray | None, *, reduce_dims: int | None = None
) -> np.ndarray:
    """Cluster labels of the questions (-1 = outlier): HDBSCAN(leaf, single cluster allowed) or the literal rule.

    embeddings (one row per question) are needed only when needs_clustering(questions); reduce_dims projects
    them with PCA first (an option for large N, not the paper's setting).
    """
    if not needs_clustering(questions):
        return literal_labels(questions)
    if embeddings is None:
        raise ValueError("more than 10 literally unique questions: embeddings are needed to cluster them")
    x = np.asarray(embeddings, dtype=np.float64)
    if x.shape[0] != len(questions):
        raise ValueError(f"{x.shape[0]} embedding rows for {len(questions)} questions")
    if reduce_dims is not None and reduce_dims < min(x.shape):
        from sklearn.decomposition import PCA

        x = PCA(n_components=reduce_dims, random_state=0).fit_transform(x)
    from sklearn.cluster import HDBSCAN

    # copy=True only silences sklearn 1.9's FutureWarning; it does not change the labels.
    clusterer = HDBSCAN(cluster_selection_method="leaf", allow_single_cluster=True, copy=True)
    return np.asarray(clusterer.fit_predict(x), dtype=np.int64)


def count_unique(labels: Sequence[int] | np.ndarray) -> int:
    """Number of clusters plus number of outliers (label -1)."""
    arr = np.asarray(labels, dtype=np.int64)
    clusters = len(np.unique(arr[arr >= 0]))
    return clusters + int(np.sum(arr == -1))


def curiosity_score(labels: Sequence[int] | np.ndarray) -> float:
    """(clusters + outliers) / N; 0 for no questions."""
    n = len(labels)
    return count_unique(labels) / n if n else 0.0


def knowledge_limit_awareness(n_hallucinated: int, n: int) -> float:
    """|Q_H| / N; 0 for no questions."""
    return n_hallucinated / n if n else 0.0


def brevity_coefficient(question_lengths: Sequence[int]) -> float:
    """d = mean |len - 100|: 1 if d <= 50, 0 if d >= 100, else 1.5 - d/100 (computed as the paper's code does)."""
    if len(question_lengths) == 0:
        return 0.0
    d = statistics.fmean([abs(x - IDEAL_QUESTION_LENGTH) for x in question_lengths])
    if d >= 100:
        return 0
    if d <= 50:
        return 1
    return 1 - (d / IDEAL_QUESTION_LENGTH) + 0.5


def slc(brevity: float, curiosity: float, kla: float) -> float:
    """Self-Learning Capability = Brevity x mean(Curiosity, Knowledge-Limit Awareness)."""
    return brevity * statistics.fmean([curiosity, kla])


@dataclass
class Metrics:
    """The four scores of one batch of questions and what they were computed from."""

    curiosity: float
    knowledge_limit_awareness: float
    brevity: float
    slc: float
    labels: np.ndarray = field(repr=False)
    n_questions: int = 0
    n_hallucinated: int = 0
    n_unique: int = 0  # clusters + outliers
    n_literally_unique: int = 0
    clustered: bool = False  # False: the literal rule was used

    def as_seed_dict(self) -> dict:
        """The seed result file's metric keys."""
        return {
            "curiosity_score": self.curiosity,
            "knowledge_limit_awareness_score": self.knowledge_limit_awareness,
            "brevity_coefficient": self.brevity,
            "self_learning_capability_score": self.slc,
            "proposed_questions_labels": self.labels.tolist(),
        }


def compute_metrics(
    questions: Sequence[str],
    hallucinated: Sequence[bool],
    embeddings: np.ndarray | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
    *,
    embedder: Embedder | None = None,
    reduce_dims: int | None = None,
) -> Metrics:
    """All four metrics. questions in the seed's order (Q_H first, then Q_NH); hallucinated aligned with them.

    Labels are taken as given (e.g. the stored proposed_questions_labels), else computed; embeddings are
    computed with embedder only when clustering needs them and none were passed.
    """
    if len(hallucinated) != len(questions):
        raise ValueError(f"{len(hallucinated)} hallucination flags for {len(questions)} questions")
    clustered = needs_clustering(questions)
    if labels is None:
        if clustered and embeddings is None:
            if embedder is None:
                raise ValueError("clustering needs embeddings or an embedder")
            embeddings = embedder.embed(list(questions))
        labels = curiosity_labels(questions, embeddings, reduce_dims=reduce_dims)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(questions):
        raise ValueError(f"{len(labels)} labels for {len(questions)} questions")
    n = len(questions)
    n_h = int(sum(bool(h) for h in hallucinated))
    cur = curiosity_score(labels)
    kla = knowledge_limit_awareness(n_h, n)
    brev = brevity_coefficient([len(q) for q in questions])
    log.info("metrics: N=%d |Q_H|=%d curiosity=%.4f kla=%.4f brevity=%.4f", n, n_h, cur, kla, brev)
    return Metrics(
        curiosity=cur,
        knowledge_limit_awareness=kla,
        brevity=brev,
        slc=slc(brev, cur, kla),
        labels=labels,
        n_questions=n,
        n_hallucinated=n_h,
        n_unique=count_unique(labels),
        n_literally_unique=len(set(questions)),
        clustered=clustered,
    )
