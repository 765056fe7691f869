"""Dataset curation: Points in the Unknown -> evidence -> reference answers -> judged passages -> DPO pairs.

The lead's loop calls these functions stage by stage and stores what they return; nothing here touches the store
except through the PageCache the reader was given. Judges live in selflearn.judge.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from selflearn.protocols import Generator, SearchEngine
from selflearn.search.extract import SourceText
from selflearn.types import ANSWER_PROMPT, PASSAGE_PARAMS, Evidence, GenParams, Hit, Pair

if TYPE_CHECKING:  # the reader pulls in httpx; callers that only build pairs need not load it
    from selflearn.search.extract import Extractor
    from selflearn.search.reader import PageReader

log = logging.getLogger(__name__)

LLM_SOURCE_PREFIX = "llm:"
UNPARSEABLE = -99.0  # the paper's similarity for a judge reply that is not YES / PARTLY / NO
KNOWN_THRESHOLD = 0.5  # similarity above this: the model already knew the answer
NO_REJECTED = "-"  # the paper's rejected answer for a "known" pair


@dataclass
class Judgement:
    """A question with the model's own passage, the reference answer, and the judge's verdict."""

    question: str
    passage: str
    reference: str
    similarity: float = math.nan  # YES 1, PARTLY 0.5, NO 0, unparseable -99 (or 1 - hallucination score)
    similarity_text: str = ""  # the judge's full reply


def gather_evidence(questions: Sequence[str], engine: SearchEngine, reader: PageReader | None,
                    extractor: Extractor, *, k: int = 5, batch_size: int = 64,
                    search_workers: int = 4) -> dict[str, list[Evidence]]:
    """Search each question, read the web hits (local hits carry their text), extract answers in batches.

    Every question is a key of the result; sources that gave no text or no answer are left out.
    """
    unique = list(dict.fromkeys(questions))
    # Web search APIs answer one query per request: a few in flight at once hide their latency.
    with ThreadPoolExecutor(max_workers=max(1, search_workers)) as pool:
        hits = dict(zip(unique, pool.map(lambda q: engine.search(q, k), unique)))
    texts = _hit_texts(hits, reader)
    sources = [SourceText(question=q, text=texts[h.url], url=h.url)
               for q, found in hits.items() for h in found if texts.get(h.url)]
    evidence: dict[str, list[Evidence]] = {q: [] for q in hits}
    for lo in range(0, len(sources), batch_size):
        for ev in extractor.extract(sources[lo: lo + batch_size]):
            if ev.answer_text.strip():
                evidence[ev.prompt].append(ev)
    found = sum(bool(v) for v in evidence.values())
    log.info("evidence for %d of %d questions from %d sources", found, len(evidence), len(sources))
    return evidence


def _hit_texts(hits: dict[str, list[Hit]], reader: PageReader | None) -> dict[str, str]:
    """url -> text: a hit's own text when the engine has it, else the page read once through the reader."""
    texts = {h.url: h.text for found in hits.values() for h in found if h.text}
    to_read = list(dict.fromkeys(h.url for found in hits.values() for h in found if h.url not in texts))
    if to_read and reader is None:
        log.warning("%d web hits skipped: no page reader was given", len(to_read))
    elif to_read:
        for record in reader.fetch(to_read):
            if record.ok:
                texts[record.url] = record.text
    return texts


def reference_answers(questions: Sequence[str], generator: Generator, *, name: str,
                      params: GenParams | None = None) -> dict[str, Evidence]:
    """A stronger LLM answers every question in one greedy generate call; source_url is "llm:<name>"."""
    unique = list(dict.fromkeys(questions))
    if not unique:
        return {}
    params = params or PASSAGE_PARAMS.with_(do_sample=False, temperature=0.0)
    replies = generator.generate([ANSWER_PROMPT.format(question=q) for q in unique], n=1, params=params)
    out = {}
    for question, reply in zip(unique, replies):
        text = (reply[0] if reply else "").strip()
        # An LLM answer has no extractive confidence: its score is NaN, and choose_reference prefers it anyway.
        out[question] = Evidence(prompt=question, answer_text=text, summary_text="", full_text="",
                                 answer_score=math.nan, source_url=f"{LLM_SOURCE_PREFIX}{name}")
    return out


def choose_reference(evidence: Sequence[Evidence]) -> str:
    """The stronger LLM's answer if there is one, else the best-scored extracted answer, else ""."""
    llm = [e for e in evidence if e.source_url.startswith(LLM_SOURCE_PREFIX) and e.answer_text.strip()]
    if llm:
        return llm[0].answer_text.strip()
    found = [e for e in evidence if e.answer_text.strip()]
    if not found:
        return ""
    best = max(found, key=lambda e: -math.inf if math.isnan(e.answer_score) else e.answer_score)
    return best.answer_text.strip()


def verdict_counts(items: Sequence[Judgement]) -> dict[str, int]:
    """Counts as the paper reported them: yes (> 0.5), partly (0.5), no (0 to < 0.5), unparseable (-99 or NaN)."""
    counts = Counter()
    for item in items:
        s = item.similarity
        if math.isnan(s) or s < 0:
            counts["unparseable"] += 1
        elif s > KNOWN_THRESHOLD:
            counts["yes"] += 1
        else:
            counts["partly" if s == KNOWN_THRESHOLD else "no"] += 1
    return {key: counts[key] for key in ("yes", "partly", "no", "unparseable")}


def build_pairs(items: Sequence[Judgement], *, format_prompt: Callable[[str], str],
                skip_known: bool = False) -> list[Pair]:
    """The paper's rule: similarity > 0.5 -> "known" (chosen = passage, rejected = "-"); 0 to 0.5 -> "learn"
    (chosen = reference, rejected = passage); unparseable (-99, NaN) or a "learn" item without a reference -> no pair.
    """
    pairs, skipped = [], Counter()
    for item in items:
        s = item.similarity
        passage = item.passage.strip() or NO_REJECTED  # the paper filled missing passages with "-"
        if math.isnan(s) or s < 0:
            skipped["unparseable verdict"] += 1
        elif s > KNOWN_THRESHOLD:
            if skip_known:
                skipped["known, skipped"] += 1
                continue
            pairs.append(Pair(prompt=format_prompt(item.question), chosen=passage, rejected=NO_REJECTED,
                              kind="known", question=item.question, similarity=s))
        elif not item.reference.strip():
            skipped["no reference answer"] += 1
        else:
            pairs.append(Pair(prompt=format_prompt(item.question), chosen=item.reference.strip(), rejected=passage,
                              kind="learn", question=item.question, similarity=s))
    if skipped:
        log.info("built %d pairs; no pair for: %s", len(pairs), dict(skipped))
    return pairs


def pair_record(pair: Pair) -> dict:
    """A pair as a JSON-ready dict (NaN similarity becomes null)."""
    similarity = None if math.isnan(pair.similarity) else pair.similarity
    return {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected, "kind": pair.kind,
            "question": pair.question, "similarity": similarity}


def export_pairs_jsonl(pairs: Sequence[Pair], path: str | Path) -> Path:
    """Write one JSON object per pair (prompt, chosen, rejected, kind, question, similarity); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for pair in pairs:
            fh.write(json.dumps(pair_record(pair), ensure_ascii=False) + "\n")
    return path


def pairs_to_dataset(pairs: Sequence[Pair]):
    """A datasets.Dataset with the prompt / chosen / rejected columns that TRL's DPOTrainer reads."""
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [p.prompt for p in pairs], "chosen": [p.chosen for p in pairs],
                              "rejected": [p.rejected for p in pairs]})
