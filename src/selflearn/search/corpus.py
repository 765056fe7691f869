"""The offline default corpus: WordNet 3.0 glosses (117,659 synsets of all four parts of speech), one document each.

A document's title is the synset's lemma names; its text reads "lemma1, lemma2 (noun): definition. Examples: ...".
The index is built once under the selflearn cache and reused; a build that did not finish is redone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from selflearn.resources import cache_dir
from selflearn.search.local import Document, LocalIndex

log = logging.getLogger(__name__)

WORDNET_SOURCE = "corpus:wordnet-3.0-glosses"  # source of the documents and meta key of the completion mark
POS_NAMES = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}

# (synset name, pos, lemmas, definition, examples), as selflearn.resources.wordnet.all_glosses() yields them
Gloss = tuple[str, str, Sequence[str], str, Sequence[str]]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def wordnet_documents(glosses: Iterable[Gloss]) -> Iterator[Document]:
    """One Document per synset: id = synset name, title = lemma names, text = lemmas (pos): definition. Examples."""
    for name, pos, lemmas, definition, examples in glosses:
        words = ", ".join(lemma.replace("_", " ") for lemma in lemmas)
        text = f"{words} ({POS_NAMES.get(pos, pos)}): {_sentence(definition)}"
        if examples:
            text += " Examples: " + "; ".join(e.strip() for e in examples) + "."
        yield Document(doc_id=name, title=words, text=text)


def default_index_path() -> Path:
    """Where the WordNet gloss index lives: <cache>/index/wordnet-3.0-glosses.sqlite."""
    return cache_dir() / "index" / "wordnet-3.0-glosses.sqlite"


def _all_glosses() -> Iterable[Gloss]:
    from selflearn.resources.wordnet import all_glosses  # a colleague's module; imported only when building

    return all_glosses()


def ensure_default_index(path: str | Path | None = None, *,
                         glosses: Callable[[], Iterable[Gloss]] | None = None) -> LocalIndex:
    """Open the WordNet gloss index, building it first if it is missing or unfinished (about a minute, once)."""
    index = LocalIndex(path or default_index_path())
    if index.get_meta(WORDNET_SOURCE) is not None:
        return index
    start = time.perf_counter()
    log.info("building the WordNet gloss index at %s (once)", index.db_path)
    count = index.add_documents(wordnet_documents((glosses or _all_glosses)()), source=WORDNET_SOURCE)
    index.optimize()
    index.set_meta(WORDNET_SOURCE, str(count))  # the completion mark, written last
    log.info("indexed %d WordNet synsets in %.1f s", count, time.perf_counter() - start)
    return index
