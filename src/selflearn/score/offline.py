"""The offline default scorer: predicts the SelfCheckGPT-NLI sentence score without an NLI model.

No MNLI model can be installed offline, so this scorer reads cheap features of each (sentence, samples)
group (selflearn.score.features: one MiniLM pass per distinct text) and maps them to a sentence score with
small gradient-boosted trees fitted on the paper's real NLI verdicts (scripts/fit_offline_scorer.py). The
trees ship as plain JSON numbers in resources/data/offline_scorer.json and are evaluated with numpy.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from selflearn.errors import UserError
from selflearn.resources import package_data
from selflearn.score.features import FEATURE_NAMES, TokenEncoder, answer_features, texts_to_encode
from selflearn.types import Answer

log = logging.getLogger(__name__)

PARAMS_FILE = "offline_scorer.json"


@dataclass
class TreeEnsemble:
    """A sum of regression trees plus a base value, clipped to [0, 1]; nodes stored as flat arrays per tree."""

    base: float
    trees: list[dict[str, np.ndarray]]  # feature, threshold, left, right, value (leaf iff feature < 0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """One prediction per row of x; NaN for rows with any NaN feature."""
        x = np.asarray(x, dtype=float)
        out = np.full(len(x), self.base)
        for tree in self.trees:
            node = np.zeros(len(x), dtype=np.int64)
            while True:
                feat = tree["feature"][node]
                inner = feat >= 0
                if not inner.any():
                    break
                rows = np.nonzero(inner)[0]
                go_left = x[rows, feat[rows]] <= tree["threshold"][node[rows]]
                node[rows] = np.where(go_left, tree["left"][node[rows]], tree["right"][node[rows]])
            out += tree["value"][node]
        out = np.clip(out, 0.0, 1.0)
        out[np.isnan(x).any(axis=1)] = np.nan
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able numbers."""
        # Thresholds keep full precision (a rounded threshold re-routes rows that sit on it); leaf values need less.
        def plain(key: str, v: Any) -> float | int:
            return float(v) if key == "threshold" else round(float(v), 7) if key == "value" else int(v)

        trees = [{k: [plain(k, v) for v in arr] for k, arr in t.items()} for t in self.trees]
        return {"kind": "tree_ensemble", "base": float(self.base), "trees": trees}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TreeEnsemble":
        """Rebuild from to_json()'s output."""
        trees = [{k: np.asarray(v, dtype=float if k in ("threshold", "value") else np.int64) for k, v in t.items()}
                 for t in data["trees"]]
        return cls(float(data["base"]), trees)


def fit_model(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, *, max_iter: int = 150,
              learning_rate: float = 0.05, max_leaf_nodes: int = 7, min_samples_leaf: int = 40,
              l2_regularization: float = 1.0, seed: int = 0) -> TreeEnsemble:
    """Fit gradient-boosted trees (scikit-learn HistGradientBoosting, squared error) and export them."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=learning_rate,
                                          max_leaf_nodes=max_leaf_nodes, min_samples_leaf=min_samples_leaf,
                                          l2_regularization=l2_regularization, early_stopping=False,
                                          random_state=seed)
    model.fit(x, y, sample_weight=w)
    return export_hgb(model)


def export_hgb(model: Any) -> TreeEnsemble:
    """Copy a fitted scikit-learn HistGradientBoostingRegressor's trees into a TreeEnsemble."""
    trees = []
    for (predictor,) in model._predictors:  # one tree per boosting round for a scalar regression
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        trees.append({
            "feature": np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64),
            "threshold": nodes["num_threshold"].astype(float),
            "left": nodes["left"].astype(np.int64),
            "right": nodes["right"].astype(np.int64),
            "value": np.where(leaf, nodes["value"], 0.0).astype(float),
        })
    return TreeEnsemble(float(np.ravel(model._baseline_prediction)[0]), trees)


def load_params(path: str | Path | None = None) -> TreeEnsemble:
    """The fitted trees from a JSON file (the packaged one by default), checked against FEATURE_NAMES."""
    p = Path(path) if path is not None else package_data(PARAMS_FILE)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read offline scorer parameters {p}: {exc}") from None
    if data.get("feature_names") != list(FEATURE_NAMES):
        raise UserError(f"{p} was fitted on other features than this version computes; rerun scripts/fit_offline_scorer.py")
    return TreeEnsemble.from_json(data)


class OfflineScorer:
    """Predicts SelfCheckGPT-NLI sentence scores from MiniLM features (no NLI model needed)."""

    def __init__(self, encoder: TokenEncoder | None = None, *, params: str | Path | TreeEnsemble | None = None):
        self.encoder = encoder or TokenEncoder()
        self.model = params if isinstance(params, TreeEnsemble) else load_params(params)

    def score(self, answers: Sequence[Answer]) -> list[np.ndarray]:
        """Sentence scores per answer; every distinct text of the batch is encoded once."""
        texts = list(dict.fromkeys(t for a in answers for t in texts_to_encode(a.passage_sentences, a.samples)))
        enc = dict(zip(texts, self.encoder.encode(texts))) if texts else {}
        feats = [answer_features(a.passage_sentences, a.samples, enc) for a in answers]
        rows = np.concatenate(feats) if feats else np.zeros((0, len(FEATURE_NAMES)))
        pred = self.model.predict(rows) if len(rows) else np.zeros(0)
        bounds = np.cumsum([0] + [len(f) for f in feats])
        return [pred[bounds[i] : bounds[i + 1]] for i in range(len(answers))]
