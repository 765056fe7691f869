"""`selflearn learn`: whole cycles on the fake generator + a tiny random Llama for training, and resume after a kill.

The fake generator asks and answers (scripted topics, so the local index finds evidence); training, merging and
evaluation run for real through TRL/PEFT/transformers on the tiny model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.generate.fake import TOPICS
from selflearn.store import Store

from test_train import save_tiny

pytestmark = pytest.mark.integration

STAGES = ("questions", "curate", "train", "integrate", "evaluate")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("learn")
    model = save_tiny(root / "tiny")
    docs = root / "docs.jsonl"
    docs.write_text("".join(json.dumps({"title": t, "text": f"{t} is studied by researchers. The study of {t} "
                                        f"began long ago and {t} remains an open problem."}) + "\n" for t in TOPICS))
    heldout = root / "heldout.txt"
    heldout.write_text("\n".join(f"A plain sentence about {t} for perplexity." for t in TOPICS))
    config = root / "learn.toml"
    config.write_text(f"""
[generation]
backend = "fake"
model = "{model}"
[questions]
method = "open"
n = 8
batch_size = 4
[scoring]
scorer = "fake"
[search]
index = "{root / 'index.sqlite'}"
[training]
max_steps = 2
batch_size = 2
gradient_accumulation_steps = 1
lora_r = 4
lora_alpha = 8
[evaluation]
heldout = "{heldout}"
n_heldout = 10
""")
    assert CliRunner().invoke(app, ["index", "build", str(docs), "--index", str(root / "index.sqlite")]).exit_code == 0
    return {"config": str(config)}


def _learn(setup, ws, *extra):
    return CliRunner().invoke(app, ["learn", "--cycles", "2", "-c", setup["config"], "-w", str(ws), "--json", *extra])


def _check_two_cycles(ws: Path) -> None:
    store = Store(ws)
    runs = [r for r in store.runs() if r["cycle"] is not None]
    assert [r["cycle"] for r in runs] == [1, 2] and all(r["status"] == "done" for r in runs)
    assert runs[1]["parent_run_id"] == runs[0]["id"]
    versions = store.versions()
    assert [v["run_id"] for v in versions] == [r["id"] for r in runs]
    assert versions[1]["parent"] == versions[0]["name"]  # cycle 2 learned on top of cycle 1's merged model
    for run in runs:
        assert all(store.stage(run["id"], s)["status"] == "done" for s in STAGES)
        assert store.count_questions(run["id"]) == 8
        assert store.pairs(run["id"])
        measures = {(e["model_version"], e["measure"]) for e in store.evaluations(run["id"])}
        assert len(measures) == len(store.evaluations(run["id"]))  # nothing evaluated twice
        assert any(m == "hallucination_on_learned_q_h" for _, m in measures)
        assert any(m == "perplexity_word" for _, m in measures)
    assert Path(versions[-1]["path"], "config.json").is_file()


def test_two_cycles_run_every_stage(setup, tmp_path):
    result = _learn(setup, tmp_path / "ws")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["cycles"]
    assert [r["cycle"] for r in rows] == [1, 2]
    assert rows[0]["before"]["hallucination"] is not None and rows[0]["after"]["ppl_word"] > 0
    _check_two_cycles(tmp_path / "ws")


@pytest.mark.parametrize("stage", STAGES)
def test_learn_resumes_after_a_kill_in_any_stage(setup, tmp_path, monkeypatch, stage):
    import selflearn.cycle as cycle

    ws = tmp_path / "ws"
    name = {"questions": "run_questions", "curate": "curate_stage", "train": "train_stage",
            "integrate": "integrate_stage", "evaluate": "evaluate_stage"}[stage]
    real = getattr(cycle, name)
    calls = {"n": 0}

    def dies_in_cycle_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second cycle's call of this stage is killed
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cycle, name, dies_in_cycle_2)
    killed = _learn(setup, ws)
    assert killed.exit_code == 130, killed.output  # click turns the KeyboardInterrupt into an abort
    store = Store(ws)
    second = [r for r in store.runs() if r["cycle"] == 2][0]
    assert store.stage(second["id"], stage)["status"] == "running" and second["status"] == "running"
    monkeypatch.setattr(cycle, name, real)
    resumed = _learn(setup, ws, "--resume")
    assert resumed.exit_code == 0, resumed.output
    _check_two_cycles(ws)


def test_training_sweep_retrains_a_stored_cycle(setup, tmp_path, monkeypatch):
    """scripts/sweep_training.py: the untrained model and each setting's model evaluated on the cycle's Q_H.
    Also: the cycle's answer overlap asks the learned questions with the prompt the pairs were trained on."""
    import subprocess
    import sys

    import selflearn.evaluate as evaluate
    from selflearn.types import ANSWER_PROMPT

    asked = []
    overlap = evaluate.answer_overlap

    def recording_overlap(generator, questions, references, **kwargs):
        asked.extend(kwargs.get("prompt_template", "{question}").format(question=q) for q in questions)
        return overlap(generator, questions, references, **kwargs)
    monkeypatch.setattr(evaluate, "answer_overlap", recording_overlap)

    ws = tmp_path / "ws"
    assert CliRunner().invoke(app, ["learn", "--cycles", "1", "-c", setup["config"], "-w", str(ws)]).exit_code == 0
    learned = [p for p in Store(ws).pairs(1) if p.kind == "learn"]
    assert learned and len(asked) == 2 * len(learned)  # before and after
    assert all(turn == ANSWER_PROMPT.format(question=p.question) and turn in p.prompt
               for turn, p in zip(asked, learned))
    script = Path(__file__).resolve().parents[1] / "scripts" / "sweep_training.py"
    out = tmp_path / "sweep.json"
    done = subprocess.run([sys.executable, str(script), "-w", str(ws), "--run", "1", "--json", str(out),
                           "--setting", "max_steps=3 learning_rate=1e-3", "--setting", "max_steps=2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    assert [r["setting"] for r in rows] == ["untrained", "max_steps=3 learning_rate=1e-3", "max_steps=2"]
    assert [r.get("steps") for r in rows] == [None, 3, 2]
    assert all(r["ppl_word"] > 0 and r["hallucination"] is not None for r in rows)
    assert rows[1]["ppl_word"] != rows[0]["ppl_word"]  # the trained model is another model (step 1 of warm-up has lr 0)
    assert {v["name"] for v in Store(ws).versions()} >= {"sweep-1-run-1", "sweep-2-run-1"}
    assert "untrained" in done.stdout
