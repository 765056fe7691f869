"""Extractors: EmbeddingExtractor on a fake embedder (and the packaged MiniLM), HFExtractor on tiny random models."""

from __future__ import annotations

import os

import numpy as np
import pytest

from selflearn.embed import HashingEmbedder
from selflearn.errors import UserError
from selflearn.search.extract import EmbeddingExtractor, HFExtractor, SourceText
from selflearn.types import Evidence

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DOC = ("Twayblades are orchids. A twayblade is a small orchid with two broad leaves near the base of the stem. "
       "The weather in the valley was mild that year. Helleborines belong to the genus Epipactis of orchids. "
       "Gaudiness means showy and tasteless display.")


class CountingEmbedder(HashingEmbedder):
    """A hashing embedder that records each embed call."""

    def __init__(self):
        super().__init__(dim=256)
        self.calls: list[int] = []

    def embed(self, texts):
        self.calls.append(len(texts))
        return super().embed(texts)


def test_embedding_extractor_picks_best_sentence_and_summary_in_order():
    emb = CountingEmbedder()
    ex = EmbeddingExtractor(emb)
    sources = [SourceText("what is a twayblade orchid with two broad leaves", DOC, "local:a"),
               SourceText("what is gaudiness display", DOC, "https://b.example"),
               SourceText("what is a twayblade orchid with two broad leaves", "", "local:empty")]
    out = ex.extract(sources)
    assert len(emb.calls) == 1  # one embed call for the batch
    assert emb.calls[0] == 2 + 5  # two unique questions + the 5 distinct sentences (both sources share DOC)
    assert all(isinstance(e, Evidence) for e in out)
    assert out[0].answer_text.startswith("A twayblade is a small orchid") and out[0].source_url == "local:a"
    assert out[1].answer_text == "Gaudiness means showy and tasteless display."
    assert 0 < out[1].answer_score <= 1.0 + 1e-6 and out[0].full_text == DOC
    summary = out[0].summary_text
    # top-3 sentences, in document order
    assert summary.count(".") == 3 and summary.index("twayblade is") < summary.index("Epipactis")
    assert out[2].answer_text == "" and out[2].answer_score == 0.0


def test_embedding_extractor_cosine_matches_numpy():
    emb = HashingEmbedder(dim=128)
    (ev,) = EmbeddingExtractor(emb, answer_sentences=2).extract([SourceText("orchid leaves stem", DOC, "u")])
    sents = [s for s in ev.summary_text.split(". ")]
    assert len(ev.answer_text.split(". ")) == 2 and sents
    vecs = emb.embed(["orchid leaves stem", "A twayblade is a small orchid with two broad leaves near the base of "
                      "the stem."])
    cos = float(vecs[0] @ vecs[1] / np.linalg.norm(vecs[0]) / np.linalg.norm(vecs[1]))
    assert ev.answer_score == pytest.approx(cos, abs=1e-5)


@pytest.mark.integration
def test_embedding_extractor_with_packaged_minilm():
    from selflearn.embed import SentenceTransformerEmbedder

    (ev,) = EmbeddingExtractor(SentenceTransformerEmbedder()).extract(
        [SourceText("What plant family does the twayblade belong to?", DOC, "u")])
    assert "orchid" in ev.answer_text.lower() and ev.answer_score > 0.3


def _tiny_models(tmp_path):
    """A tiny random BertForQuestionAnswering and BART summariser sharing the packaged MiniLM vocabulary."""
    import torch
    from transformers import (BartConfig, BartForConditionalGeneration, BertConfig, BertForQuestionAnswering,
                              BertTokenizerFast)

    from selflearn.embed import packaged_minilm_path

    torch.manual_seed(0)
    tok = BertTokenizerFast(vocab_file=str(packaged_minilm_path() / "vocab.txt"), do_lower_case=True)
    qa_dir, sum_dir = tmp_path / "qa", tmp_path / "sum"
    qa = BertForQuestionAnswering(BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=32, max_position_embeddings=512))
    qa.save_pretrained(qa_dir)
    tok.save_pretrained(qa_dir)
    bart = BartForConditionalGeneration(BartConfig(
        vocab_size=tok.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=1024,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.cls_token_id, forced_eos_token_id=tok.sep_token_id))
    bart.generation_config.max_length = 20
    bart.save_pretrained(sum_dir)
    tok.save_pretrained(sum_dir)
    return str(qa_dir), str(sum_dir)


@pytest.mark.integration
def test_hf_extractor_on_tiny_random_models(tmp_path):
    qa_dir, sum_dir = _tiny_models(tmp_path)
    ex = HFExtractor(qa_model=qa_dir, summarizer=sum_dir, batch_size=2, max_seq_len=64, doc_stride=16,
                     summary_max_tokens=12)
    long_doc = " ".join([DOC] * 6)  # several windows per document
    sources = [SourceText("what is a twayblade?", long_doc, "u1"), SourceText("what is gaudiness?", DOC, "u2"),
               SourceText("empty?", "  ", "u3")]
    out = ex.extract(sources)
    assert [e.source_url for e in out] == ["u1", "u2", "u3"]
    for ev, src in zip(out[:2], sources):
        assert ev.answer_text and ev.answer_text in src.text  # a span of the document (random model, any span)
        assert 0.0 < ev.answer_score <= 1.0 and ev.full_text == src.text
        assert isinstance(ev.summary_text, str)
        n_tokens = len(ex._sum[0](ev.summary_text, add_special_tokens=False)["input_ids"])
        assert n_tokens <= 12
    assert out[2].answer_text == "" and out[2].answer_score == 0.0
    # The span is at most max_answer_tokens long.
    short = HFExtractor(qa_model=qa_dir, summarizer=None, max_answer_tokens=2, max_seq_len=64, doc_stride=16)
    (ev,) = short.extract([SourceText("twayblade?", DOC, "u")])
    assert 1 <= len(short._qa[0](ev.answer_text, add_special_tokens=False)["input_ids"]) <= 2
    assert ev.summary_text == ""


def test_hf_extractor_missing_model_is_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ex = HFExtractor(qa_model=str(tmp_path / "nope"), summarizer=None)
    with pytest.raises(UserError, match="cannot load qa model"):
        ex.extract([SourceText("q", "some text", "u")])
