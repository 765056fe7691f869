"""External prompt: topic sets from outside the model, one question each (PAPER.md, "Methods").

Topic providers (topic_sets_from picks one from a spec string):
- "trending" (default, offline): the paper's own 332 distinct Google Trends topic sets, shipped in the package
  (from the 576 questions of its published external-prompt files; see resources/data/trending_topics.json);
- a local file: .txt (one topic set per line), .json (list of strings, or list of lists joined with ", "),
  .jsonl (objects with a "topics" field, string or list);
- an RSS/Atom feed URL: each entry's title is a topic set (Google Trends' RSS: the title plus its news items' titles);
- "serpapi": Google Trends "trending now" through SerpApi, as the paper did (needs SERP_API_KEY).
"""

from __future__ import annotations

import json
import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from selflearn.errors import UserError
from selflearn.protocols import Generator
from selflearn.questions import ask, with_temperature
from selflearn.questions.prompts import EXTERNAL_QUESTION_PROMPT
from selflearn.resources import package_data
from selflearn.types import QUESTION_PARAMS, GenParams, Question

log = logging.getLogger(__name__)

DEFAULT_PROVIDER = "trending"
SERPAPI_URL = "https://serpapi.com/search.json"
SERPAPI_KEY_ENV = "SERP_API_KEY"
MAX_TRENDS = 100  # the paper kept up to 100 topics per pull
GOOGLE_TRENDS_NS = ("https://trends.google.com/trending/rss", "https://trends.google.com/trends/trendingsearches/daily")


def join_topics(parts: Sequence[str]) -> str:
    """Topics of one set joined with ", " (duplicates and blanks dropped, order kept)."""
    seen = dict.fromkeys(p.strip() for p in parts if p and p.strip())
    return ", ".join(seen)


def _checked(topic_sets: list[str], origin: str) -> list[str]:
    topic_sets = [t.strip() for t in topic_sets if t and t.strip()]
    if not topic_sets:
        raise UserError(f"{origin} holds no topic sets")
    return topic_sets


def packaged_topic_sets() -> list[str]:
    """The paper's trending-topic sets, in pull order, each once."""
    return _checked(json.loads(package_data("trending_topics.json").read_text(encoding="utf-8")), "trending_topics.json")


def _json_topic_set(item: Any, where: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, list) and all(isinstance(x, str) for x in item):
        return join_topics(item)
    raise UserError(f"{where}: a topic set must be a string or a list of strings, got {type(item).__name__}")


