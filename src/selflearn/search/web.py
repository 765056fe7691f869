"""Web search engines behind selflearn.protocols.SearchEngine: Google Custom Search, SerpApi, SearXNG.

Each is one HTTP GET that returns JSON. Every failure (HTTP error, time-out, bad JSON, quota, unexpected shape)
is logged as a warning naming the engine and the query, and gives no hits: search() never raises.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import quote_plus

import httpx

from selflearn.errors import UserError
from selflearn.types import Hit

log = logging.getLogger(__name__)

GOOGLE_ENDPOINT = "https://www.googleapis.com/customsearch/v1"
SERPAPI_ENDPOINT = "https://serpapi.com/search"


class JsonSearchEngine:
    """Shared plumbing: build the request, GET it with time-outs, parse the JSON into hits, never raise."""

    name = "web"
    # JSON keys of one result: (list key, url key, title key, snippet key)
    fields: tuple[str, str, str, str] = ("results", "url", "title", "content")

    def __init__(self, *, timeout: float = 10.0, client: httpx.Client | None = None):
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True)

    def request(self, query: str, k: int) -> tuple[str, dict[str, Any]]:
        """The URL and query parameters for one search."""
        raise NotImplementedError

    def search(self, query: str, k: int) -> list[Hit]:
        """Up to k hits for query; [] (with a warning) on any failure."""
        url, params = self.request(query, k)
        try:
            resp = self._client.get(url, params=params or None)
            if resp.status_code == 429:
                log.warning("%s search: quota exhausted (HTTP 429) for query %r", self.name, query)
                return []
            resp.raise_for_status()
            payload = resp.json()
            return self.parse(payload)[:k]
        except httpx.HTTPError as exc:
            log.warning("%s search failed for query %r: %s: %s", self.name, query, type(exc).__name__, exc)
        except ValueError as exc:  # bad JSON (json.JSONDecodeError is a ValueError)
            log.warning("%s search gave bad JSON for query %r: %s", self.name, query, exc)
        except (KeyError, TypeError, AttributeError) as exc:
            log.warning("%s search gave an unexpected answer for query %r: %r", self.name, query, exc)
        return []

    def parse(self, payload: Any) -> list[Hit]:
        """Hits from the engine's JSON answer (results without a URL are skipped)."""
        if isinstance(payload, dict) and payload.get("error"):
            raise KeyError(f"engine error: {str(payload['error'])[:200]}")
        list_key, url_key, title_key, snippet_key = self.fields
        items = payload.get(list_key) or []  # no results is an empty answer, not an error
        hits = []
        for item in items:
            url = item.get(url_key)
            if isinstance(url, str) and url:
                hits.append(Hit(url=url, title=str(item.get(title_key) or ""),
                                snippet=str(item.get(snippet_key) or ""), rank=len(hits) + 1))
        return hits

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


class GoogleCustomSearch(JsonSearchEngine):
    """Google Custom Search JSON API: a URL prefix to which the URL-encoded query is appended (the paper's
    CUSTOM_SEARCH_URL / GOOGLE_CUSTOM_SEARCH_URL), or an API key and engine id (cx) against endpoint."""

    name = "google"
    fields = ("items", "link", "title", "snippet")

    def __init__(self, url_prefix: str | None = None, *, api_key: str | None = None, cx: str | None = None,
                 endpoint: str = GOOGLE_ENDPOINT, timeout: float = 10.0, client: httpx.Client | None = None):
        url_prefix = url_prefix or os.environ.get("CUSTOM_SEARCH_URL") or os.environ.get("GOOGLE_CUSTOM_SEARCH_URL")
        api_key = api_key or os.environ.get("GOOGLE_API_KEY")
        cx = cx or os.environ.get("GOOGLE_CSE_ID")
        if not url_prefix and not (api_key and cx):
            raise UserError("Google search needs CUSTOM_SEARCH_URL (or GOOGLE_CUSTOM_SEARCH_URL), "
                            "or an API key and engine id (GOOGLE_API_KEY and GOOGLE_CSE_ID)")
        self.url_prefix, self.api_key, self.cx, self.endpoint = url_prefix, api_key, cx, endpoint
        super().__init__(timeout=timeout, client=client)

    def request(self, query: str, k: int) -> tuple[str, dict[str, Any]]:
        """The prefix plus the encoded query, or the endpoint with key, cx, q and num (the API allows 1..10)."""
        if self.url_prefix:
            return self.url_prefix + quote_plus(query), {}
        return self.endpoint, {"key": self.api_key, "cx": self.cx, "q": query, "num": max(1, min(k, 10))}


class SerpApiSearch(JsonSearchEngine):
    """SerpApi (engine=google): organic_results[].link/title/snippet; the key from SERP_API_KEY by default."""

    name = "serpapi"
    fields = ("organic_results", "link", "title", "snippet")

    def __init__(self, api_key: str | None = None, *, base_url: str = SERPAPI_ENDPOINT, engine: str = "google",
                 timeout: float = 10.0, client: httpx.Client | None = None):
        self.api_key = api_key or os.environ.get("SERP_API_KEY")
        if not self.api_key:
            raise UserError("SerpApi search needs an API key: set SERP_API_KEY")
        self.base_url, self.engine = base_url, engine
        super().__init__(timeout=timeout, client=client)

    def request(self, query: str, k: int) -> tuple[str, dict[str, Any]]:
        """base_url with q, engine, api_key and num."""
        return self.base_url, {"q": query, "engine": self.engine, "api_key": self.api_key, "num": k}


class SearxngSearch(JsonSearchEngine):
    """A SearXNG instance's JSON API: {base_url}/search?format=json, results[].url/title/content."""

    name = "searxng"
    fields = ("results", "url", "title", "content")

    def __init__(self, base_url: str, *, timeout: float = 10.0, client: httpx.Client | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"SearXNG base URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        super().__init__(timeout=timeout, client=client)

    def request(self, query: str, k: int) -> tuple[str, dict[str, Any]]:
        """{base_url}/search with q and format=json (SearXNG has no result-count parameter: hits are cut to k)."""
        return self.base_url + "/search", {"q": query, "format": "json"}
