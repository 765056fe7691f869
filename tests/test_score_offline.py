"""The offline scorer: tree export, shapes, and agreement with the paper's real NLI verdicts."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from selflearn.errors import UserError
from selflearn.resources import package_data
from selflearn.score.agreement import agreement
from selflearn.score.features import FEATURE_NAMES
from selflearn.score.offline import OfflineScorer, TreeEnsemble, export_hgb, load_params
from selflearn.types import Answer, nan_safe_mean

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"


def test_exported_trees_predict_like_scikit_learn():
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = np.clip(0.5 + 0.2 * x[:, 0] - 0.1 * x[:, 1] * x[:, 2], 0, 1)
    model = HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=7, random_state=0).fit(x, y)
    ensemble = TreeEnsemble.from_json(json.loads(json.dumps(export_hgb(model).to_json())))
    np.testing.assert_allclose(ensemble.predict(x), np.clip(model.predict(x), 0, 1), atol=1e-5)
    x[0, 3] = np.nan
    assert math.isnan(ensemble.predict(x)[0])


def test_packaged_parameters_are_plain_and_match_features():
    path = package_data("offline_scorer.json")
    assert path.stat().st_size < 2_000_000
    data = json.loads(path.read_text())
    assert data["feature_names"] == list(FEATURE_NAMES)
    assert len(load_params().trees) > 0


def test_stale_parameters_are_a_user_error(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"feature_names": ["x"], "base": 0.5, "trees": []}))
    with pytest.raises(UserError):
        load_params(bad)
    with pytest.raises(UserError):
        load_params(tmp_path / "missing.json")


def _held_out_answers(n_per_class: int):
    """A stratified handful of answers from the reference file the check model was not fitted on."""
    from selflearn.seedformat import load_result_file

    data = json.loads(package_data("offline_scorer.json").read_text())
    check = data["check_model"]
    path = REFERENCE / f"{check['held_out']}.pickle"
    if not path.is_file():
        pytest.skip(f"reference file {path} not present")
    result = load_result_file(path)
    records = result["prompts_with_hallucination"][:n_per_class] + result["prompts_with_no_hallucination"][:n_per_class]
    answers = [Answer(r["prompt"], r["passage"], list(r["samples"]), list(r["passage_sentences"])) for r in records]
    stored = [nan_safe_mean(np.asarray(r["sentence_scores"], dtype=float)) for r in records]
    return answers, stored, TreeEnsemble.from_json(check), check


@pytest.fixture(scope="module")
def encoder():
    from selflearn.score.features import TokenEncoder

    return TokenEncoder()


@pytest.mark.integration
def test_offline_scorer_agrees_with_nli_on_a_held_out_model(encoder):
    answers, stored, model, check = _held_out_answers(15)
    scores = OfflineScorer(encoder, params=model).score(answers)
    assert [len(s) for s in scores] == [len(a.passage_sentences) for a in answers]
    finite = np.concatenate(scores)
    finite = finite[~np.isnan(finite)]
    assert ((finite >= 0) & (finite <= 1)).all()
    res = agreement(stored, [nan_safe_mean(s) for s in scores])
    # The floor is the held-out AUROC the fit measured on this whole file, minus a margin for 30 answers.
    assert res["auroc"] > check["auroc"] - 0.12, res
    assert res["spearman"] > 0.3, res


@pytest.mark.integration
def test_offline_scorer_edge_cases(encoder):
    answers = [
        Answer("q1", "", ["Paris is the capital of France."], []),
        Answer("q2", "Paris is in France.", ["", "  "], ["Paris is in France."]),
        Answer("q3", "Paris is in France.", ["Paris is the capital of France.", ""], ["Paris is in France."]),
    ]
    scorer = OfflineScorer(encoder)
    scores = scorer.score(answers)
    assert scores[0].shape == (0,)
    assert scores[1].shape == (1,) and math.isnan(scores[1][0])
    assert scores[2].shape == (1,) and 0.0 <= scores[2][0] <= 1.0
    assert scorer.score([]) == []
