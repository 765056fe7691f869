import math
import sqlite3

import numpy as np
import pytest

from selflearn.store import Store
from selflearn.types import Answer, Question


def _run(store):
    return store.create_run(kind="questions", method="open", model="m", scorer="s", seed=1, n_target=4,
                            config={"a": 1}, env={})


def test_questions_answers_scores_roundtrip(tmp_path):
    store = Store(tmp_path)
    run = _run(store)
    store.add_questions(run, 0, 0, [Question("t1", "q1?", "open"), Question("t2", "q2?", "open", {"word": "WHY"})])
    assert [r["id"] for r in store.unanswered(run)] == [r["id"] for r in store.question_rows(run)]
    q1, q2 = [r["id"] for r in store.question_rows(run)]
    store.add_answers([(q1, Answer("q1?", "A. B.", ["x", "y"], ["A.", "B."])),
                       (q2, Answer("q2?", "", ["z"], []))], model_version="v0")
    assert store.unanswered(run) == []
    got = store.answers([q1, q2])
    assert got[q1].samples == ["x", "y"] and got[q1].passage_sentences == ["A.", "B."]
    assert store.unscored(run, "s") == [q1, q2]
    store.add_scores("s", [(q1, np.array([0.2, 0.9]), 0.55), (q2, np.array([]), math.nan)])
    scores = store.scores(run, "s")
    assert np.allclose(scores[q1][0], [0.2, 0.9]) and scores[q1][1] == pytest.approx(0.55)
    assert math.isnan(scores[q2][1])
    assert store.unscored(run, "s") == []


def test_duplicate_question_positions_are_refused(tmp_path):
    store = Store(tmp_path)
    run = _run(store)
    store.add_questions(run, 0, 0, [Question("t", "q", "open")])
    with pytest.raises(sqlite3.IntegrityError):
        store.add_questions(run, 0, 0, [Question("t", "q", "open")])
    assert store.count_questions(run) == 1  # the failed batch left nothing behind


def test_reopen_keeps_everything_and_schema_version(tmp_path):
    store = Store(tmp_path)
    run = _run(store)
    store.set_metrics(run, "s", "e", {"curiosity_score": 0.5}, [0, 1, -1])
    store.close()
    again = Store(tmp_path)
    assert again.metrics(run)["labels"] == [0, 1, -1]
    assert again.db.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert again.latest_unfinished_run() == run
    again.finish_run(run)
    assert again.latest_unfinished_run() is None


def test_embeddings_are_float32_blobs(tmp_path):
    store = Store(tmp_path)
    run = _run(store)
    store.add_questions(run, 0, 0, [Question("t", "q", "open")])
    qid = store.question_rows(run)[0]["id"]
    store.add_embeddings("prompt", "e", [(qid, np.arange(4, dtype=np.float32))])
    assert store.embeddings([qid], "prompt", "e")[qid].tolist() == [0, 1, 2, 3]
    assert store.embeddings([qid], "prompt", "other") == {}
