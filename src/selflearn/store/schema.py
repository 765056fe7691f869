"""The store's schema as numbered migrations (entry i brings user_version i to i+1) and how values are encoded."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

MIGRATIONS: list[str] = [
    # 1: the self-questioning stage and everything after it.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,                 -- questions | imported
        method TEXT, model TEXT, model_version TEXT, scorer TEXT,
        seed INTEGER, n_target INTEGER,
        status TEXT NOT NULL,               -- running | done
        config_json TEXT NOT NULL DEFAULT '{}', env_json TEXT NOT NULL DEFAULT '{}',
        parent_run_id INTEGER, cycle INTEGER, label TEXT,
        created_at TEXT NOT NULL, finished_at TEXT);
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
        idx INTEGER NOT NULL, batch INTEGER NOT NULL,
        topics TEXT NOT NULL, prompt TEXT NOT NULL, method TEXT NOT NULL, meta_json TEXT NOT NULL DEFAULT '{}',
        UNIQUE(run_id, idx));
    CREATE INDEX questions_batch ON questions(run_id, batch);
    CREATE TABLE answers (
        question_id INTEGER PRIMARY KEY REFERENCES questions(id),
        passage TEXT NOT NULL, sentences_json TEXT NOT NULL, model_version TEXT);
    CREATE TABLE samples (
        question_id INTEGER NOT NULL REFERENCES questions(id), idx INTEGER NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (question_id, idx));
    CREATE TABLE scores (
        question_id INTEGER NOT NULL REFERENCES questions(id), scorer TEXT NOT NULL,
        sentence_scores BLOB NOT NULL, average_score REAL,
        PRIMARY KEY (question_id, scorer));
    CREATE TABLE embeddings (
        question_id INTEGER NOT NULL REFERENCES questions(id), field TEXT NOT NULL, embedder TEXT NOT NULL,
        vector BLOB NOT NULL, PRIMARY KEY (question_id, field, embedder));
    CREATE TABLE run_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id), scorer TEXT NOT NULL, embedder TEXT NOT NULL,
        metrics_json TEXT NOT NULL, labels_json TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (run_id, scorer, embedder));
    CREATE TABLE pages (
        url TEXT PRIMARY KEY, final_url TEXT, status INTEGER, content_type TEXT, text TEXT, error TEXT,
        fetched_at TEXT NOT NULL);
    CREATE TABLE evidence (
        id INTEGER PRIMARY KEY, question_id INTEGER NOT NULL REFERENCES questions(id),
        prompt TEXT, answer_text TEXT, summary_text TEXT, full_text TEXT, answer_score REAL, source_url TEXT);
    CREATE TABLE judgements (
        question_id INTEGER NOT NULL REFERENCES questions(id), judge TEXT NOT NULL,
        reference TEXT, similarity REAL, similarity_text TEXT, PRIMARY KEY (question_id, judge));
    CREATE TABLE pairs (
        id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), question_id INTEGER,
        prompt TEXT NOT NULL, chosen TEXT NOT NULL, rejected TEXT NOT NULL, kind TEXT NOT NULL, similarity REAL);
    CREATE TABLE stages (
        run_id INTEGER NOT NULL REFERENCES runs(id), stage TEXT NOT NULL, status TEXT NOT NULL,
        details_json TEXT NOT NULL DEFAULT '{}', updated_at TEXT NOT NULL, PRIMARY KEY (run_id, stage));
    CREATE TABLE model_versions (
        name TEXT PRIMARY KEY, parent TEXT, path TEXT NOT NULL, base_model TEXT, run_id INTEGER,
        status TEXT NOT NULL, metrics_json TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL);
    CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY, run_id INTEGER, model_version TEXT, measure TEXT NOT NULL, value REAL,
        details_json TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL);
    """,
    # 2: which questions knowledge search has finished (with or without evidence), so curation resumes.
    """
    CREATE TABLE searched (
        question_id INTEGER PRIMARY KEY REFERENCES questions(id), n_evidence INTEGER NOT NULL,
        searched_at TEXT NOT NULL);
    """,
]


def now() -> str:
    """UTC time stamp used in every table."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def blob(arr: np.ndarray) -> bytes:
    """float arrays as little-endian float32 bytes."""
    return np.asarray(arr, dtype="<f4").tobytes()


def unblob(data: bytes) -> np.ndarray:
    """The inverse of blob, as float64."""
    return np.frombuffer(data, dtype="<f4").astype(np.float64)


def num(x: float) -> float | None:
    """SQLite has no NaN: store it as NULL."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
