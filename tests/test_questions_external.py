"""External prompt: the packaged trending topics, local files, RSS/Atom feeds and a fake SerpApi on 127.0.0.1."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from selflearn.errors import UserError
from selflearn.generate.fake import FakeGenerator
from selflearn.questions.external import (
    ExternalSource,
    fetch_feed_topics,
    fetch_serpapi_trends,
    load_topic_file,
    packaged_topic_sets,
    topic_sets_from,
)
from selflearn.questions.prompts import EXTERNAL_QUESTION_PROMPT
from selflearn.seedformat import load_result_file
from tests.http_server import LocalServer, json_route, respond

GOOGLE_TRENDS_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:atom="http://www.w3.org/2005/Atom" xmlns:ht="https://trends.google.com/trending/rss" version="2.0">
<channel><title>Daily Search Trends</title>
<item><title>aykroyd</title><ht:approx_traffic>50000+</ht:approx_traffic>
<ht:news_item><ht:news_item_title>Dan Aykroyd on tour</ht:news_item_title><ht:news_item_url>https://a</ht:news_item_url></ht:news_item>
<ht:news_item><ht:news_item_title>Ghostbusters &amp; more</ht:news_item_title></ht:news_item></item>
<item><title>cubs vs red sox</title><ht:news_item><ht:news_item_title>Game recap</ht:news_item_title></ht:news_item></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><title>Quantum error correction</title><id>1</id></entry>
<entry><title>Coral bleaching</title><id>2</id></entry></feed>"""


def make_source(topic_sets, **kw):
    gen = FakeGenerator(fn=lambda p, i: "Which one?")
    return gen, ExternalSource(gen, topic_sets, **kw)


def test_packaged_sets_are_the_papers(reference_dir):
    packaged = packaged_topic_sets()
    assert len(packaged) == len(set(packaged)) == 332
    counters = []
    for path in sorted(reference_dir.glob("*.pickle")):
        data = load_result_file(path)
        counters.append(Counter(p["topics"] for p in data["prompts_with_hallucination"] + data["prompts_with_no_hallucination"]))
    assert counters[0] == counters[1] == counters[2]  # the same 576 pulls behind all three models
    assert set(packaged) == set(counters[0]) and sum(counters[0].values()) == 576


def test_source_takes_sets_in_order_one_call_and_cycles():
    gen, source = make_source(["A, B", "C", "D, E, F"])
    first = source.propose(2, np.random.default_rng(0))
    assert gen.calls[0].prompts == [EXTERNAL_QUESTION_PROMPT.format(topics=t) for t in ["A, B", "C"]]
    second = source.propose(3, np.random.default_rng(0))  # continues, then wraps around
    assert [q.topics for q in first + second] == ["A, B", "C", "D, E, F", "A, B", "C"]
    assert [q.meta["topic_index"] for q in first + second] == [0, 1, 2, 3, 4]
    assert len(gen.calls) == 2 and {q.method for q in second} == {"external"}


def test_resume_from_start():
    _, source = make_source(["A", "B", "C"], start=2)
    assert [q.topics for q in source.propose(2, np.random.default_rng(0))] == ["C", "A"]


def test_default_is_packaged():
    _, source = make_source(None)
    assert source.topic_sets == packaged_topic_sets()
    assert topic_sets_from(None) == topic_sets_from("trending") == packaged_topic_sets()


