"""Score a run's stored passages and samples again with another scorer, and measure agreement with the stored scores."""

from __future__ import annotations

import math

import numpy as np

from selflearn.errors import UserError
from selflearn.progress import Progress, SilentProgress
from selflearn.protocols import HallucinationScorer
from selflearn.score.agreement import agreement
from selflearn.store import Store
from selflearn.types import nan_safe_mean


def rescore_run(store: Store, run_id: int, scorer: HallucinationScorer, scorer_name: str, *,
                reference: str | None = None, limit: int | None = None, seed: int = 0, batch_size: int = 64,
                threshold: float = 0.5, progress: Progress | None = None) -> dict:
    """Score (a seeded sample of) a run with scorer, store the scores, and compare with the reference scorer's."""
    progress = progress or SilentProgress()
    run = store.run(run_id)
    reference = reference or run["scorer"]
    stored = store.passage_scores(run_id, reference)
    if not stored:
        raise UserError(f"run {run_id} has no scores from {reference!r} to compare with")
    ids = sorted(stored)
    if limit is not None and limit < len(ids):
        ids = sorted(np.random.default_rng(seed).choice(ids, size=limit, replace=False).tolist())
    have = store.passage_scores(run_id, scorer_name)
    todo = [qid for qid in ids if qid not in have]
    with progress.task(f"rescore with {scorer_name}", total=len(ids)) as bar:
        bar.advance(len(ids) - len(todo))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            answers = store.answers(chunk)
            ordered = [answers[qid] for qid in chunk]
            results = scorer.score(ordered)
            store.add_scores(scorer_name, [(qid, np.asarray(s, float), nan_safe_mean(s))
                                           for qid, s in zip(chunk, results)])
            bar.advance(len(chunk))
    new = store.passage_scores(run_id, scorer_name)
    old_avg = [stored[qid] for qid in ids]
    new_avg = [new[qid] for qid in ids]
    result = agreement(old_avg, new_avg, threshold=threshold)
    return {"run": run_id, "reference": reference, "scorer": scorer_name, "n": len(ids),
            "reference_q_h": int(sum(1 for v in old_avg if not math.isnan(v) and v > threshold)),
            "new_q_h": int(sum(1 for v in new_avg if not math.isnan(v) and v > threshold)), **result}
