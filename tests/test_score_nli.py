"""NLIScorer plumbing on a tiny random DeBERTa-v2 built inside the test (no download)."""

import math

import numpy as np
import pytest

from selflearn.errors import UserError
from selflearn.score.nli import NLIScorer, contradiction_columns
from selflearn.types import Answer

pytestmark = pytest.mark.integration


def _tiny_nli(path, id2label):
    import torch
    from transformers import BertTokenizerFast, DebertaV2Config, DebertaV2ForSequenceClassification

    from selflearn.embed import packaged_minilm_path

    torch.manual_seed(0)
    tokenizer = BertTokenizerFast(vocab_file=str(packaged_minilm_path() / "vocab.txt"))
    config = DebertaV2Config(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                             num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
                             type_vocab_size=0, relative_attention=True, pos_att_type=["p2c", "c2p"],
                             id2label=id2label, label2id={v: k for k, v in id2label.items()})
    model = DebertaV2ForSequenceClassification(config).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def _answers():
    return [
        Answer("q1", "", ["The Eiffel Tower is in Paris, France.", "", "It was built in 1889 for a world fair."],
               ["The tower is in Paris.", "It was finished in 1889 and is very tall indeed."]),
        Answer("q2", "", ["x"], []),
        Answer("q3", "", ["Water boils at 100 degrees Celsius at sea level. " * 30],
               ["Water boils at fifty degrees."]),
        Answer("q4", "", ["", " "], ["Nothing to compare."]),
    ]


def _direct(model, tokenizer, sentence, sample, columns):
    import torch

    batch = tokenizer([sentence], [sample], truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits[0]
    return torch.softmax(logits[list(columns)], dim=-1)[1].item()


@pytest.mark.parametrize("id2label,columns", [
    ({0: "entailment", 1: "contradiction"}, (0, 1)),
    ({0: "CONTRADICTION", 1: "ENTAILMENT"}, (1, 0)),
    ({0: "contradiction", 1: "neutral", 2: "entailment"}, (2, 0)),
])
def test_nli_scores_match_direct_model_calls(tmp_path, monkeypatch, id2label, columns):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer = _tiny_nli(tmp_path / "nli", id2label)
    answers = _answers()
    batched = NLIScorer(tmp_path / "nli", device="cpu", batch_size=64, max_length=64).score(answers)
    single = NLIScorer(str(tmp_path / "nli"), device="cpu", batch_size=1, max_length=64).score(answers)
    assert [a.shape for a in batched] == [(2,), (0,), (1,), (1,)]
    assert math.isnan(batched[3][0])
    for b, s in zip(batched, single):
        np.testing.assert_allclose(b, s, atol=1e-5)
    finite = np.concatenate([b[~np.isnan(b)] for b in batched])
    assert ((finite >= 0) & (finite <= 1)).all()
    # Sentence 0 of answer 0: mean over the two non-empty samples of the contradiction column's probability.
    samples = [s for s in answers[0].samples if s.strip()]
    expected = np.mean([_direct(model, tokenizer, answers[0].passage_sentences[0], x, columns) for x in samples])
    assert batched[0][0] == pytest.approx(expected, abs=1e-5)
    # The other column would give a different answer, so the mapping is really checked.
    other = np.mean([_direct(model, tokenizer, answers[0].passage_sentences[0], x, columns[::-1]) for x in samples])
    assert abs(other - expected) > 1e-4


def test_contradiction_columns_by_name_and_errors():
    assert contradiction_columns({0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}) == (0, 2)
    assert contradiction_columns({0: "LABEL_0", 1: "LABEL_1"}) == (0, 1)
    with pytest.raises(UserError):
        contradiction_columns({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})


def test_missing_models_raise_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    answers = [Answer("q", "", ["s"], ["a."])]
    with pytest.raises(UserError):
        NLIScorer(str(tmp_path / "no-such-folder")).score(answers)
    with pytest.raises(UserError):
        NLIScorer("nobody-here/not-a-cached-model-xyz").score(answers)