def test_topic_files(tmp_path):
    (tmp_path / "t.txt").write_text("Glacier, Antarctica\n\n  Tesla  \n")
    (tmp_path / "t.json").write_text(json.dumps(["One, Two", ["Three", "Four"]]))
    (tmp_path / "t.jsonl").write_text('{"topics": "X, Y"}\n\n{"topics": ["Z", "W"], "other": 1}\n')
    assert load_topic_file(tmp_path / "t.txt") == ["Glacier, Antarctica", "Tesla"]
    assert topic_sets_from(str(tmp_path / "t.json")) == ["One, Two", "Three, Four"]
    assert load_topic_file(tmp_path / "t.jsonl") == ["X, Y", "Z, W"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", "\n  \n", "no topic sets"),
        ("bad.json", "{not json", "not valid JSON"),
        ("obj.json", '{"a": 1}', "JSON list"),
        ("nums.json", "[1, 2]", "string or a list of strings"),
        ("rows.jsonl", '{"title": "x"}\n', '"topics" field'),
        ("topics.csv", "a,b\n", ".txt, .json or .jsonl"),
    ],
)
def test_malformed_topic_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(UserError, match=message):
        load_topic_file(tmp_path / name)


def test_missing_topic_file(tmp_path):
    with pytest.raises(UserError, match="no such topics file"):
        topic_sets_from(str(tmp_path / "absent.txt"))


def test_feeds_from_local_server():
    routes = {
        "/trends.rss": respond(200, GOOGLE_TRENDS_RSS, "application/rss+xml"),
        "/atom": respond(200, ATOM, "application/atom+xml"),
        "/empty": respond(200, '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>', "application/rss+xml"),
        "/broken": respond(200, "this is not a feed at all <<<", "text/plain"),
        "/gone": respond(500, "boom", "text/plain"),
    }
    with LocalServer(routes) as server:
        assert fetch_feed_topics(server.url("/trends.rss")) == [
            "aykroyd, Dan Aykroyd on tour, Ghostbusters & more",
            "cubs vs red sox, Game recap",
        ]
        assert topic_sets_from(server.url("/atom")) == ["Quantum error correction", "Coral bleaching"]
        for path, message in [("/empty", "no topic sets"), ("/broken", "no topic sets|not a readable"), ("/gone", "HTTP 500")]:
            with pytest.raises(UserError, match=message):
                fetch_feed_topics(server.url(path))


def test_feed_timeout():
    with LocalServer({"/slow": respond(200, ATOM, "application/atom+xml", delay=2.0)}) as server:
        with pytest.raises(UserError, match="Timeout"):
            fetch_feed_topics(server.url("/slow"), timeout=0.3)


def test_serpapi_from_local_server(monkeypatch):
    payload = {
        "trending_searches": [
            {"query": "aykroyd", "trend_breakdown": ["dan aykroyd", "aykroyd", "ghostbusters"]},
            {"query": "cubs vs red sox"},
        ]
    }
    monkeypatch.setenv("SERP_API_KEY", "secret-key")
    with LocalServer({"/search.json": json_route(payload)}) as server:
        sets = topic_sets_from("serpapi", serpapi_url=server.url("/search.json"))
        assert sets == ["aykroyd, dan aykroyd, ghostbusters", "cubs vs red sox"]
        query = server.requests[0]
        assert "engine=google_trends_trending_now" in query and "geo=US" in query and "api_key=secret-key" in query


def test_serpapi_errors(monkeypatch):
    monkeypatch.delenv("SERP_API_KEY", raising=False)
    with pytest.raises(UserError, match="SERP_API_KEY"):
        fetch_serpapi_trends(base_url="http://127.0.0.1:9/")
    monkeypatch.setenv("SERP_API_KEY", "secret-key")
    routes = {
        "/denied": json_route({"error": "Invalid API key."}, status=401),
        "/err": json_route({"error": "Google hasn't returned any results."}),
        "/none": json_route({"trending_searches": []}),
    }
    with LocalServer(routes) as server:
        for path, message in [("/denied", "HTTP 401"), ("/err", "returned any results"), ("/none", "no topic sets")]:
            with pytest.raises(UserError, match=message) as info:
                fetch_serpapi_trends(base_url=server.url(path))
            assert "secret-key" not in str(info.value)


def test_packaged_topic_sets_are_what_the_extraction_script_rebuilds_from_the_paper_files(reference_dir):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "extract_trending_topics.py"
    done = subprocess.run([sys.executable, str(script), "--reference", str(reference_dir), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "same as" in done.stdout
