"""After-training measures (PAPER.md, "Evaluation after training"): plain functions, lists in, plain dicts out.

Perplexity definitions (one pass, summed over all texts): NLL = sum of -log p(token | previous tokens) over every
predicted token (the first token of a text is not predicted unless the tokenizer prepends BOS). Then
  token PPL = exp(NLL / predicted tokens), word PPL = exp(NLL / whitespace words), char PPL = exp(NLL / characters),
where words and characters are counted over the part of each text that fits in max_length tokens. Word and char
PPL compare models with different tokenizers; token PPL does not.
"""

from __future__ import annotations

import json
import logging
import math
import random
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from selflearn.errors import UserError
from selflearn.protocols import Generator, HallucinationScorer
from selflearn.types import (ANSWER_PROMPT, HALLUCINATION_THRESHOLD, NUM_SAMPLES, PASSAGE_PARAMS, SAMPLE_PARAMS, Answer, GenParams,
                             Question, Score)

log = logging.getLogger(__name__)

OVERLAP_PARAMS = GenParams(max_new_tokens=64, min_new_tokens=1, do_sample=False)  # greedy, 64 new tokens
HELDOUT_MAX_WORDS = 256
JUDGE_PROMPT = (
    "Question: {question}\n\nReference answer: {reference}\n\nCandidate answer: {answer}\n\n"
    "Does the candidate answer agree with the reference answer? Answer with only one word: YES, PARTLY or NO."
)


def _text(q: str | Question) -> str:
    return q.prompt if isinstance(q, Question) else str(q)


def _finite_or_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def hallucination_rescore(generator: Generator, scorer: HallucinationScorer, splitter: Callable[[str], list[str]],
                          questions: Sequence[str | Question]) -> dict[str, Any]:
    """Fresh passage + 10 samples from the given model for the same Q_H questions, scored again."""
    qs = [_text(q) for q in questions]
    if not qs:
        return {"n": 0, "mean_score": None, "share_hallucinated": None, "per_question": []}
    prompts = [ANSWER_PROMPT.format(question=q) for q in qs]
    passages = [outs[0] for outs in generator.generate(prompts, n=1, params=PASSAGE_PARAMS)]
    samples = generator.generate(prompts, n=NUM_SAMPLES, params=SAMPLE_PARAMS)
    answers = [Answer(prompt=q, passage=p, samples=list(s), passage_sentences=splitter(p))
               for q, p, s in zip(qs, passages, samples)]
    scores = [Score(np.asarray(a, float)) for a in scorer.score(answers)]
    avg = np.array([s.average_score for s in scores], float)
    per = [{"question": a.prompt, "passage": a.passage, "samples": a.samples,
            "sentence_scores": [_finite_or_none(x) for x in s.sentence_scores.tolist()],
            "score": _finite_or_none(s.average_score)} for a, s in zip(answers, scores)]
    mean = float(np.nanmean(avg)) if not np.all(np.isnan(avg)) else math.nan
    return {"n": len(qs), "mean_score": _finite_or_none(mean),
            "share_hallucinated": sum(s.hallucinated(HALLUCINATION_THRESHOLD) for s in scores) / len(qs),
            "per_question": per}


def _encode_for_ppl(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], list[str]]:
    """Token ids of each text (truncated) and the part of the text those tokens cover."""
    ids, covered = [], []
    for text in texts:
        if tokenizer.is_fast:
            enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
            ends = [e for (_, e) in enc["offset_mapping"] if e > 0]
            covered.append(text[:max(ends)] if ends else "")
        else:
            enc = tokenizer(text, truncation=True, max_length=max_length)
            covered.append(text)  # slow tokenizers give no offsets: counts use the whole text
        ids.append(list(enc["input_ids"]))
    return ids, covered