def load_topic_file(path: str | Path) -> list[str]:
    """Topic sets from a .txt, .json or .jsonl file (formats in the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such topics file: {p}")
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    try:
        if suffix == ".txt":
            sets = text.splitlines()
        elif suffix == ".json":
            data = json.loads(text)
            if not isinstance(data, list):
                raise UserError(f"{p}: expected a JSON list of topic sets")
            sets = [_json_topic_set(item, str(p)) for item in data]
        elif suffix == ".jsonl":
            sets = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict) or "topics" not in row:
                        raise UserError(f"{p}:{n}: expected an object with a \"topics\" field")
                    sets.append(_json_topic_set(row["topics"], f"{p}:{n}"))
        else:
            raise UserError(f"{p}: topics files must be .txt, .json or .jsonl")
    except json.JSONDecodeError as exc:
        raise UserError(f"{p} is not valid JSON: {exc}") from None
    return _checked(sets, str(p))


def _http_get(url: str, *, params: dict | None, timeout: float, what: str, secret: bool = False) -> bytes:
    import httpx

    try:
        response = httpx.get(url, params=params, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        # With a secret in the query (SerpApi's api_key) the error text, which may quote the URL, is not shown.
        detail = type(exc).__name__ if secret else f"{type(exc).__name__}: {exc}"
        raise UserError(f"{what} failed: {detail}") from None
    if response.status_code >= 400:
        raise UserError(f"{what} failed: HTTP {response.status_code}")
    return response.content


def _google_trends_sets(content: bytes) -> list[str] | None:
    """Google Trends' RSS: each item's title plus its ht:news_item titles (feedparser keeps only the last of those)."""
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        return None
    for ns in GOOGLE_TRENDS_NS:
        items = root.findall("./channel/item")
        if any(item.find(f"{{{ns}}}news_item") is not None for item in items):
            return [
                join_topics([item.findtext("title") or ""] + [t.text or "" for t in item.iter(f"{{{ns}}}news_item_title")])
                for item in items
            ]
    return None


def fetch_feed_topics(url: str, *, timeout: float = 20.0) -> list[str]:
    """Topic sets from an RSS/Atom feed: one per entry title (Google Trends: title + news item titles)."""
    import feedparser

    content = _http_get(url, params=None, timeout=timeout, what=f"fetching feed {url}")
    sets = _google_trends_sets(content)
    if sets is None:
        feed = feedparser.parse(content)
        if feed.bozo and not feed.entries:
            raise UserError(f"{url} is not a readable RSS/Atom feed: {feed.get('bozo_exception')}")
        sets = [entry.get("title", "") for entry in feed.entries]
    return _checked(sets, f"feed {url}")


def fetch_serpapi_trends(
    *, base_url: str = SERPAPI_URL, geo: str = "US", timeout: float = 30.0, limit: int = MAX_TRENDS
) -> list[str]:
    """Google Trends "trending now" via SerpApi: per trend, its query plus its trend_breakdown joined with ", "."""
    api_key = os.environ.get(SERPAPI_KEY_ENV)
    if not api_key:
        raise UserError(f"the serpapi topic provider needs an API key in ${SERPAPI_KEY_ENV}")
    params = {"engine": "google_trends_trending_now", "geo": geo, "api_key": api_key}
    content = _http_get(base_url, params=params, timeout=timeout, what="SerpApi Google Trends request", secret=True)
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        raise UserError("SerpApi returned something that is not JSON") from None
    if not isinstance(data, dict) or "error" in data:
        raise UserError(f"SerpApi error: {data.get('error') if isinstance(data, dict) else 'unexpected reply'}")
    trends = data.get("trending_searches") or []
    sets = [join_topics([t.get("query", "")] + list(t.get("trend_breakdown") or [])) for t in trends if isinstance(t, dict)]
    return _checked(sets, "SerpApi's trending searches")[:limit]


def topic_sets_from(spec: str | None = None, *, serpapi_url: str = SERPAPI_URL, timeout: float = 20.0) -> list[str]:
    """Topic sets from "trending" (default), "serpapi", an http(s) feed URL, or a local file path."""
    spec = (spec or DEFAULT_PROVIDER).strip()
    if spec == "trending":
        return packaged_topic_sets()
    if spec == "serpapi":
        return fetch_serpapi_trends(base_url=serpapi_url, timeout=timeout)
    if spec.startswith(("http://", "https://")):
        return fetch_feed_topics(spec, timeout=timeout)
    return load_topic_file(spec)


class ExternalSource:
    """One question per external topic set, taken in order from `start`; cycles when k runs past the end.

    Question.meta["topic_index"] is the running index (position before the wrap), so a resumed run passes
    start = 1 + the largest stored topic_index and continues where it stopped.
    """

    method = "external"

    def __init__(
        self,
        generator: Generator,
        topic_sets: Sequence[str] | None = None,
        *,
        start: int = 0,
        temperature: float | None = None,
        question_params: GenParams = QUESTION_PARAMS,
    ):
        self.generator = generator
        self.topic_sets = list(topic_sets) if topic_sets is not None else packaged_topic_sets()
        if not self.topic_sets:
            raise UserError("the external method needs at least one topic set")
        self.position = start
        self.question_params = with_temperature(question_params, temperature)

    def seek(self, position: int) -> None:
        """Continue from the position-th topic set (a resumed run continues where it stopped)."""
        self.position = position

    def propose(self, k: int, rng: np.random.Generator) -> list[Question]:
        """The next k topic sets, one question each, in one generate call."""
        if k <= 0:
            return []
        indices = range(self.position, self.position + k)
        n = len(self.topic_sets)
        if self.position + k > n and self.position < n:
            log.info("external topics: %d sets for %d questions, cycling from the start", n, self.position + k)
        topics = [self.topic_sets[i % n] for i in indices]
        metas = [{"topic_index": i} for i in indices]
        questions = ask(
            self.generator,
            EXTERNAL_QUESTION_PROMPT,
            topics,
            metas,
            method=self.method,
            params=self.question_params,
            rng=rng,
        )
        self.position += k
        return questions
