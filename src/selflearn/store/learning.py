"""The store's tables after self-questioning: fetched pages, evidence, judgements, pairs, model versions, evaluations."""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from selflearn.store.schema import num, now
from selflearn.types import Evidence, Pair


class LearningTables:
    """Mixed into Store: expects self.db (sqlite3 connection) and self.tx()."""

    db: Any

    # ---- pages: the reader's cache, so each URL is fetched once ------------------------------
    def get(self, url: str):
        """PageCache.get: the stored page record of a URL, or None."""
        from selflearn.search.reader import PageRecord

        row = self.db.execute("SELECT * FROM pages WHERE url=?", (url,)).fetchone()
        if row is None:
            return None
        return PageRecord(url=row["url"], final_url=row["final_url"] or row["url"], status=row["status"] or 0,
                          content_type=row["content_type"] or "", text=row["text"] or "", error=row["error"])

    def put(self, record) -> None:
        """PageCache.put: remember a fetched (or failed) page."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO pages VALUES (?,?,?,?,?,?,?)",
                       (record.url, record.final_url, record.status, record.content_type, record.text,
                        record.error, now()))

    # ---- evidence ----------------------------------------------------------------------------
    def evidence(self, question_ids: Sequence[int]) -> dict[int, list[Evidence]]:
        """Evidence records by question id (questions without any are absent)."""
        out: dict[int, list[Evidence]] = {}
        for qid in question_ids:
            for r in self.db.execute("SELECT * FROM evidence WHERE question_id=? ORDER BY id", (qid,)):
                out.setdefault(qid, []).append(Evidence(
                    prompt=r["prompt"], answer_text=r["answer_text"], summary_text=r["summary_text"],
                    full_text=r["full_text"], source_url=r["source_url"],
                    answer_score=math.nan if r["answer_score"] is None else r["answer_score"]))
        return out

    def add_search_results(self, items: Sequence[tuple[int, Sequence[Evidence]]]) -> None:
        """Store the evidence of searched questions and mark them searched, in one transaction."""
        with self.tx() as db:
            db.executemany("INSERT INTO evidence (question_id, prompt, answer_text, summary_text, full_text,"
                           " answer_score, source_url) VALUES (?,?,?,?,?,?,?)",
                           [(qid, e.prompt, e.answer_text, e.summary_text, e.full_text, num(e.answer_score),
                             e.source_url) for qid, records in items for e in records])
            db.executemany("INSERT OR REPLACE INTO searched VALUES (?,?,?)",
                           [(qid, len(records), now()) for qid, records in items])

    def searched(self, question_ids: Sequence[int]) -> set[int]:
        """The questions whose knowledge search has finished."""
        wanted = set(question_ids)
        return {r[0] for r in self.db.execute("SELECT question_id FROM searched") if r[0] in wanted}

    # ---- judgements and pairs ------------------------------------------------------------------
    def add_judgements(self, judge: str, items: Sequence[tuple[int, str, float, str]]) -> None:
        """(question id, reference answer, similarity, judge's reply) per question."""
        with self.tx() as db:
            db.executemany("INSERT OR REPLACE INTO judgements VALUES (?,?,?,?,?)",
                           [(qid, judge, ref, num(sim), text) for qid, ref, sim, text in items])

    def judgements(self, question_ids: Sequence[int], judge: str) -> dict[int, dict[str, Any]]:
        """Stored verdicts by question id."""
        wanted = set(question_ids)
        return {r["question_id"]: {"reference": r["reference"], "similarity_text": r["similarity_text"],
                                   "similarity": math.nan if r["similarity"] is None else r["similarity"]}
                for r in self.db.execute("SELECT * FROM judgements WHERE judge=?", (judge,))
                if r["question_id"] in wanted}

    def set_pairs(self, run_id: int, items: Sequence[tuple[int | None, Pair]]) -> None:
        """Replace a run's preference pairs."""
        with self.tx() as db:
            db.execute("DELETE FROM pairs WHERE run_id=?", (run_id,))
            db.executemany("INSERT INTO pairs (run_id, question_id, prompt, chosen, rejected, kind, similarity)"
                           " VALUES (?,?,?,?,?,?,?)",
                           [(run_id, qid, p.prompt, p.chosen, p.rejected, p.kind, num(p.similarity))
                            for qid, p in items])

    def pairs(self, run_id: int) -> list[Pair]:
        """A run's preference pairs in insertion order."""
        return [Pair(prompt=r["prompt"], chosen=r["chosen"], rejected=r["rejected"], kind=r["kind"],
                     similarity=math.nan if r["similarity"] is None else r["similarity"])
                for r in self.db.execute("SELECT * FROM pairs WHERE run_id=? ORDER BY id", (run_id,))]

    # ---- model versions and evaluations ------------------------------------------------------------
    def add_version(self, name: str, *, path: str, parent: str | None, base_model: str | None, run_id: int | None,
                    metrics: dict | None = None) -> None:
        """Record a finished model version (only after its folder is completely written)."""
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO model_versions VALUES (?,?,?,?,?,?,?,?)",
                       (name, parent, path, base_model, run_id, "done", json.dumps(metrics or {}), now()))

    def version(self, name: str) -> dict[str, Any] | None:
        """A model version by name, or None."""
        row = self.db.execute("SELECT * FROM model_versions WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["metrics"] = json.loads(out.pop("metrics_json"))
        return out

    def versions(self) -> list[dict[str, Any]]:
        """All model versions, oldest first."""
        names = [r[0] for r in self.db.execute("SELECT name FROM model_versions ORDER BY created_at, rowid")]
        return [self.version(n) for n in names]

    def add_evaluation(self, run_id: int | None, model_version: str, measure: str, value: float,
                       details: dict | None = None) -> None:
        """One after-training measure of one model version."""
        with self.tx() as db:
            db.execute("INSERT INTO evaluations (run_id, model_version, measure, value, details_json, created_at)"
                       " VALUES (?,?,?,?,?,?)",
                       (run_id, model_version, measure, num(value), json.dumps(details or {}, default=str), now()))

    def evaluations(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Stored evaluations (of one run, or all)."""
        sql, args = "SELECT * FROM evaluations", ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id=?", (run_id,)
        rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        return [{**dict(r), "details": json.loads(r["details_json"])} for r in rows]
