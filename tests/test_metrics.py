"""The paper's metrics: exact on its published files, and the edge cases of the formulas."""

from __future__ import annotations

import numpy as np
import pytest

from selflearn.embed import HashingEmbedder
from selflearn.metrics import (
    brevity_coefficient,
    compute_metrics,
    curiosity_labels,
    curiosity_score,
    knowledge_limit_awareness,
    literal_labels,
    slc,
)
from selflearn.seedformat import load_result_file

REFERENCE_FILES = [
    "res_TinyLlama_TinyLlama-1_1B-Chat-v1_0_ExtPrompt.pickle",
    "res_microsoft_Phi-3-small-8k-instruct_ExtPrompt.pickle",
    "res_mistralai_Mistral-7B-v0_1_ExtPrompt.pickle",
]


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_reference_files_reproduce_exactly(reference_dir, name):
    data = load_result_file(reference_dir / name)
    q_h = [p["prompt"] for p in data["prompts_with_hallucination"]]
    q_nh = [p["prompt"] for p in data["prompts_with_no_hallucination"]]
    assert q_h + q_nh == data["proposed_questions"]
    m = compute_metrics(q_h + q_nh, [True] * len(q_h) + [False] * len(q_nh), labels=data["proposed_questions_labels"])
    # Exact equality, not approx: the formulas follow the paper's float expressions.
    assert m.curiosity == data["curiosity_score"]
    assert m.knowledge_limit_awareness == data["knowledge_limit_awareness_score"]
    assert m.brevity == data["brevity_coefficient"]
    assert m.slc == data["self_learning_capability_score"]
    assert m.n_questions == 576 and m.n_hallucinated == len(q_h) and m.clustered


def test_reference_values_are_not_trivial(reference_dir):
    data = load_result_file(reference_dir / REFERENCE_FILES[1])  # Phi-3-small: brevity 1, SLC > 0
    assert data["self_learning_capability_score"] == pytest.approx(0.5694444444444444)
    labels = np.asarray(data["proposed_questions_labels"])
    assert curiosity_score(labels) == (labels.max() + 1 + (labels == -1).sum()) / 576


def test_empty_batch():
    m = compute_metrics([], [])
    assert (m.curiosity, m.knowledge_limit_awareness, m.brevity, m.slc) == (0.0, 0.0, 0.0, 0.0)
    assert m.labels.shape == (0,)


def test_all_identical_questions_use_literal_rule_without_embeddings():
    questions = ["What is X?"] * 20
    m = compute_metrics(questions, [True] * 5 + [False] * 15)  # no embeddings, no embedder: none needed
    assert m.curiosity == 1 / 20 and not m.clustered
    assert m.knowledge_limit_awareness == 0.25
    assert m.labels.tolist() == [0] * 20


def test_ten_unique_is_literal_eleven_clusters():
    ten = [f"question number {i}?" for i in range(10)] * 2
    labels = curiosity_labels(ten, None)
    assert labels.tolist() == list(range(10)) * 2  # first-seen numbering, each unique string its own label
    assert curiosity_score(labels) == 0.5
    eleven = [f"question number {i}?" for i in range(11)]
    with pytest.raises(ValueError, match="embeddings"):
        curiosity_labels(eleven, None)


def test_clustering_path_with_embedder():
    rng = np.random.default_rng(0)
    # Three tight groups of questions plus scattered ones: HDBSCAN finds clusters and outliers.
    questions = [f"about topic {g} variant {i}" for g in range(3) for i in range(15)]
    centres = rng.normal(size=(3, 8)) * 10
    emb = np.vstack([centres[g] + rng.normal(scale=0.05, size=(15, 8)) for g in range(3)])
    labels = curiosity_labels(questions, emb)
    assert len(set(labels[labels >= 0])) >= 3
    m = compute_metrics(questions, [False] * 45, embedder=HashingEmbedder(16))
    assert m.clustered and 0 < m.curiosity <= 1 and len(m.labels) == 45
    reduced = curiosity_labels(questions, emb, reduce_dims=4)
    assert len(set(reduced[reduced >= 0])) >= 3


def test_brevity_thresholds():
    assert brevity_coefficient([100] * 3) == 1
    assert brevity_coefficient([150, 50]) == 1  # d = 50
    assert brevity_coefficient([200]) == 0  # d = 100
    assert brevity_coefficient([175]) == pytest.approx(0.75)  # d = 75 -> 1.5 - 0.75
    assert brevity_coefficient([30, 170]) == pytest.approx(0.8)  # d = 70


def test_kla_slc_and_literal_labels():
    assert knowledge_limit_awareness(3, 12) == 0.25 and knowledge_limit_awareness(0, 0) == 0.0
    assert slc(0.5, 0.8, 0.4) == pytest.approx(0.3)
    assert literal_labels(["b", "a", "b"]).tolist() == [0, 1, 0]


def test_mismatched_lengths_rejected():
    with pytest.raises(ValueError):
        compute_metrics(["a?", "b?"], [True])
    with pytest.raises(ValueError):
        compute_metrics(["a?", "b?"], [True, False], labels=[0])
