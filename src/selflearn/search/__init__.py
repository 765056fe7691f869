"""Knowledge searching: search engines (local FTS5 index, web APIs), the safe page reader, answer extractors.

Names are imported lazily so that `import selflearn.search` stays cheap (httpx, trafilatura load on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LocalIndex": "selflearn.search.local",
    "Document": "selflearn.search.local",
    "fts_query": "selflearn.search.local",
    "default_index_path": "selflearn.search.corpus",
    "ensure_default_index": "selflearn.search.corpus",
    "GoogleCustomSearch": "selflearn.search.web",
    "SerpApiSearch": "selflearn.search.web",
    "SearxngSearch": "selflearn.search.web",
    "PageReader": "selflearn.search.reader",
    "PageRecord": "selflearn.search.reader",
    "MemoryPageCache": "selflearn.search.reader",
    "SourceText": "selflearn.search.extract",
    "EmbeddingExtractor": "selflearn.search.extract",
    "HFExtractor": "selflearn.search.extract",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'selflearn.search' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