def pad_right(rows: Sequence[Sequence[int]]) -> tuple[Any, Any]:
    """Right-padded input_ids and attention_mask tensors (pad id 0, masked): real tokens keep positions 0..n-1."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, :len(row)] = 1
    return ids, mask


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int = 512,
               batch_size: int = 8, details: bool = False) -> dict[str, float]:
    """Token-, word- and character-level perplexity {token, word, char} (definitions in the module docstring).

    details=True adds the totals they come from: nll, tokens, words, chars, texts.
    """
    import torch

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise UserError("perplexity needs at least one non-empty text")
    ids, covered = _encode_for_ppl(tokenizer, texts, max_length)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths per batch: little padding
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            inp, mask = pad_right([ids[i] for i in order[start:start + batch_size]])
            logits = model(input_ids=inp.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            target, tmask = inp[:, 1:].to(device), mask[:, 1:].to(device)
            nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * tmask
            total_nll += float(nll.sum())
            total_tokens += int(tmask.sum())
    words = sum(len(c.split()) for c in covered)
    chars = sum(len(c) for c in covered)
    out = {"token": math.exp(total_nll / max(total_tokens, 1)), "word": math.exp(total_nll / max(words, 1)),
           "char": math.exp(total_nll / max(chars, 1))}
    if details:
        out.update(nll=total_nll, tokens=total_tokens, words=words, chars=chars, texts=len(texts))
    return out


def overlap_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-Lsum F1 (rouge-score, stemmed) and corpus BLEU (sacrebleu, 0-100) of hypotheses vs references."""
    import sacrebleu
    from rouge_score import rouge_scorer

    if len(hypotheses) != len(references):
        raise ValueError("hypotheses and references differ in length")
    if not hypotheses:
        return {"rouge_lsum": math.nan, "bleu": math.nan}
    scorer = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=True)
    rouge = [scorer.score(r, h)["rougeLsum"].fmeasure for h, r in zip(hypotheses, references)]
    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score
    return {"rouge_lsum": float(np.mean(rouge)), "bleu": float(bleu)}


def answer_overlap(generator: Generator, questions: Sequence[str | Question], references: Sequence[str],
                   *, prompt_template: str = "{question}", with_answers: bool = False) -> dict[str, Any]:
    """Greedy answers (64 new tokens) vs the learned reference answers: {rouge_lsum, bleu} (+ answers if asked).

    The prompt is the bare question by default; a learning cycle passes the passage prompt its pairs were trained on.
    """
    qs = [_text(q) for q in questions]
    if len(qs) != len(references):
        raise UserError(f"{len(qs)} questions but {len(references)} reference answers")
    outs = generator.generate([prompt_template.format(question=q) for q in qs], n=1, params=OVERLAP_PARAMS)
    answers = [o[0] for o in outs]
    scores: dict[str, Any] = overlap_scores(answers, references)
    return {**scores, "answers": answers} if with_answers else scores


def judge_answers(judge: Generator, questions: Sequence[str | Question], answers: Sequence[str],
                  references: Sequence[str]) -> dict[str, Any]:
    """An LLM judge's YES/PARTLY/NO verdicts of answers against references; mean over parseable verdicts."""
    prompts = [JUDGE_PROMPT.format(question=_text(q), reference=r, answer=a)
               for q, a, r in zip(questions, answers, references)]
    replies = [o[0] for o in judge.generate(prompts, n=1, params=GenParams(max_new_tokens=8, do_sample=False))]
    from selflearn.judge import parse_verdict

    verdicts = [parse_verdict(r) for r in replies]
    valid = [v for v in verdicts if v >= 0]
    return {"mean": float(np.mean(valid)) if valid else None, "n": len(verdicts), "unparsed": len(verdicts) - len(valid),
            "verdicts": verdicts, "replies": replies}


def _truncate_words(text: str, max_words: int = HELDOUT_MAX_WORDS) -> str:
    words = text.split()
    return " ".join(words[:max_words])


def heldout_texts_default(n: int = 1000, exclude: Iterable[str] = frozenset(), *, seed: int = 0) -> list[str]:
    """The offline held-out set: n WordNet glosses (definitions) not among exclude, drawn reproducibly."""
    try:
        from selflearn.resources.wordnet import all_glosses
    except ImportError:
        raise UserError("the default held-out texts need WordNet (selflearn.resources.wordnet); "
                        "pass a file of held-out passages instead") from None
    # Oracle strings "lemma ### definition" used in training exclude their definition.
    excluded = {e.split(" ### ", 1)[-1].strip() for e in exclude}
    pool = sorted({g.definition.strip() for g in all_glosses()} - excluded - {""})
    random.Random(seed).shuffle(pool)
    return pool[:n]


def heldout_texts_from(path: str | Path, n: int | None = 1000) -> list[str]:
    """Held-out passages from a .txt (one per non-empty line) or .jsonl ({"text"|"passage"|"content": ...} or a string)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such held-out file: {p}")
    texts: list[str] = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if p.suffix.lower() in (".jsonl", ".json"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{p}:{lineno}: not JSON ({exc.msg})") from None
            text = obj if isinstance(obj, str) else next(
                (obj[k] for k in ("text", "passage", "content") if isinstance(obj, dict) and k in obj), None)
            if not isinstance(text, str):
                raise UserError(f"{p}:{lineno}: expected a string or an object with a 'text' field")
        else:
            text = line
        texts.append(_truncate_words(text))
        if n is not None and len(texts) >= n:
            break
    if not texts:
        raise UserError(f"{p} holds no passages")
    return texts
