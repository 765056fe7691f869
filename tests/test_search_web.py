"""Web search engines against a local HTTP server: success, HTTP 500, bad JSON, time-out, quota."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from http_server import LocalServer, json_route, respond

from selflearn.errors import UserError
from selflearn.protocols import SearchEngine
from selflearn.search.web import GoogleCustomSearch, SearxngSearch, SerpApiSearch

GOOGLE = {"items": [{"link": "https://a.example/1", "title": "A", "snippet": "a snip"},
                    {"title": "no link"}, {"link": "https://b.example/2", "title": "B"}]}
SERP = {"organic_results": [{"link": "https://s.example/1", "title": "S1", "snippet": "s snip"},
                            {"link": "https://s.example/2", "title": "S2", "snippet": ""}]}
SEARX = {"results": [{"url": "https://x.example/1", "title": "X1", "content": "x content"},
                     {"url": "https://x.example/2", "title": "X2", "content": "x2"}]}


def engines(srv: LocalServer, path: str) -> list:
    """One engine of each kind, all pointed at path on the local server."""
    return [
        GoogleCustomSearch(srv.url(path) + "?q=", timeout=0.5),
        SerpApiSearch("KEY", base_url=srv.url(path), timeout=0.5),
        SearxngSearch(srv.url(path.rsplit("/search", 1)[0]) if path.endswith("/search") else srv.url(path), timeout=0.5),
    ]


def test_google_prefix_mode_appends_the_encoded_query():
    with LocalServer({"/g": json_route(GOOGLE)}) as srv:
        engine = GoogleCustomSearch(srv.url("/g") + "?key=K&cx=C&q=")
        assert isinstance(engine, SearchEngine)
        hits = engine.search("what is a twayblade & why?", 5)
        query = parse_qs(urlsplit(srv.requests[0]).query)
    assert query["q"] == ["what is a twayblade & why?"] and query["key"] == ["K"]
    assert [h.url for h in hits] == ["https://a.example/1", "https://b.example/2"]
    assert hits[0].title == "A" and hits[0].snippet == "a snip" and [h.rank for h in hits] == [1, 2]
    assert hits[0].text == ""  # web hits carry no text; the reader fetches it


def test_google_api_key_mode_and_k():
    with LocalServer({"/customsearch/v1": json_route(GOOGLE)}) as srv:
        engine = GoogleCustomSearch(api_key="K", cx="C", endpoint=srv.url("/customsearch/v1"))
        hits = engine.search("ecchymosis", 1)
        query = parse_qs(urlsplit(srv.requests[0]).query)
    assert query == {"key": ["K"], "cx": ["C"], "q": ["ecchymosis"], "num": ["1"]}
    assert len(hits) == 1


def test_serpapi_and_searxng_success():
    with LocalServer({"/serp": json_route(SERP), "/search": json_route(SEARX)}) as srv:
        serp = SerpApiSearch("KEY", base_url=srv.url("/serp")).search("q1", 10)
        searx = SearxngSearch(srv.url("/")).search("q2", 1)
        serp_q = parse_qs(urlsplit(srv.requests[0]).query)
        searx_q = parse_qs(urlsplit(srv.requests[1]).query)
    assert [h.title for h in serp] == ["S1", "S2"] and serp[0].snippet == "s snip"
    assert serp_q == {"q": ["q1"], "engine": ["google"], "api_key": ["KEY"], "num": ["10"]}
    assert [h.url for h in searx] == ["https://x.example/1"] and searx[0].snippet == "x content"
    assert searx_q == {"q": ["q2"], "format": ["json"]}


@pytest.mark.parametrize("route,expected", [
    (respond(500, "boom", "text/plain"), "HTTPStatusError"),
    (respond(200, "{not json", "application/json"), "bad JSON"),
    (json_route(["a", "list"]), "unexpected answer"),
    (json_route({"error": "Invalid API key"}), "unexpected answer"),
    (respond(429, "slow down", "text/plain"), "quota"),
    (json_route({}, delay=1.5), "Timeout"),
])
def test_failures_warn_name_engine_and_query_and_give_no_hits(route, expected, caplog):
    with LocalServer({"/search": route}) as srv:
        for engine in engines(srv, "/search"):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="selflearn.search.web"):
                assert engine.search("the query", 3) == []
            message = caplog.records[-1].getMessage()
            assert engine.name in message and "'the query'" in message and expected in message


def test_empty_answer_is_no_hits_without_warning(caplog):
    with LocalServer({"/search": json_route({"results": []})}) as srv:
        with caplog.at_level(logging.WARNING):
            assert SearxngSearch(srv.url("/")).search("nothing", 3) == []
    assert not caplog.records


def test_connection_refused_gives_no_hits():
    with LocalServer({}) as srv:
        port = srv.port
    assert SearxngSearch(f"http://127.0.0.1:{port}", timeout=0.5).search("q", 3) == []


def test_missing_configuration_is_a_user_error(monkeypatch):
    for var in ("CUSTOM_SEARCH_URL", "GOOGLE_CUSTOM_SEARCH_URL", "GOOGLE_API_KEY", "GOOGLE_CSE_ID", "SERP_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match="CUSTOM_SEARCH_URL"):
        GoogleCustomSearch()
    with pytest.raises(UserError, match="SERP_API_KEY"):
        SerpApiSearch()
    with pytest.raises(UserError, match="http"):
        SearxngSearch("localhost:8888")
    monkeypatch.setenv("GOOGLE_CUSTOM_SEARCH_URL", "http://127.0.0.1:1/?q=")
    assert GoogleCustomSearch().url_prefix == "http://127.0.0.1:1/?q="
