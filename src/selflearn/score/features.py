"""Cheap features of (passage sentence, samples) for the offline scorer, from one MiniLM pass per distinct text.

Each passage sentence is compared with each sample the way SelfCheckGPT-NLI compares them (one pair per
sample), through pair features: soft token alignment of MiniLM token embeddings (BERTScore-like), pooled
cosine, and lexical checks (numbers, names, negation, word overlap). A sentence's features are the mean,
spread and extremes of its pair features over the samples, plus answer-level signals such as how much the
samples agree with each other (the model's own uncertainty).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:[.,:]\d+)*")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NEGATION = {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot", "without"}
_STOP = set(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that these "
    "those there their they them he she his her him we our you your i me my do does did has have had will would can "
    "could should may might must shall which who whom whose what when where why how than then so such also very more "
    "most some any all each other into about over after before between during through not no".split()
)

PAIR_FEATURES = (
    "tok_prec",  # mean over sentence tokens of the best-matching sample token
    "tok_min",  # the worst-supported sentence token
    "tok_low",  # share of sentence tokens with no sample token above 0.6
    "tok_rec",  # mean over sample tokens of the best-matching sentence token
    "cos",  # pooled-embedding cosine
    "num_miss",  # share of the sentence's numbers absent from the sample
    "cap_miss",  # share of the sentence's capitalised words absent from the sample
    "word_miss",  # share of the sentence's content words absent from the sample
    "neg_diff",  # exactly one of the two contains a negation
    "len_ratio",  # log(sample words / sentence words)
)
_AGGREGATES = ("mean", "std", "min", "max")
SENTENCE_FEATURES = (
    "sample_agree",  # mean pooled cosine between pairs of samples
    "sample_tok_agree",  # mean token alignment between pairs of samples
    "passage_cos",  # mean pooled cosine of the whole passage with each sample
    "sent_words",  # log number of words in the sentence
    "has_num",
    "has_cap",
    "is_question",
    "n_sentences",  # log number of sentences in the passage
    "position",  # sentence index / number of sentences
    "empty_samples",  # share of empty samples
    "rel_prec",  # this sentence's mean tok_prec minus the passage's mean over sentences
    "ngram_avg",  # SelfCheckGPT-Unigram: mean -log p of the sentence's words under the samples' unigram model
    "ngram_max",  # ... and the max (the least expected word)
    "support_min",  # over the sentence's content words: least share of samples containing the word
    "support_mean",
    "content_tok_min_mean",  # mean over samples of the worst-aligned content token (subword) of the sentence
    "content_tok_low_mean",  # mean over samples of the share of content tokens aligned below 0.7
)
FEATURE_NAMES = tuple(f"{f}_{a}" for f in PAIR_FEATURES for a in _AGGREGATES) + SENTENCE_FEATURES


@dataclass
class Encoded:
    """One text's MiniLM encoding: L2-normalised content-token vectors and the normalised mean-pooled vector."""

    tokens: np.ndarray  # (n_tokens, dim), float32
    pooled: np.ndarray  # (dim,), float32
    content: np.ndarray | None = None  # bool per token: a word piece of a content word or a number


def content_mask(pieces: Sequence[str]) -> np.ndarray:
    """Which word pieces carry content: letters or digits, not a stop word, not a short fragment."""
    out = np.zeros(len(pieces), dtype=bool)
    for i, piece in enumerate(pieces):
        word = piece.removeprefix("##").lower()
        out[i] = any(c.isdigit() for c in word) or (word.isalpha() and len(word) > 2 and word not in _STOP)
    return out


class TokenEncoder:
    """MiniLM token embeddings; the packaged all-MiniLM-L6-v2 unless a folder is given."""

    def __init__(self, model_path: str | Path | None = None, *, device: str | None = None, batch_size: int = 64,
                 max_length: int = 256):
        self.model_path = model_path
        self.device = device or "cpu"
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            from selflearn.embed import packaged_minilm_path

            path = str(self.model_path or packaged_minilm_path())
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            self._model = AutoModel.from_pretrained(path).to(self.device).eval()
        return self._model, self._tokenizer

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Encode texts in length-sorted batches; one Encoded per text, in input order."""
        import torch

        model, tokenizer = self._load()
        out: list[Encoded | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="pt",
                                  return_special_tokens_mask=True).to(self.device)
                special = batch.pop("special_tokens_mask")
                hidden = model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                # Mean over all attended tokens (specials included) is sentence-transformers' pooling.
                pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
                tokens = torch.nn.functional.normalize(hidden, dim=-1)
                content = (batch["attention_mask"].bool() & ~special.bool()).cpu().numpy()
                ids = batch["input_ids"].cpu().numpy()
                for row, i in enumerate(idx):
                    pieces = tokenizer.convert_ids_to_tokens(ids[row][content[row]].tolist())
                    out[i] = Encoded(tokens[row].cpu().numpy()[content[row]], pooled[row].cpu().numpy(),
                                     content_mask(pieces))
        return out  # type: ignore[return-value]


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


@dataclass
class _Lexical:
    words: set[str]
    content: set[str]
    numbers: set[str]
    caps: set[str]
    negated: bool
    n_words: int


def _lexical(text: str) -> _Lexical:
    words = _words(text)
    lower = [w.lower() for w in words]
    # Capitalised words after the first are names/places, the facts a hallucination usually gets wrong.
    caps = {w.lower() for w in words[1:] if w[:1].isupper()}
    return _Lexical(set(lower), {w for w in lower if w not in _STOP and len(w) > 2},
                    set(_NUMBER.findall(text)), caps, any(w in _NEGATION or w.endswith("n't") for w in lower),
                    len(words))


def _miss(needed: set[str], have: set[str]) -> float:
    return len(needed - have) / len(needed) if needed else 0.0


def _align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best match of each row of a in b and of each row of b in a (cosines of normalised token vectors)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(a)), np.zeros(len(b))
    sim = a @ b.T
    return sim.max(axis=1), sim.max(axis=0)


def pair_features(sent: Encoded, sent_lex: _Lexical, sample: Encoded, sample_lex: _Lexical) -> np.ndarray:
    """The PAIR_FEATURES of one (sentence, sample) pair."""
    best_in_sample, best_in_sent = _align(sent.tokens, sample.tokens)
    return np.array([
        best_in_sample.mean() if best_in_sample.size else 0.0,
        best_in_sample.min() if best_in_sample.size else 0.0,
        (best_in_sample < 0.6).mean() if best_in_sample.size else 0.0,
        best_in_sent.mean() if best_in_sent.size else 0.0,
        float(sent.pooled @ sample.pooled),
        _miss(sent_lex.numbers, sample_lex.numbers),
        _miss(sent_lex.caps, sample_lex.words),
        _miss(sent_lex.content, sample_lex.words),
        float(sent_lex.negated != sample_lex.negated),
        np.log((sample_lex.n_words + 1) / (sent_lex.n_words + 1)),
    ])


def _content_alignment(sent: Encoded, sample: Encoded) -> tuple[float, float]:
    """Worst alignment and share of poorly aligned tokens among the sentence's content tokens."""
    mask = sent.content if sent.content is not None else np.ones(len(sent.tokens), dtype=bool)
    if not mask.any() or len(sample.tokens) == 0:
        return 0.0, 0.0
    best = (sent.tokens[mask] @ sample.tokens.T).max(axis=1)
    return float(best.min()), float((best < 0.7).mean())


