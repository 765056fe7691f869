"""The HTML report: built from a small store made here, and from the paper's reference files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from selflearn.errors import UserError
from selflearn.report import load_report, render_report, write_report
from selflearn.report.data import pca_2d
from selflearn.store import Store
from selflearn.types import Answer, Question

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"
EVIL = "<script>alert('pwned')</script> What is <b>this</b>?"


def _add_run(store: Store, *, model: str, scores: list[float], labels: list[int] | None, embed: bool,
             curiosity: float, texts: list[str] | None = None) -> int:
    """A scored run of len(scores) questions; metrics only when labels are given (labels in Q_H-first order)."""
    n = len(scores)
    run = store.create_run(kind="questions", method="open", model=model, scorer="fake", seed=0, n_target=n,
                           config={"scoring": {"threshold": 0.5}, "questions": {"n": n, "method": "open"}},
                           env={"python": "3.11.2", "packages": {"torch": "2.13.0", "selflearn": "0.1.0"}})
    texts = texts or [f"Question number {i} about topic {i}?" for i in range(n)]
    store.add_questions(run, 0, 0, [Question(topics=f"topic {i}, more", prompt=t, method="open")
                                    for i, t in enumerate(texts)])
    ids = [r["id"] for r in store.question_rows(run)]
    store.add_answers([(qid, Answer(prompt=t, passage=f"First sentence {i}. Second sentence.",
                                    samples=[f"sample {i}.{j} <i>x</i>" for j in range(3)],
                                    passage_sentences=[f"First sentence {i}.", "Second sentence."]))
                       for i, (qid, t) in enumerate(zip(ids, texts))], model_version="base")
    store.add_scores("fake", [(qid, np.array([s, s]), s) for qid, s in zip(ids, scores)])
    if embed:
        rng = np.random.default_rng(0)
        store.add_embeddings("prompt", "minilm", [(qid, rng.normal(size=8)) for qid in ids])
    if labels is not None:
        n_h = sum(s > 0.5 for s in scores)
        store.set_metrics(run, "fake", "minilm" if embed else "file",
                          {"n": n, "n_hallucinated": n_h, "curiosity_score": curiosity,
                           "knowledge_limit_awareness_score": n_h / n, "brevity_coefficient": 1.0,
                           "self_learning_capability_score": (curiosity + n_h / n) / 2}, labels)
    store.finish_run(run)
    return run


def make_store(root: Path) -> Store:
    """Run 1: full (embeddings, metrics, training rows); run 2: no embeddings; run 3: scores only."""
    store = Store(root / "ws")
    texts = [EVIL, "Who wrote the needle book?", "Why is the sky blue?", "When did it rain?"]
    run1 = _add_run(store, model="tiny/model-a", scores=[0.9, 0.1, 0.8, 0.2], labels=[0, -1, 1, 0], embed=True,
                    curiosity=0.75, texts=texts)
    _add_run(store, model="tiny/model-b", scores=[0.7, 0.3, 0.4], labels=[0, 0, 1], embed=False, curiosity=0.25)
    _add_run(store, model="tiny/model-c", scores=[0.6, float("nan")], labels=None, embed=False, curiosity=0.0)
    with store.tx() as db:
        db.executemany("INSERT INTO evaluations (run_id, model_version, measure, value, details_json, created_at)"
                       " VALUES (?,?,?,?,?,?)",
                       [(run1, "base", "hallucination_q_h", 0.7321, "{}", "t0"),
                        (run1, "cycle-1", "hallucination_q_h", 0.3012, "{}", "t1"),
                        (run1, "cycle-1", "perplexity_wiki", 13.11, '{"n": 1000}', "t1")])
        db.execute("INSERT INTO pairs (run_id, question_id, prompt, chosen, rejected, kind, similarity)"
                   " VALUES (?,?,?,?,?,?,?)", (run1, None, "Why is the sky blue?", "Rayleigh <scattering>",
                                               "Because it is.", "learn", 0.0))
        db.execute("INSERT INTO model_versions VALUES (?,?,?,?,?,?,?,?)",
                   ("cycle-1", "base", "/tmp/cycle-1", "tiny/model-a", run1, "done", "{}", "t1"))
    return store


@pytest.fixture
def html(tmp_path: Path) -> str:
    return render_report(load_report(make_store(tmp_path)))


def _table(html: str, cls: str) -> str:
    match = re.search(rf'<table class="{cls}">.*?</table>', html, re.S)
    assert match, f"no table {cls}"
    return match.group(0)


def test_tables_present_and_sortable(html: str) -> None:
    comparison = _table(html, "sortable comparison")
    for header in ("Curiosity", "Knowledge-Limit Awareness", "Brevity", "SLC", "|Q_H|", "N"):
        assert f">{header}</th>" in comparison
    assert comparison.count("<tr ") == 3  # one row per run
    assert 'data-v="0.75"' in comparison and 'data-v="0.25"' in comparison
    assert '<table class="sortable runs">' in html
    assert '<table class="grid">' in html  # the paper's model x method layout
    assert html.count("<script>") == 2  # the error hook and the report's own script, nothing else


def test_untrusted_text_is_escaped(html: str) -> None:
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html
    assert "<b>this</b>" not in html and "<i>x</i>" not in html
    assert "Rayleigh &lt;scattering&gt;" in html


def test_histogram_counts_every_scored_passage(html: str) -> None:
    assert html.count('<svg class="plot hist"') == 3
    assert html.count('class="threshold"') == 3
    counts = [int(x) for x in re.findall(r"(\d+) passages</title>", html)]
    assert sum(counts) == 4 + 3 + 1  # run 3 has one NaN passage, which is not plotted
    assert "1 without a scorable sentence" in html


def test_embedding_map_marks_q_h_and_links_questions(html: str) -> None:
    svg = re.search(r'<svg class="plot map".*?</svg>', html, re.S).group(0)
    assert html.count('<svg class="plot map"') == 1  # only run 1 has embeddings
    assert svg.count('class="pt qh"') == 2 and svg.count('class="pt"') == 2
    assert svg.count("<title>") == 5  # the plot's title and one per question
    assert "&lt;script&gt;alert" in svg
    assert html.count("has no stored question embeddings") == 2
    rows = re.findall(r'<tr data-q="(\d+)"', _table(html, "sortable questions"))
    assert rows == ["0", "1", "2", "3"]


def test_points_in_the_unknown_and_learning(html: str) -> None:
    points = re.search(r'<div class="points" id="points-1">.*?</article></div>', html, re.S).group(0)
    assert points.count('<article class="point">') == 2  # Q_H of run 1: scores 0.9 and 0.8
    assert "Why is the sky blue?" in points and "Who wrote" not in points
    assert "3 samples" in points and "sample 2.1" in points
    assert 'placeholder="search questions, topics, passages, samples"' in html
    assert "0.7321" in html and "0.3012" in html and "13.1100" in html
    assert "Pairs learned" in html and "cycle-1" in html
    assert html.count("No training yet") == 2  # runs 2 and 3
    assert "torch" in html and "2.13.0" in html


def test_report_of_one_run_and_unknown_run(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = load_report(store, [2])
    assert [r["id"] for r in data["runs"]] == [2]
    assert data["runs"][0]["points"][0]["text"] == "Question number 0 about topic 0?"
    with pytest.raises(UserError, match="no run 99"):
        load_report(store, [99])
    out = write_report(store, tmp_path / "sub" / "r.html", [1], max_points=1)
    text = Path(out["path"]).read_text()
    assert "showing the first 1 of 2" in text and text.count('<article class="point">') == 1


def test_empty_workspace_and_unscored_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "empty")
    assert "The workspace has no runs yet." in render_report(load_report(store))
    store.create_run(kind="questions", method="induced", model="m", scorer="fake", seed=1, n_target=5, config={},
                     env={})
    html = render_report(load_report(store))
    assert "No scores stored for this run." in html and "No scored questions yet." in html
    assert "No metrics stored for this run yet" in html and "No training yet" in html


def test_pca_2d_finds_the_main_direction() -> None:
    rng = np.random.default_rng(1)
    t = rng.normal(size=200)
    x = np.outer(t, [3.0, 4.0, 0.0]) + rng.normal(scale=0.01, size=(200, 3))
    coords, explained = pca_2d(x)
    assert coords.shape == (200, 2)
    assert explained[0] > 0.99
    assert abs(abs(np.corrcoef(coords[:, 0], t)[0, 1]) - 1) < 1e-3
    np.testing.assert_allclose(pca_2d(x)[0], coords)  # deterministic signs


def test_cli_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import selflearn.cli.report  # noqa: F401  (registers the command)
    from selflearn.cli import app

    make_store(tmp_path).close()
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "1", "2", "-w", str(tmp_path / "ws"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 run(s)" in result.output and out.stat().st_size > 1000
    bad = CliRunner().invoke(app, ["report", "42", "-w", str(tmp_path / "ws"), "-o", str(out)])
    assert isinstance(bad.exception, UserError)


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason="shared/fixtures/reference is not beside this checkout")
def test_reference_files_show_their_stored_metrics(tmp_path: Path) -> None:
    from selflearn.seedformat import import_result_file, load_result_file

    store = Store(tmp_path / "ws")
    files = sorted(REFERENCE_DIR.glob("*.pickle"))
    expected = {}
    for path in files:
        import_result_file(store, path)
        data = load_result_file(path)
        expected[data["pretrained_model_name"]] = data
    html = render_report(load_report(store))
    comparison = _table(html, "sortable comparison")
    rows = re.findall(r"<tr >(.*?)</tr>", comparison, re.S)
    assert len(rows) == len(files) == 3
    keys = ("curiosity_score", "knowledge_limit_awareness_score", "brevity_coefficient",
            "self_learning_capability_score")
    for row in rows:
        values = re.findall(r'data-v="([^"]*)"', row)
        data = expected[values[0]]
        assert [float(v) for v in values[2:6]] == pytest.approx([float(data[k]) for k in keys], abs=1e-12)
        assert int(values[6]) == len(data["prompts_with_hallucination"])
        assert int(values[7]) == len(data["prompts_with_hallucination"]) + len(data["prompts_with_no_hallucination"])
        assert values[9] == "stored"
    assert html.count('<article class="point">') == sum(len(d["prompts_with_hallucination"]) for d in expected.values())
