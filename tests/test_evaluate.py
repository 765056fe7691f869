"""After-training measures: rescoring, perplexity definitions, overlap metrics, the judge hook, held-out texts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from selflearn.errors import UserError
from selflearn.types import PASSAGE_PARAMS, SAMPLE_PARAMS


class EchoGenerator:
    """Replies with a function of the prompt and records each call's (prompts, n, params)."""

    def __init__(self, reply=lambda p, i: f"answer {i} to {p}"):
        self.reply = reply
        self.calls = []

    def generate(self, prompts, *, n=1, params):
        self.calls.append((list(prompts), n, params))
        return [[self.reply(p, i) for i in range(n)] for p in prompts]


class FixedScorer:
    """Scores every sentence of answer k with values[k]."""

    def __init__(self, values):
        self.values = values
        self.seen = []

    def score(self, answers):
        self.seen = list(answers)
        return [np.full(len(a.passage_sentences), v) for a, v in zip(answers, self.values)]


def test_hallucination_rescore_generates_fresh_answers_and_aggregates():
    from selflearn.evaluate import hallucination_rescore
    from selflearn.types import Question

    gen = EchoGenerator()
    scorer = FixedScorer([0.9, 0.2, 0.7])
    qs = ["Who is X?", Question(topics="t", prompt="What is Y?", method="oracle"), "Why Z?"]
    out = hallucination_rescore(gen, scorer, lambda text: [text], qs)
    (p1, n1, params1), (p2, n2, params2) = gen.calls
    assert p1 == p2 == ["Answer concisely with only one sentence. " + q for q in ["Who is X?", "What is Y?", "Why Z?"]]
    assert (n1, params1, n2, params2) == (1, PASSAGE_PARAMS, 10, SAMPLE_PARAMS)
    assert len(scorer.seen[1].samples) == 10 and scorer.seen[1].prompt == "What is Y?"
    assert out["n"] == 3 and out["mean_score"] == pytest.approx(0.6)
    assert out["share_hallucinated"] == pytest.approx(2 / 3)
    assert [q["score"] for q in out["per_question"]] == pytest.approx([0.9, 0.2, 0.7])
    json.dumps(out)  # storable as is


def test_hallucination_rescore_handles_empty_passages():
    from selflearn.evaluate import hallucination_rescore

    out = hallucination_rescore(EchoGenerator(lambda p, i: ""), FixedScorer([0.9]), lambda t: [], ["q"])
    assert out["mean_score"] is None and out["share_hallucinated"] == 0.0
    assert hallucination_rescore(EchoGenerator(), FixedScorer([]), lambda t: [t], [])["n"] == 0


class UniformLM:
    """A 'model' whose next-token distribution is uniform over V tokens: every NLL is log V."""

    def __new__(cls, vocab: int):
        import torch

        class _M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.dummy = torch.nn.Parameter(torch.zeros(1))

            def forward(self, input_ids, attention_mask=None):
                from types import SimpleNamespace

                return SimpleNamespace(logits=torch.zeros(*input_ids.shape, vocab))

        return _M()


def test_perplexity_definitions_on_a_uniform_model():
    from test_train import tiny_tokenizer

    from selflearn.evaluate import perplexity

    tok = tiny_tokenizer()
    vocab = len(tok)  # logits must cover every token id
    texts = ["Who wrote Hamlet?", "The quick brown fox jumps over the lazy dog."]
    out = perplexity(UniformLM(vocab), tok, texts, batch_size=1, details=True)
    n_tokens = sum(len(tok(t)["input_ids"]) - 1 for t in texts)  # BOS is prepended: every text token is predicted
    words, chars = 3 + 9, sum(len(t) for t in texts)
    assert (out["tokens"], out["words"], out["chars"]) == (n_tokens, words, chars)
    assert out["token"] == pytest.approx(vocab)
    assert out["word"] == pytest.approx(math.exp(n_tokens * math.log(vocab) / words))
    assert out["char"] == pytest.approx(math.exp(n_tokens * math.log(vocab) / chars))
    with pytest.raises(UserError):
        perplexity(UniformLM(vocab), tok, ["", "  "])


