"""End-to-end CLI runs on the package's fakes: what the store holds after `selflearn questions`, kills and resumes."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.seedformat import load_result_file
from selflearn.store import Store

FAKE = ["--backend", "fake", "--scorer", "fake"]
SEED_KEYS = {"pretrained_model_name", "curiosity_score", "knowledge_limit_awareness_score",
             "self_learning_capability_score", "proposed_questions", "proposed_questions_labels",
             "prompts_with_hallucination", "prompts_with_no_hallucination"}
ENTRY_KEYS = {"topics", "topics_embedding", "prompt", "prompt_embedding", "passage", "passage_sentences", "samples",
              "sentence_scores", "average_score"}


def selflearn(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from selflearn.cli import main; main()", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)


def test_questions_all_methods_store_everything(tmp_path):
    ws = str(tmp_path / "ws")
    result = CliRunner().invoke(app, ["questions", "--method", "open,induced,external,baseline", "-n", "12",
                                      "--batch-size", "5", *FAKE, "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    store = Store(ws)
    runs = store.runs()
    assert [r["method"] for r in runs] == ["open", "induced", "external", "baseline"]
    for run in runs:
        assert run["status"] == "done" and run["config"]["questions"]["n"] == 12
        assert store.count_questions(run["id"]) == 12
        assert store.unanswered(run["id"]) == []
        assert store.unscored(run["id"], "fake") == []
        answers = store.answers([r["id"] for r in store.question_rows(run["id"])])
        assert all(len(a.samples) == 10 for a in answers.values())
        metrics = store.metrics(run["id"])
        assert 0 <= metrics["curiosity_score"] <= 1 and len(metrics["labels"]) == 12
    induced = store.question_rows(runs[1]["id"])
    assert {__import__("json").loads(r["meta_json"])["word"] for r in induced} == {
        "WHAT", "WHO", "WHY", "WHERE", "WHEN", "HOW"}
    assert all(r["topics"] == "AI, blockchain, cryptocurrency" for r in store.question_rows(runs[3]["id"]))


def test_export_pickle_has_every_seed_key(tmp_path):
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    assert runner.invoke(app, ["questions", "-m", "open", "-n", "6", *FAKE, "-w", ws]).exit_code == 0
    out = tmp_path / "run.pickle"
    result = runner.invoke(app, ["export", "1", "-o", str(out), "-w", ws])
    assert result.exit_code == 0, result.output
    data = load_result_file(out)
    assert SEED_KEYS <= set(data)
    entries = data["prompts_with_hallucination"] + data["prompts_with_no_hallucination"]
    assert len(entries) == len(data["proposed_questions"]) == len(data["proposed_questions_labels"]) == 6
    assert all(ENTRY_KEYS <= set(e) for e in entries)
    assert entries[0]["prompt_embedding"].shape == (384,)
    assert all(e["average_score"] > 0.5 for e in data["prompts_with_hallucination"])


@pytest.mark.parametrize("args, message", [
    (["questions", "--method", "telepathy", *FAKE], "unknown method 'telepathy'"),
    (["questions", "--model", "/no/such/model", "-n", "2"], "model not found"),
    (["questions", "-m", "external", "--topics", "{bad}.json", *FAKE], "topics"),
    (["questions", "--temperature", "hot", *FAKE], "--temperature"),
    (["questions", "--resume", *FAKE], "nothing to resume"),
    (["metrics", "/no/such/file.pickle"], "neither a run id nor an existing result file"),
    (["show", "99"], "no run 99"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "{bad}.json").write_text("{not json")
    result = selflearn(*args, "-w", str(tmp_path / "ws"), env={"PWD": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_killed_run_resumes_with_nothing_lost_and_no_duplicates(tmp_path):
    ws = tmp_path / "ws"
    args = ["questions", "-m", "open", "-n", "30", "--batch-size", "5", *FAKE, "--seed", "7"]
    proc = subprocess.Popen([sys.executable, "-c", "from selflearn.cli import main; main()", *args, "-w", str(ws)],
                            env={**os.environ, "SELFLEARN_FAKE_DELAY": "0.05"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = ws / "selflearn.db"
    deadline = time.time() + 120
    scored = 0
    while time.time() < deadline and scored < 10:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    scored = con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 10 <= scored < 30, "the run should be killed mid-way"
    before = {r["idx"]: (r["prompt"]) for r in Store(ws).question_rows(1)}

    resumed = selflearn("questions", "--resume", "-w", str(ws))
    assert resumed.returncode == 0, resumed.stderr
    store = Store(ws)
    rows = store.question_rows(1)
    assert [r["idx"] for r in rows] == list(range(30))  # no duplicates, nothing missing
    assert all(rows[i]["prompt"] == q for i, q in before.items())  # nothing stored was lost or rewritten
    assert store.unanswered(1) == [] and store.unscored(1, "fake") == []
    assert store.run(1)["status"] == "done" and len(store.runs()) == 1

    # The resumed run is the run an uninterrupted one with the same seed produces.
    clean = tmp_path / "clean"
    assert selflearn(*args, "-w", str(clean)).returncode == 0
    clean_store = Store(clean)
    clean_rows = clean_store.question_rows(1)
    assert [r["prompt"] for r in clean_rows] == [r["prompt"] for r in rows]
    ids, clean_ids = [r["id"] for r in rows], [r["id"] for r in clean_rows]
    assert [a.passage for a in store.answers(ids).values()] == [a.passage for a in clean_store.answers(clean_ids).values()]
    assert store.metrics(1)["curiosity_score"] == clean_store.metrics(1)["curiosity_score"]


@pytest.mark.e2e
def test_default_model_with_the_offline_scorer(tmp_path):
    """The embedded default model and the default scorer, two questions, through the CLI."""
    ws = str(tmp_path / "ws")
    result = CliRunner().invoke(app, ["questions", "-m", "external", "-n", "2", "--batch-size", "2", "-w", ws,
                                      "--json"])
    assert result.exit_code == 0, result.output
    store = Store(ws)
    run = store.runs()[0]
    assert run["model_version"] == "smollm2-135m-instruct" and run["scorer"] == "offline"
    ids = [r["id"] for r in store.question_rows(run["id"])]
    answers = store.answers(ids)
    assert all(a.passage.strip() and len(a.samples) == 10 for a in answers.values())
    scores = store.scores(run["id"], "offline")
    assert all(0.0 <= s[1] <= 1.0 for s in scores.values() if s[0].size)


def test_self_questioning_reads_one_batch_at_a_time(tmp_path, monkeypatch):
    """A 100k-question run must not pull the whole run out of the store for every batch: each read while
    asking, answering and scoring returns at most one batch of rows."""
    import selflearn.loop as loop

    sizes: list[tuple[str, int]] = []
    for name in ("question_rows", "unanswered", "unscored", "answers", "scores", "passage_scores"):
        original = getattr(Store, name)

        def recording(self, *args, _original=original, _name=name, **kwargs):
            rows = _original(self, *args, **kwargs)
            if recording_on:
                sizes.append((_name, len(rows)))
            return rows
        monkeypatch.setattr(Store, name, recording)

    recording_on = False
    inner = loop.run_self_questioning

    def recorded_stage(*args, **kwargs):
        nonlocal recording_on
        recording_on = True
        try:
            return inner(*args, **kwargs)
        finally:
            recording_on = False
    monkeypatch.setattr(loop, "run_self_questioning", recorded_stage)

    result = CliRunner().invoke(app, ["questions", "-m", "open", "-n", "40", "--batch-size", "5", *FAKE,
                                      "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert len(sizes) >= 8 * 3, sizes  # every batch read its rows
    assert max(size for _, size in sizes) <= 5, sizes
    assert Store(tmp_path / "ws").count_answered(1) == 40
