"""Curation: evidence gathering, reference answers, judges and the paper's DPO pair rule on its 922 judged rows."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from http_server import LocalServer, html

from selflearn.curate import (ANSWER_PROMPT, Judgement, build_pairs, choose_reference, export_pairs_jsonl,
                              gather_evidence, pairs_to_dataset, reference_answers, verdict_counts)
from selflearn.judge import JUDGE_PROMPT, LLMJudge, ScorerJudge, parse_verdict
from selflearn.search.extract import SourceText
from selflearn.search.reader import MemoryPageCache, PageReader
from selflearn.types import Evidence, Hit

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"
JUDGED = REFERENCE / "mistral-7b-instruct-oracle-judged.jsonl"
PAPER = Path(__file__).resolve().parents[2] / "shared" / "PAPER.md"


@pytest.fixture(scope="module")
def judged_rows() -> list[dict]:
    if not JUDGED.is_file():
        pytest.skip("reference fixtures not present")
    return [json.loads(line) for line in JUDGED.read_text().splitlines()]


def as_judgement(row: dict) -> Judgement:
    """A fixture row in our record: prompt -> question, answer_text (gpt-4o's) -> reference."""
    return Judgement(question=row["prompt"], passage=row["passage"], reference=row["answer_text"],
                     similarity=row["similarity"], similarity_text=row["similarity_text"])


def chat(text: str) -> str:
    return f"<|user|>{text}<|assistant|>"


def test_parse_verdict_reproduces_every_fixture_similarity(judged_rows):
    assert len(judged_rows) == 922
    assert [parse_verdict(r["similarity_text"]) for r in judged_rows] == [r["similarity"] for r in judged_rows]
    assert parse_verdict("**Yes**, it matches") == 1.0 and parse_verdict("No.") == 0.0
    assert parse_verdict("") == -99.0 and parse_verdict("Maybe") == -99.0


def test_verdict_counts_match_the_paper(judged_rows):
    # build_ds.py of the reference code: "yes: 32, no: 623, partly: 251, other: 16"
    counts = verdict_counts([as_judgement(r) for r in judged_rows])
    assert counts == {"yes": 32, "partly": 251, "no": 623, "unparseable": 16}


def test_build_pairs_follows_the_rule_on_the_fixture(judged_rows):
    items = [as_judgement(r) for r in judged_rows]
    pairs = build_pairs(items, format_prompt=chat)
    assert len(pairs) == 922 - 16
    rows = iter(r for r in judged_rows if r["similarity"] != -99)
    for pair in pairs:
        row = next(rows)
        assert pair.prompt == chat(row["prompt"]) and pair.question == row["prompt"]
        assert pair.similarity == row["similarity"]
        if row["similarity"] > 0.5:
            assert (pair.kind, pair.chosen, pair.rejected) == ("known", row["passage"].strip(), "-")
        else:
            assert (pair.kind, pair.chosen, pair.rejected) == ("learn", row["answer_text"].strip(),
                                                               row["passage"].strip())
    kinds = [p.kind for p in pairs]
    assert kinds.count("known") == 32 and kinds.count("learn") == 251 + 623
    assert len(build_pairs(items, format_prompt=chat, skip_known=True)) == 874


def test_build_pairs_edge_cases():
    items = [Judgement("q1", "", "ref", 0.0), Judgement("q2", "p", "", 0.0), Judgement("q3", "p", "r", math.nan),
             Judgement("q4", "p", "r", 0.5), Judgement("q5", "p", "r", 0.51)]
    pairs = build_pairs(items, format_prompt=str.upper)
    assert [(p.question, p.kind, p.chosen, p.rejected) for p in pairs] == [
        ("q1", "learn", "ref", "-"), ("q4", "learn", "r", "p"), ("q5", "known", "p", "-")]
    assert pairs[0].prompt == "Q1"


def test_record_fields_match_the_paper():
    text = PAPER.read_text() if PAPER.is_file() else pytest.skip("PAPER.md not present")
    line = re.search(r"Each result is a record: ([a-z_, ]+)\.", text).group(1)
    assert [f.name for f in dataclasses.fields(Evidence)] == [f.strip() for f in line.split(",")]
    assert "`similarity`" in text and "`similarity_text`" in text and "`answer_text`" in text
    assert {f.name for f in dataclasses.fields(Judgement)} >= {"similarity", "similarity_text"}


def test_export_jsonl_and_dataset(tmp_path, judged_rows):
    pairs = build_pairs([as_judgement(r) for r in judged_rows[:20]], format_prompt=chat)
    path = export_pairs_jsonl(pairs, tmp_path / "out" / "pairs.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == len(pairs) and set(rows[0]) == {"prompt", "chosen", "rejected", "kind", "question",
                                                        "similarity"}
    assert rows[0]["chosen"] == pairs[0].chosen
    ds = pairs_to_dataset(pairs)
    assert ds.column_names == ["prompt", "chosen", "rejected"] and len(ds) == len(pairs)
    assert ds[3]["rejected"] == pairs[3].rejected


class FakeGenerator:
    """Queues replies; records each generate call."""

    def __init__(self, reply):
        self.reply = reply
        self.calls: list[tuple[list[str], int, object]] = []

    def generate(self, prompts, *, n=1, params):
        self.calls.append((list(prompts), n, params))
        return [[self.reply(p)] for p in prompts]


def test_llm_judge_one_call_and_parsing(judged_rows):
    rows = judged_rows[:40]
    gen = FakeGenerator(lambda p: next(r["similarity_text"] for r in rows
                                       if f"GOLD_ANSWER: {r['answer_text']}\nSYSTEM_ANSWER: {r['passage']}\n" in p))
    items = [dataclasses.replace(as_judgement(r), similarity=math.nan, similarity_text="") for r in rows]
    items.append(Judgement("q", "p", "", math.nan))  # no reference: not asked
    out = LLMJudge(gen).judge(items)
    assert len(gen.calls) == 1 and len(gen.calls[0][0]) == 40 and gen.calls[0][2].greedy
    assert [o.similarity for o in out[:40]] == [r["similarity"] for r in rows]
    assert out[0].similarity_text == rows[0]["similarity_text"]
    assert out[40].similarity == -99.0 and out[40].similarity_text == "no reference answer"
    first = gen.calls[0][0][0]
    assert "SYSTEM_ANSWER: " + rows[0]["passage"] in first and "YES" in first and "PARTLY" in first
    assert JUDGE_PROMPT.count("{") == 3


class OverlapScorer:
    """A fake HallucinationScorer: a sentence scores 0 when all its words appear in the sample, else 1."""

    def __init__(self):
        self.calls = 0

    def score(self, answers):
        self.calls += 1
        out = []
        for a in answers:
            sample = set(a.samples[0].lower().split())
            out.append(np.array([0.0 if set(s.lower().split()) <= sample else 1.0 for s in a.passage_sentences]))
        return out


def test_scorer_judge_maps_one_minus_score():
    scorer = OverlapScorer()
    items = [Judgement("q", "Paris is big. Lyon is small.", "paris is big. lyon is small.", math.nan),
             Judgement("q", "Paris is big. Rome is old.", "paris is big.", math.nan),
             Judgement("q", "Rome is old.", "paris is big.", math.nan),
             Judgement("q", "   ", "paris", math.nan)]
    out = ScorerJudge(scorer).judge(items)
    assert scorer.calls == 1
    assert [o.similarity for o in out] == [1.0, 0.5, 0.0, -99.0]
    pairs = build_pairs(out, format_prompt=str)
    assert [p.kind for p in pairs] == ["known", "learn", "learn"]


def test_reference_answers_one_greedy_call():
    gen = FakeGenerator(lambda p: "  An answer.  ")
    out = reference_answers(["q1", "q2", "q1"], gen, name="gpt-4o")
    assert len(gen.calls) == 1 and gen.calls[0][0] == [ANSWER_PROMPT.format(question="q1"),
                                                      ANSWER_PROMPT.format(question="q2")]
    assert gen.calls[0][2].greedy
    assert out["q1"].answer_text == "An answer." and out["q2"].source_url == "llm:gpt-4o"


def test_choose_reference():
    def ev(answer, score, url):
        return Evidence("q", answer, "", "", score, url)

    extracted = [ev("low", 0.2, "local:a"), ev("high", 0.9, "https://b"), ev("", 1.0, "https://c")]
    assert choose_reference(extracted) == "high"
    assert choose_reference(extracted + [ev("llm says", math.nan, "llm:gpt-4o")]) == "llm says"
    assert choose_reference([]) == ""


class RecordingExtractor:
    """Answers with the first sentence of each source; records batch sizes."""

    def __init__(self):
        self.batches: list[int] = []

    def extract(self, sources: list[SourceText]):
        self.batches.append(len(sources))
        return [Evidence(s.question, s.text.split(".")[0], "", s.text, 0.5, s.url) for s in sources]


class FakeEngine:
    def __init__(self, hits):
        self.hits = hits

    def search(self, query, k):
        return self.hits.get(query, [])[:k]


def test_gather_evidence_reads_web_hits_once_and_uses_local_text():
    page = "<article>" + "<p>The twayblade is an orchid with two leaves that grows in damp woods.</p>" * 5 + "</article>"
    with LocalServer({"/tw": html(page), "/bad": html("", status=404)}) as srv:
        engine = FakeEngine({
            "q1": [Hit(url="local:wn1", text="Twayblade: an orchid. More."), Hit(url=srv.url("/tw")),
                   Hit(url=srv.url("/bad"))],
            "q2": [Hit(url=srv.url("/tw"))],
        })
        cache = MemoryPageCache()
        extractor = RecordingExtractor()
        reader = PageReader(allow_private_hosts=True, progress=False, cache=cache)
        out = gather_evidence(["q1", "q2", "q3"], engine, reader, extractor, k=5, batch_size=2)
        assert sum(1 for r in srv.requests if r == "/tw") == 1  # one fetch for both questions
    assert set(out) == {"q1", "q2", "q3"} and out["q3"] == []
    assert [e.source_url for e in out["q1"]] == ["local:wn1", srv.url("/tw")]
    assert out["q1"][0].answer_text == "Twayblade: an orchid"
    assert out["q2"][0].answer_text.startswith("The twayblade is an orchid")
    assert extractor.batches == [2, 1]
    assert cache.get(srv.url("/bad")).error == "HTTP 404"


def test_gather_evidence_without_reader_skips_web_hits(caplog):
    engine = FakeEngine({"q": [Hit(url="https://x.example/1"), Hit(url="local:a", text="Local text.")]})
    out = gather_evidence(["q"], engine, None, RecordingExtractor())
    assert [e.source_url for e in out["q"]] == ["local:a"] and "no page reader" in caplog.text


def test_offline_chain_local_index_and_embedding_extractor(tmp_path):
    from selflearn.embed import HashingEmbedder
    from selflearn.search import EmbeddingExtractor, ensure_default_index

    glosses = [("twayblade.n.01", "n", ["twayblade"], "an orchid of the genus Listera with a pair of leaves", []),
               ("ecchymosis.n.01", "n", ["ecchymosis"], "the purple discoloration of the skin after a bruise", []),
               ("autolysis.n.01", "n", ["autolysis"], "the destruction of cells by their own enzymes", [])]
    index = ensure_default_index(tmp_path / "wn.sqlite", glosses=lambda: iter(glosses))
    out = gather_evidence(["What is a twayblade orchid?", "Why does an ecchymosis discolor the skin?"], index, None,
                          EmbeddingExtractor(HashingEmbedder(dim=64), min_sentence_chars=1), k=2)
    assert out["What is a twayblade orchid?"][0].source_url == "local:twayblade.n.01"
    assert "Listera" in choose_reference(out["What is a twayblade orchid?"])
    assert out["Why does an ecchymosis discolor the skin?"][0].source_url == "local:ecchymosis.n.01"