@pytest.mark.integration
def test_perplexity_matches_hf_loss_and_ignores_padding():
    import torch
    from test_train import CORPUS, tiny_model, tiny_tokenizer

    from selflearn.evaluate import perplexity

    tok = tiny_tokenizer()
    model = tiny_model(tok)
    one = perplexity(model, tok, [CORPUS[1]])
    assert set(one) == {"token", "word", "char"}  # what the evaluate stage stores, one metric each
    ids = tok(CORPUS[1], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert one["token"] == pytest.approx(math.exp(float(loss)), rel=1e-4)
    batched, single = perplexity(model, tok, CORPUS, batch_size=4), perplexity(model, tok, CORPUS, batch_size=1)
    assert batched["token"] == pytest.approx(single["token"], rel=1e-4)
    truncated = perplexity(model, tok, [CORPUS[0]], max_length=5, details=True)
    assert truncated["tokens"] == 4 and truncated["chars"] < len(CORPUS[0])


def test_overlap_scores_bounds():
    from selflearn.evaluate import overlap_scores

    same = overlap_scores(["Paris is the capital of France."], ["Paris is the capital of France."])
    assert same["rouge_lsum"] == pytest.approx(1.0) and same["bleu"] == pytest.approx(100.0)
    none = overlap_scores(["zebra quartz"], ["Paris is the capital of France."])
    assert none["rouge_lsum"] == 0.0 and none["bleu"] < 1.0


def test_answer_overlap_uses_greedy_64_tokens():
    from selflearn.evaluate import answer_overlap

    refs = {"Who wrote Hamlet?": "William Shakespeare wrote Hamlet.", "Capital of France?": "Paris."}
    gen = EchoGenerator(lambda p, i: refs[p] if p.startswith("Who") else "Lyon is a city.")
    assert set(answer_overlap(gen, list(refs), list(refs.values()))) == {"rouge_lsum", "bleu"}
    out = answer_overlap(gen, list(refs), list(refs.values()), with_answers=True)
    (_, n, params), _ = gen.calls
    assert n == 1 and params.greedy and params.max_new_tokens == 64
    assert 0.4 < out["rouge_lsum"] < 1.0 and out["answers"][0] == refs["Who wrote Hamlet?"]
    with pytest.raises(UserError):
        answer_overlap(gen, ["q"], [])


def test_judge_verdicts():
    from selflearn.evaluate import judge_answers
    from selflearn.judge import parse_verdict

    assert [parse_verdict(r) for r in ["YES.", "**Partly** right", "no", "Maybe", ""]] == [1.0, 0.5, 0.0, -99.0, -99.0]
    replies = iter(["YES", "NO", "unsure"])
    out = judge_answers(EchoGenerator(lambda p, i: next(replies)), ["a", "b", "c"], ["x", "y", "z"], ["x", "q", "r"])
    assert out["verdicts"] == [1.0, 0.0, -99.0] and out["mean"] == 0.5 and out["unparsed"] == 1


def test_heldout_texts_from_txt_and_jsonl(tmp_path):
    from selflearn.evaluate import heldout_texts_from

    txt = tmp_path / "wiki.txt"
    txt.write_text("first passage\n\n" + " ".join(["w"] * 300) + "\nthird\n")
    texts = heldout_texts_from(txt)
    assert texts[0] == "first passage" and len(texts[1].split()) == 256 and len(texts) == 3
    assert heldout_texts_from(txt, n=1) == ["first passage"]
    jl = tmp_path / "wiki.jsonl"
    jl.write_text(json.dumps({"text": "a b"}) + "\n" + json.dumps("c d") + "\n" + json.dumps({"passage": "e"}) + "\n")
    assert heldout_texts_from(jl) == ["a b", "c d", "e"]
    jl.write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(UserError, match=":2:"):
        heldout_texts_from(jl)
    with pytest.raises(UserError, match="no such"):
        heldout_texts_from(tmp_path / "missing.txt")


def test_heldout_texts_default_excludes_trained_glosses(monkeypatch):
    import selflearn.resources.wordnet as wordnet
    from selflearn.evaluate import heldout_texts_default

    glosses = [wordnet.Gloss(f"w{i}.n.01", "n", [f"w{i}"], f"definition {i}", []) for i in range(10)]
    monkeypatch.setattr(wordnet, "all_glosses", lambda reader=None: iter(glosses))
    out = heldout_texts_default(n=20, exclude={"definition 1", "w2 ### definition 2"})
    assert sorted(out) == sorted(f"definition {i}" for i in range(10) if i not in (1, 2))
    assert heldout_texts_default(n=3) == heldout_texts_default(n=3)  # reproducible draw
