"""Everything the report shows, read from the run store into plain dicts (no HTML here).

Read-only: nothing in this module writes to the store. Where the Store class has no method for a table
(pairs, evaluations, model_versions, stages), the rows are read with plain SELECTs on store.db.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np

from selflearn.split import split_run
from selflearn.store import Store

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
METRIC_KEYS = ("curiosity_score", "knowledge_limit_awareness_score", "brevity_coefficient",
               "self_learning_capability_score")


def load_report(store: Store, run_ids: Sequence[int] | None = None, *, max_points: int | None = None) -> dict[str, Any]:
    """The report's data for these runs (all runs of the workspace when none are named)."""
    ids = list(run_ids) if run_ids else [r["id"] for r in store.runs()]
    runs = [load_run(store, run_id, max_points=max_points) for run_id in ids]
    return {
        "workspace": str(store.workspace),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": runs,
        "model_versions": model_versions(store, ids if run_ids else None),
        "evaluations": evaluations(store, ids if run_ids else None),
    }


def load_run(store: Store, run_id: int, *, max_points: int | None = None) -> dict[str, Any]:
    """One run: its row, metrics, score distribution, embedding map, Points in the Unknown, learning rows."""
    info = store.run(run_id)  # raises UserError for an unknown id
    threshold = float(info["config"].get("scoring", {}).get("threshold", DEFAULT_THRESHOLD))
    # The metrics of the run's own scorer, else the newest of any; the split must use the same scorer as the
    # metrics, or the stored cluster labels (in that split's order) would land on the wrong questions.
    metrics = (store.metrics(run_id, info["scorer"]) if info["scorer"] else None) or store.metrics(run_id)
    scorer = metrics["scorer"] if metrics else (info["scorer"] or _any_scorer(store, run_id))
    out: dict[str, Any] = {
        "id": run_id, "info": info, "scorer": scorer, "threshold": threshold,
        "metrics": None if metrics is None else {k: v for k, v in metrics.items() if k != "labels"},
        "n_questions": store.count_questions(run_id),
        "scores": [], "n_nan": 0, "questions": [], "embedding": None, "points": [], "n_points": 0,
        "stages": stages(store, run_id), "evaluations": evaluations(store, [run_id]), "pairs": pairs(store, run_id),
    }
    if scorer is None:
        return out
    split = split_run(store, run_id, scorer, threshold)
    scores = store.scores(run_id, scorer)
    passage_scores = [scores[qid][1] for qid in split.ids]
    out["scores"] = [s for s in passage_scores if not math.isnan(s)]
    out["n_nan"] = len(passage_scores) - len(out["scores"])
    labels = _labels(metrics, len(split.ids))
    rows = {r["id"]: r for r in store.question_rows(run_id)}
    out["questions"] = [
        {"qid": qid, "idx": rows[qid]["idx"], "text": text, "topics": rows[qid]["topics"], "hallucinated": h,
         "score": _finite(score), "label": None if labels is None else labels[i]}
        for i, (qid, text, h, score) in enumerate(zip(split.ids, split.questions, split.hallucinated, passage_scores))]
    out["labels_note"] = _labels_note(metrics, labels, len(split.ids))
    out["embedding"] = embedding_map(store, run_id, split.ids, preferred=(metrics or {}).get("embedder"))
    q_h = [q for q in out["questions"] if q["hallucinated"]]
    out["n_points"] = len(q_h)
    out["points"] = points(store, q_h[:max_points] if max_points else q_h, scores)
    return out


def _any_scorer(store: Store, run_id: int) -> str | None:
    names = store.scorers(run_id)
    return names[0] if names else None


def _finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _labels(metrics: dict | None, n: int) -> list[int] | None:
    """Cluster labels in split order, or None when the stored ones do not match this run's questions."""
    if not metrics or len(metrics.get("labels", [])) != n:
        return None
    return [int(x) for x in metrics["labels"]]


def _labels_note(metrics: dict | None, labels: list[int] | None, n: int) -> str:
    if labels is not None:
        return ""
    if not metrics:
        return "no metrics stored yet: points are not coloured by cluster"
    return f"the stored {len(metrics.get('labels', []))} cluster labels do not match the {n} scored questions"