def _ngram(sentence_lex: list[str], sample_words: list[list[str]]) -> tuple[float, float]:
    """SelfCheckGPT-Unigram on the samples (add-one smoothing): mean and max -log p of the sentence's words."""
    from collections import Counter

    counts = Counter(w for words in sample_words for w in words)
    total, vocab = sum(counts.values()), len(counts) + 1
    if not sentence_lex:
        return 0.0, 0.0
    nll = [-np.log((counts[w] + 1) / (total + vocab)) for w in sentence_lex]
    return float(np.mean(nll)), float(np.max(nll))


def _support(content: set[str], sample_sets: list[set[str]]) -> tuple[float, float]:
    if not content:
        return 1.0, 1.0
    share = [np.mean([w in words for words in sample_sets]) for w in content]
    return float(np.min(share)), float(np.mean(share))


def _sample_agreement(samples: list[Encoded]) -> tuple[float, float]:
    if len(samples) < 2:
        return 1.0, 1.0
    pooled = np.stack([s.pooled for s in samples])
    cos = pooled @ pooled.T
    iu = np.triu_indices(len(samples), 1)
    tok = []
    for i, j in zip(*iu):
        a, b = _align(samples[i].tokens, samples[j].tokens)
        if a.size and b.size:
            tok.append(0.5 * (a.mean() + b.mean()))
    return float(cos[iu].mean()), float(np.mean(tok)) if tok else 0.0


def answer_features(sentences: Sequence[str], samples: Sequence[str], enc: dict[str, Encoded]) -> np.ndarray:
    """FEATURE_NAMES for each sentence of one answer, given the encodings of its texts; NaN rows if no sample."""
    n_sent = len(sentences)
    kept = [s for s in samples if s.strip()]
    out = np.full((n_sent, len(FEATURE_NAMES)), np.nan)
    if n_sent == 0 or not kept:
        return out
    sample_enc = [enc[s] for s in kept]
    sample_lex = [_lexical(s) for s in kept]
    agree, tok_agree = _sample_agreement(sample_enc)
    passage = enc[" ".join(sentences)]
    passage_cos = float(np.mean([passage.pooled @ s.pooled for s in sample_enc]))
    pairs = np.empty((n_sent, len(kept), len(PAIR_FEATURES)))
    lexes = [_lexical(s) for s in sentences]
    for i, sent in enumerate(sentences):
        for j in range(len(kept)):
            pairs[i, j] = pair_features(enc[sent], lexes[i], sample_enc[j], sample_lex[j])
    aggs = np.stack([pairs.mean(1), pairs.std(1), pairs.min(1), pairs.max(1)], axis=-1)  # (n_sent, n_pair, 4)
    out[:, : aggs.shape[1] * 4] = aggs.reshape(n_sent, -1)
    prec = pairs[:, :, 0].mean(1)
    sample_words = [[w.lower() for w in _words(s)] for s in kept]
    sample_sets = [lex.words for lex in sample_lex]
    for i, sent in enumerate(sentences):
        content = np.array([_content_alignment(enc[sent], x) for x in sample_enc]).mean(0)
        out[i, aggs.shape[1] * 4 :] = [
            agree, tok_agree, passage_cos, np.log1p(lexes[i].n_words), float(bool(lexes[i].numbers)),
            float(bool(lexes[i].caps)), float(sent.rstrip().endswith("?")), np.log(n_sent), i / n_sent,
            1.0 - len(kept) / max(len(samples), 1), prec[i] - prec.mean(),
            *_ngram([w.lower() for w in _words(sent)], sample_words), *_support(lexes[i].content, sample_sets),
            *content,
        ]
    return out


def texts_to_encode(sentences: Sequence[str], samples: Sequence[str]) -> list[str]:
    """The texts answer_features needs encoded for one answer (sentences, non-empty samples, joined passage)."""
    if not sentences:
        return []
    return [*sentences, *(s for s in samples if s.strip()), " ".join(sentences)]
