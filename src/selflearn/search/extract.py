"""Answer extraction: a question and a document in, the paper's Evidence record out, batched over documents.

EmbeddingExtractor (offline default): the document's sentences most similar to the question (sentence embedder).
HFExtractor (the paper's): an extractive QA model picks a span and a seq2seq model summarises the document.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from selflearn.errors import UserError
from selflearn.protocols import Embedder
from selflearn.types import Evidence

log = logging.getLogger(__name__)


@dataclass
class SourceText:
    """One document found for one question."""

    question: str
    text: str
    url: str


class Extractor(Protocol):
    """Sources in, one Evidence per source out (same order); an empty answer_text means nothing was found."""

    def extract(self, sources: Sequence[SourceText]) -> list[Evidence]: ...


def _empty(source: SourceText, full_text: str = "") -> Evidence:
    return Evidence(prompt=source.question, answer_text="", summary_text="", full_text=full_text,
                    answer_score=0.0, source_url=source.url)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class EmbeddingExtractor:
    """Answer = the sentence(s) closest to the question by cosine; summary = the top sentences in document order."""

    def __init__(self, embedder: Embedder, *, answer_sentences: int = 1, summary_sentences: int = 3,
                 max_chars: int = 20_000, min_sentence_chars: int = 20, splitter=None):
        self.embedder = embedder
        self.answer_sentences = answer_sentences
        self.summary_sentences = summary_sentences
        self.max_chars = max_chars  # only the beginning of a long page is split: pysbd is slow on huge texts
        self.min_sentence_chars = min_sentence_chars  # menu items and captions are not answers
        self._splitter = splitter

    def _split(self, text: str) -> list[str]:
        if self._splitter is None:
            from selflearn.score.sentences import SentenceSplitter

            self._splitter = SentenceSplitter()
        sentences = [s for s in self._splitter(text[: self.max_chars]) if len(s) >= self.min_sentence_chars]
        return sentences or [s for s in self._splitter(text[: self.max_chars])]

    def extract(self, sources: Sequence[SourceText]) -> list[Evidence]:
        """One embed call for the whole batch: its unique questions and unique sentences of every document."""
        split = [self._split(s.text) if s.text.strip() else [] for s in sources]
        if not any(split):
            return [_empty(s, s.text) for s in sources]
        # The same page or gloss often answers several questions: each distinct text is embedded once.
        texts = list(dict.fromkeys([s.question for s in sources] + [sent for sents in split for sent in sents]))
        row = {text: i for i, text in enumerate(texts)}
        vectors = _unit_rows(np.asarray(self.embedder.embed(texts), dtype=np.float32))
        out = []
        for source, sents in zip(sources, split):
            if not sents:
                out.append(_empty(source, source.text))
                continue
            sims = vectors[[row[t] for t in sents]] @ vectors[row[source.question]]
            out.append(self._evidence(source, sents, sims))
        return out

    def _evidence(self, source: SourceText, sents: list[str], sims: np.ndarray) -> Evidence:
        order = np.argsort(-sims, kind="stable")
        best = sorted(order[: self.answer_sentences])  # several answer sentences read in document order
        summary = sorted(order[: self.summary_sentences])
        return Evidence(
            prompt=source.question,
            answer_text=" ".join(sents[i] for i in best),
            summary_text=" ".join(sents[i] for i in summary),
            full_text=source.text,
            answer_score=float(sims[order[0]]),
            source_url=source.url,
        )


def _load(kind: str, name: str, device: str | None):
    """(tokenizer, model) from a local folder or a hub id; a missing model is a UserError."""
    import transformers

    auto = {"qa": transformers.AutoModelForQuestionAnswering, "summary": transformers.AutoModelForSeq2SeqLM}[kind]
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name)
        model = auto.from_pretrained(name)
    except (OSError, ValueError) as exc:
        where = "folder" if Path(name).exists() else "model id (not in the local hub cache?)"
        raise UserError(f"cannot load {kind} model {name!r} ({where}): {str(exc).splitlines()[0]}") from None
    model.eval()
    if device:
        model.to(device)
    return tokenizer, model


class HFExtractor:
    """The paper's extraction: extractive QA (deepset/tinyroberta-squad2) and summarisation (facebook/bart-large-cnn,
    1 to 256 tokens). transformers 5 has no QA or summarization pipelines, so both are run directly, batched."""

    def __init__(self, qa_model: str = "deepset/tinyroberta-squad2", summarizer: str | None = "facebook/bart-large-cnn",
                 *, device: str | None = None, batch_size: int = 8, max_seq_len: int = 384, doc_stride: int = 128,
                 max_answer_tokens: int = 30, summary_min_tokens: int = 1, summary_max_tokens: int = 256,
                 max_chars: int = 20_000):
        self.qa_model, self.summarizer, self.device = qa_model, summarizer, device
        self.batch_size, self.max_seq_len, self.doc_stride = batch_size, max_seq_len, doc_stride
        self.max_answer_tokens = max_answer_tokens
        self.summary_min_tokens, self.summary_max_tokens = summary_min_tokens, summary_max_tokens
        self.max_chars = max_chars
        self._qa = self._sum = None

    def extract(self, sources: Sequence[SourceText]) -> list[Evidence]:
        """QA answers and summaries for all sources, each model run over the batch in chunks of batch_size."""
        live = [i for i, s in enumerate(sources) if s.text.strip()]
        texts = [sources[i].text[: self.max_chars] for i in live]
        answers = self.answer([sources[i].question for i in live], texts)
        summaries = self.summarize(texts) if self.summarizer else [""] * len(live)
        out = [_empty(s, s.text) for s in sources]
        for i, (answer, score), summary in zip(live, answers, summaries):
            out[i] = Evidence(prompt=sources[i].question, answer_text=answer, summary_text=summary,
                              full_text=sources[i].text, answer_score=score, source_url=sources[i].url)
        return out

    def answer(self, questions: Sequence[str], contexts: Sequence[str]) -> list[tuple[str, float]]:
        """(span, score) per (question, context): the best span over all windows, scored p(start) * p(end)."""
        import torch

        if not questions:
            return []
        if self._qa is None:
            self._qa = _load("qa", self.qa_model, self.device)
        tokenizer, model = self._qa
        enc = tokenizer(list(questions), list(contexts), truncation="only_second", max_length=self.max_seq_len,
                        stride=self.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                        padding=True, return_tensors="pt")
        owner = enc.pop("overflow_to_sample_mapping").tolist()
        offsets = enc.pop("offset_mapping")
        inputs = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        best: list[tuple[str, float]] = [("", 0.0)] * len(questions)
        with torch.inference_mode():
            for lo in range(0, len(owner), self.batch_size):
                batch = {k: v[lo: lo + self.batch_size].to(model.device) for k, v in inputs.items()}
                result = model(**batch)
                for j in range(result.start_logits.shape[0]):
                    row = lo + j
                    span, score = self._best_span(enc.sequence_ids(row), offsets[row], result.start_logits[j].float(),
                                                  result.end_logits[j].float(), contexts[owner[row]])
                    if score > best[owner[row]][1]:
                        best[owner[row]] = (span, score)
        return best

    def _best_span(self, seq_ids, offsets, start_logits, end_logits, context: str) -> tuple[str, float]:
        """The highest p(start) * p(end) span inside the context tokens (as the old QA pipeline scored it)."""
        import torch

        in_context = torch.tensor([s == 1 for s in seq_ids])
        if not bool(in_context.any()):
            return "", 0.0
        start_p = torch.softmax(start_logits.masked_fill(~in_context, -1e4), dim=-1)
        end_p = torch.softmax(end_logits.masked_fill(~in_context, -1e4), dim=-1)
        scores = torch.triu(start_p[:, None] * end_p[None, :])  # end >= start
        scores = torch.tril(scores, diagonal=self.max_answer_tokens - 1)  # at most max_answer_tokens long
        flat = int(torch.argmax(scores))
        start, end = divmod(flat, scores.shape[1])
        score = float(scores[start, end])
        if math.isnan(score):
            return "", 0.0
        return context[int(offsets[start][0]): int(offsets[end][1])].strip(), score

    def summarize(self, texts: Sequence[str]) -> list[str]:
        """Summaries of 1 to 256 tokens (the model's own beam settings), texts truncated to the model's input limit."""
        import torch

        if not texts:
            return []
        if self._sum is None:
            self._sum = _load("summary", self.summarizer, self.device)
        tokenizer, model = self._sum
        limit = min(getattr(tokenizer, "model_max_length", 1024), 1024)
        out: list[str] = []
        with torch.inference_mode():
            for lo in range(0, len(texts), self.batch_size):
                enc = tokenizer(list(texts[lo: lo + self.batch_size]), truncation=True, max_length=limit,
                                padding=True, return_tensors="pt").to(model.device)
                enc.pop("token_type_ids", None)
                ids = model.generate(**enc, min_length=self.summary_min_tokens, max_length=self.summary_max_tokens)
                out.extend(t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True,
                                                                     clean_up_tokenization_spaces=True))
        return out
