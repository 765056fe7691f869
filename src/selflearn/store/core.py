"""The run store: one SQLite database per workspace, written as work is produced, read back to resume.

WAL mode so a reader (report, `runs`) never blocks a writer; every batch is one transaction, so a killed
process loses at most the batch in flight. Schema changes are numbered migrations (PRAGMA user_version).
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from selflearn.errors import UserError
from selflearn.store.learning import LearningTables
from selflearn.store.schema import MIGRATIONS, blob, num, now, unblob
from selflearn.types import Answer, Question

DB_NAME = "selflearn.db"



class Store(LearningTables):
    """The workspace database. Methods write whole batches in one transaction."""

    def __init__(self, workspace: str | Path):
        self.workspace = Path(workspace)
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create workspace {self.workspace}: {exc}") from None
        self.path = self.workspace / DB_NAME
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise UserError(f"cannot open the store {self.path}: {exc}") from None
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise UserError(f"{self.path} was written by a newer selflearn (schema {version})")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.tx():
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction: all or nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # ---- runs ---------------------------------------------------------------------------------
    def create_run(self, *, kind: str, method: str | None, model: str | None, scorer: str | None,
                   seed: int | None, n_target: int | None, config: dict, env: dict,
                   model_version: str | None = None, parent_run_id: int | None = None,
                   cycle: int | None = None, label: str | None = None) -> int:
        """Record a new run with its resolved config and environment; returns its id."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO runs (kind, method, model, model_version, scorer, seed, n_target, status, config_json,"
                " env_json, parent_run_id, cycle, label, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (kind, method, model, model_version, scorer, seed, n_target, "running", json.dumps(config),
                 json.dumps(env), parent_run_id, cycle, label, now()))
            return int(cur.lastrowid)

    def run(self, run_id: int) -> dict[str, Any]:
        """One run's row as a dict, with config and env decoded."""
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"no run {run_id} in {self.path}")
        out = dict(row)
        out["config"] = json.loads(out.pop("config_json"))
        out["env"] = json.loads(out.pop("env_json"))
        return out

    def runs(self, kind: str | None = None) -> list[dict[str, Any]]:
        """All runs, oldest first."""
        sql, args = "SELECT id FROM runs", ()
        if kind:
            sql, args = sql + " WHERE kind=?", (kind,)
        return [self.run(r[0]) for r in self.db.execute(sql + " ORDER BY id", args)]

    def latest_unfinished_run(self) -> int | None:
        """The newest run still marked running (what a bare --resume continues)."""
        row = self.db.execute("SELECT id FROM runs WHERE status='running' AND kind='questions'"
                              " ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    def finish_run(self, run_id: int) -> None:
        """Mark a run done."""
        with self.tx() as db:
            db.execute("UPDATE runs SET status='done', finished_at=? WHERE id=?", (now(), run_id))

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set plain columns of a run (model_version, label, ...)."""
        allowed = {"model_version", "label", "status", "model", "scorer"}
        if not set(fields) <= allowed:
            raise ValueError(f"cannot update {set(fields) - allowed}")
        with self.tx() as db:
            for key, value in fields.items():
                db.execute(f"UPDATE runs SET {key}=? WHERE id=?", (value, run_id))

    # ---- questions, answers, scores -----------------------------------------------------------
    def add_questions(self, run_id: int, batch: int, start_idx: int, questions: Sequence[Question]) -> None:
        """Store one batch of proposed questions at positions start_idx, start_idx+1, ..."""
        with self.tx() as db:
            db.executemany(
                "INSERT INTO questions (run_id, idx, batch, topics, prompt, method, meta_json) VALUES (?,?,?,?,?,?,?)",
                [(run_id, start_idx + i, batch, q.topics, q.prompt, q.method, json.dumps(q.meta))
                 for i, q in enumerate(questions)])

    def question_rows(self, run_id: int, batch: int | None = None) -> list[sqlite3.Row]:
        """Question rows of a run (or one batch) in proposal order."""
        sql = "SELECT * FROM questions WHERE run_id=?"
        args: tuple = (run_id,)
        if batch is not None:
            sql, args = sql + " AND batch=?", (run_id, batch)
        return self.db.execute(sql + " ORDER BY idx", args).fetchall()

    def count_questions(self, run_id: int) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM questions WHERE run_id=?", (run_id,)).fetchone()[0])

    def count_answered(self, run_id: int) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM questions q JOIN answers a ON a.question_id=q.id"
                                   " WHERE q.run_id=?", (run_id,)).fetchone()[0])

    def unanswered(self, run_id: int, batch: int | None = None) -> list[sqlite3.Row]:
        """Questions (of the run, or of one batch: a big run never reads all of them per batch) with no answer yet."""
        sql = ("SELECT q.* FROM questions q LEFT JOIN answers a ON a.question_id=q.id"
               " WHERE q.run_id=? AND a.question_id IS NULL")
        args: tuple = (run_id,)
        if batch is not None:
            sql, args = sql + " AND q.batch=?", (run_id, batch)
        return self.db.execute(sql + " ORDER BY q.idx", args).fetchall()

    def add_answers(self, items: Sequence[tuple[int, Answer]], model_version: str | None) -> None:
        """Store passages, their sentences and samples for (question_id, answer) pairs in one transaction."""
        with self.tx() as db:
            db.executemany("INSERT INTO answers (question_id, passage, sentences_json, model_version) VALUES (?,?,?,?)",
                           [(qid, a.passage, json.dumps(a.passage_sentences), model_version) for qid, a in items])
            db.executemany("INSERT INTO samples (question_id, idx, text) VALUES (?,?,?)",
                           [(qid, i, s) for qid, a in items for i, s in enumerate(a.samples)])

    def passages(self, question_ids: Sequence[int]) -> dict[int, str]:
        """Greedy passages by question id, without the samples (what curation and reports need)."""
        out: dict[int, str] = {}
        for chunk in _chunks(list(question_ids), 500):
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT question_id, passage FROM answers WHERE question_id IN ({marks})",
                                       chunk).fetchall())
        return out

    def answers(self, question_ids: Sequence[int]) -> dict[int, Answer]:
        """Stored answers by question id."""
        out: dict[int, Answer] = {}
        for chunk in _chunks(list(question_ids), 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                    f"SELECT a.*, q.prompt FROM answers a JOIN questions q ON q.id=a.question_id"
                    f" WHERE a.question_id IN ({marks})", chunk):
                out[row["question_id"]] = Answer(prompt=row["prompt"], passage=row["passage"], samples=[],
                                                 passage_sentences=json.loads(row["sentences_json"]))
            for row in self.db.execute(f"SELECT * FROM samples WHERE question_id IN ({marks}) ORDER BY idx", chunk):
                out[row["question_id"]].samples.append(row["text"])
        return out

    def finished_batches(self, run_id: int, scorer: str) -> dict[int, int]:
        """{batch: questions} of the batches whose every question is answered and scored by this scorer."""
        rows = self.db.execute(
            "SELECT q.batch, COUNT(*) FROM questions q LEFT JOIN answers a ON a.question_id=q.id"
            " LEFT JOIN scores s ON s.question_id=q.id AND s.scorer=? WHERE q.run_id=?"
            " GROUP BY q.batch HAVING COUNT(a.question_id)=COUNT(*) AND COUNT(s.question_id)=COUNT(*)",
            (scorer, run_id))
        return dict(rows.fetchall())

    def unscored(self, run_id: int, scorer: str, batch: int | None = None) -> list[int]:
        """Ids of answered questions (of the run, or of one batch) that have no score from this scorer."""
        sql = ("SELECT q.id FROM questions q JOIN answers a ON a.question_id=q.id"
               " LEFT JOIN scores s ON s.question_id=q.id AND s.scorer=?"
               " WHERE q.run_id=? AND s.question_id IS NULL")
        args: tuple = (scorer, run_id)
        if batch is not None:
            sql, args = sql + " AND q.batch=?", (scorer, run_id, batch)
        return [r[0] for r in self.db.execute(sql + " ORDER BY q.idx", args).fetchall()]

    def add_scores(self, scorer: str, items: Sequence[tuple[int, np.ndarray, float]]) -> None:
        """Store sentence scores and passage score per question (replacing an earlier score of this scorer)."""
        with self.tx() as db:
            db.executemany("INSERT OR REPLACE INTO scores (question_id, scorer, sentence_scores, average_score)"
                           " VALUES (?,?,?,?)", [(qid, scorer, blob(s), num(avg)) for qid, s, avg in items])

    def scores(self, run_id: int, scorer: str) -> dict[int, tuple[np.ndarray, float]]:
        """(sentence scores, passage score) by question id; NaN where the passage had no scorable sentence."""
        rows = self.db.execute("SELECT s.* FROM scores s JOIN questions q ON q.id=s.question_id"
                               " WHERE q.run_id=? AND s.scorer=?", (run_id, scorer)).fetchall()
        return {r["question_id"]: (unblob(r["sentence_scores"]),
                                   math.nan if r["average_score"] is None else float(r["average_score"]))
                for r in rows}

    def passage_scores(self, run_id: int, scorer: str) -> dict[int, float]:
        """Passage scores only (no sentence arrays) by question id; NaN where nothing was scorable."""
        rows = self.db.execute("SELECT s.question_id, s.average_score FROM scores s JOIN questions q"
                               " ON q.id=s.question_id WHERE q.run_id=? AND s.scorer=?", (run_id, scorer))
        return {qid: math.nan if avg is None else float(avg) for qid, avg in rows}

    def scorers(self, run_id: int) -> list[str]:
        """Names of the scorers that scored this run."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT s.scorer FROM scores s JOIN questions q ON q.id=s.question_id WHERE q.run_id=?",
            (run_id,))]

    # ---- embeddings and metrics ---------------------------------------------------------------
    def embeddings(self, question_ids: Sequence[int], field: str, embedder: str) -> dict[int, np.ndarray]:
        """Stored embedding rows by question id."""
        out: dict[int, np.ndarray] = {}
        for chunk in _chunks(list(question_ids), 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT question_id, vector FROM embeddings WHERE field=? AND embedder=?"
                                       f" AND question_id IN ({marks})", (field, embedder, *chunk)):
                out[row[0]] = np.frombuffer(row[1], dtype="<f4").copy()
        return out

    def add_embeddings(self, field: str, embedder: str, items: Sequence[tuple[int, np.ndarray]]) -> None:
        """Store embeddings once; later metric runs reuse them."""
        with self.tx() as db:
            db.executemany("INSERT OR REPLACE INTO embeddings (question_id, field, embedder, vector) VALUES (?,?,?,?)",
                           [(qid, field, embedder, blob(v)) for qid, v in items])

    def set_metrics(self, run_id: int, scorer: str, embedder: str, metrics: dict, labels: Sequence[int]) -> None:
        """Store a run's four scores and cluster labels (labels in proposed_questions order)."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO run_metrics VALUES (?,?,?,?,?,?)",
                       (run_id, scorer, embedder, json.dumps(metrics), json.dumps([int(x) for x in labels]), now()))

    def metrics(self, run_id: int, scorer: str | None = None) -> dict[str, Any] | None:
        """The newest stored metrics of a run (optionally of one scorer), with labels."""
        sql, args = "SELECT * FROM run_metrics WHERE run_id=?", (run_id,)
        if scorer:
            sql, args = sql + " AND scorer=?", (run_id, scorer)
        row = self.db.execute(sql + " ORDER BY created_at DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return {**json.loads(row["metrics_json"]), "labels": json.loads(row["labels_json"]),
                "scorer": row["scorer"], "embedder": row["embedder"]}

    # ---- stages of a cycle ----------------------------------------------------------------------
    def stage(self, run_id: int, stage: str) -> dict[str, Any] | None:
        """A stage's status and details, or None if it never started."""
        row = self.db.execute("SELECT * FROM stages WHERE run_id=? AND stage=?", (run_id, stage)).fetchone()
        return None if row is None else {"status": row["status"], **json.loads(row["details_json"])}

    def set_stage(self, run_id: int, stage: str, status: str, **details: Any) -> None:
        """Record that a stage started or finished (with what it produced)."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO stages VALUES (?,?,?,?,?)",
                       (run_id, stage, status, json.dumps(details, default=str), now()))


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
