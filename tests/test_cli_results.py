"""`selflearn metrics / rescore / import / runs / show` on the paper's published result files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.seedformat import load_result_file

from conftest import REFERENCE_PICKLES

KEYS = ("curiosity_score", "knowledge_limit_awareness_score", "brevity_coefficient", "self_learning_capability_score")


@pytest.mark.parametrize("path", REFERENCE_PICKLES, ids=lambda p: p.stem)
def test_metrics_reuse_labels_reproduces_the_papers_scores_exactly(path, tmp_path):
    result = CliRunner().invoke(app, ["metrics", str(path), "--reuse-labels", "--json", "-w", str(tmp_path)])
    assert result.exit_code == 0, result.output
    computed = json.loads(result.stdout)
    stored = load_result_file(path)
    for key in KEYS:
        assert computed[key] == pytest.approx(float(stored[key]), abs=1e-12), key
    assert computed["n_hallucinated"] == len(stored["prompts_with_hallucination"])
    assert computed["n"] == len(stored["proposed_questions"])


def test_import_runs_show(reference_dir, tmp_path):
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    path = sorted(reference_dir.glob("*Phi-3*"))[0]
    assert runner.invoke(app, ["import", str(path), "-w", ws]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["runs", "-w", ws, "--json"]).output)
    assert listed[0]["model"] == "microsoft/Phi-3-small-8k-instruct" and listed[0]["method"] == "external"
    assert listed[0]["curiosity_score"] == pytest.approx(0.7621527777777778)
    shown = json.loads(runner.invoke(app, ["show", "1", "-w", ws, "--json"]).output)
    assert len(shown["points_in_the_unknown"]) == 217


def test_rescore_prints_agreement_with_the_stored_nli_scores(reference_dir, tmp_path):
    path = sorted(reference_dir.glob("*Phi-3*"))[0]
    result = CliRunner().invoke(app, ["rescore", str(path), "--scorer", "offline", "--limit", "40", "--json",
                                      "-w", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 40 and out["reference"] == "stored" and out["scorer"] == "offline"
    assert out["auroc"] > 0.5 and out["spearman"] > 0.0
