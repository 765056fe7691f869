"""Names users type -> "module:attr" of the implementation, imported only when chosen (keeps --help fast)."""

from __future__ import annotations

import importlib
from typing import Any

from selflearn.errors import UserError

GENERATORS = {
    "transformers": "selflearn.generate.hf:HFGenerator",
    "openai": "selflearn.generate.openai:OpenAIGenerator",
    "vllm": "selflearn.generate.vllm:VLLMGenerator",
    "llamacpp": "selflearn.generate.llamacpp:LlamaCppGenerator",
    "baseline": "selflearn.generate.baseline:BaselineGenerator",
    "fake": "selflearn.generate.fake:FakeGenerator",
}
QUESTION_SOURCES = {
    "open": "selflearn.questions.open:OpenSource",
    "induced": "selflearn.questions.induced:InducedSource",
    "oracle": "selflearn.questions.oracle:OracleSource",
    "external": "selflearn.questions.external:ExternalSource",
    "baseline": "selflearn.questions.baseline:BaselineSource",
}
SCORERS = {
    "offline": "selflearn.score.offline:OfflineScorer",
    "nli": "selflearn.score.nli:NLIScorer",
    "llm": "selflearn.score.llm:LLMPromptScorer",
    "fake": "selflearn.score.fake:FakeScorer",
}
SEARCH_ENGINES = {
    "local": "selflearn.search.local:LocalIndex",
    "google": "selflearn.search.web:GoogleCustomSearch",
    "serpapi": "selflearn.search.web:SerpApiSearch",
    "searxng": "selflearn.search.web:SearxngSearch",
}
KINDS = {"generator": GENERATORS, "method": QUESTION_SOURCES, "scorer": SCORERS, "search engine": SEARCH_ENGINES}


def resolve(kind: str, name: str) -> Any:
    """Import and return the implementation registered under name, or fail with the valid names."""
    table = KINDS[kind]
    if name not in table:
        raise UserError(f"unknown {kind} {name!r}; choose one of: {', '.join(table)}")
    module, attr = table[name].split(":")
    return getattr(importlib.import_module(module), attr)