def embedding_map(store: Store, run_id: int, ids: Sequence[int], *, preferred: str | None) -> dict[str, Any] | None:
    """2-D PCA coordinates of the stored question embeddings (in split order), or None if none are stored."""
    names = [r[0] for r in store.db.execute(
        "SELECT DISTINCT e.embedder FROM embeddings e JOIN questions q ON q.id=e.question_id"
        " WHERE q.run_id=? AND e.field='prompt' ORDER BY e.embedder", (run_id,))]
    if not names:
        return None
    name = preferred if preferred in names else names[0]
    vectors = store.embeddings(list(ids), "prompt", name)
    present = [i for i, qid in enumerate(ids) if qid in vectors]
    if not present:
        return None
    coords, explained = pca_2d(np.stack([vectors[ids[i]] for i in present]))
    return {"embedder": name, "index": present, "xy": coords.tolist(), "explained": explained,
            "dim": int(len(vectors[ids[present[0]]]))}


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Project rows onto their first two principal components; also the share of variance each explains."""
    x = np.asarray(x, dtype=np.float64)
    centered = x - x.mean(axis=0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2)), [0.0, 0.0]
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    comps = vt[:2]
    # SVD signs are arbitrary: fix them so the same data always gives the same picture.
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps = comps * np.where(signs == 0, 1, signs)[:, None]
    coords = centered @ comps.T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    total = float((s ** 2).sum())
    explained = [float(v / total) if total else 0.0 for v in (s ** 2)[:2]]
    return coords, explained + [0.0] * (2 - len(explained))


def points(store: Store, q_h: Sequence[dict], scores: dict[int, tuple[np.ndarray, float]]) -> list[dict[str, Any]]:
    """The Points in the Unknown with passage, sentence scores and samples."""
    answers = store.answers([q["qid"] for q in q_h])
    out = []
    for q in q_h:
        answer = answers.get(q["qid"])
        sentence_scores = [_finite(float(s)) for s in scores[q["qid"]][0]]
        sentences = list(answer.passage_sentences) if answer else []
        out.append({**q, "passage": answer.passage if answer else "", "samples": list(answer.samples) if answer else [],
                    "sentences": [{"text": t, "score": sentence_scores[i] if i < len(sentence_scores) else None}
                                  for i, t in enumerate(sentences)]})
    return out


def _rows(store: Store, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in store.db.execute(sql, tuple(args))]


def _decode(rows: list[dict[str, Any]], column: str, key: str) -> list[dict[str, Any]]:
    for row in rows:
        try:
            row[key] = json.loads(row.pop(column) or "{}")
        except json.JSONDecodeError:
            row[key] = {}
    return rows


def stages(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The run's stage rows (status and details), oldest update first."""
    rows = _rows(store, "SELECT stage, status, details_json, updated_at FROM stages WHERE run_id=? ORDER BY updated_at",
                 [run_id])
    return _decode(rows, "details_json", "details")


def _of_runs(sql: str, run_ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    """sql restricted to rows of these runs (all rows for None), with its arguments."""
    if run_ids is None:
        return sql, []
    return sql + f" WHERE run_id IN ({','.join('?' * len(run_ids))})", list(run_ids)


def evaluations(store: Store, run_ids: Sequence[int] | None) -> list[dict[str, Any]]:
    """Evaluation rows (model_version, measure, value, details) of these runs, or of all runs for None."""
    sql, args = _of_runs("SELECT id, run_id, model_version, measure, value, details_json, created_at FROM evaluations",
                         run_ids)
    return _decode(_rows(store, sql + " ORDER BY id", args), "details_json", "details")


def pairs(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The preference pairs built from a run (what the model was trained to learn)."""
    return _rows(store, "SELECT id, question_id, prompt, chosen, rejected, kind, similarity FROM pairs"
                        " WHERE run_id=? ORDER BY id", [run_id])


def model_versions(store: Store, run_ids: Sequence[int] | None) -> list[dict[str, Any]]:
    """Model versions produced by training (all, or those of these runs), with their evaluations pivoted."""
    sql, args = _of_runs("SELECT name, parent, path, base_model, run_id, status, metrics_json, created_at"
                         " FROM model_versions", run_ids)
    return _decode(_rows(store, sql + " ORDER BY created_at, name", args), "metrics_json", "metrics")


def pivot(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], float | None]]:
    """Evaluation rows as (measures, model versions, {(measure, version): newest value})."""
    measures: list[str] = []
    versions: list[str] = []
    cells: dict[tuple[str, str], float | None] = {}
    for row in rows:  # rows come oldest first, so a later row of the same cell wins
        measure, version = str(row["measure"]), str(row["model_version"] or "-")
        if measure not in measures:
            measures.append(measure)
        if version not in versions:
            versions.append(version)
        cells[(measure, version)] = row["value"]
    return measures, versions, cells
