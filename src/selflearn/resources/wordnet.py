"""WordNet 3.0 through nltk, read offline from the copy scripts/setup.sh installs (see wordnet_install.py)."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator, NamedTuple

from selflearn.errors import UserError

log = logging.getLogger(__name__)

# The paper's oracle strings join a lemma and its synset's definition with this separator.
LEMMA_SEPARATOR = " ### "


class Gloss(NamedTuple):
    """One synset as the search index reads it."""

    name: str  # e.g. "dog.n.01"
    pos: str  # n, v, a, s or r
    lemmas: list[str]  # lemma names with "_" (as WordNet spells them)
    definition: str
    examples: list[str]


def wordnet_roots() -> list[Path]:
    """The nltk data roots searched for corpora/wordnet, in order: $SELFLEARN_NLTK_DATA, sys.prefix, nltk.data.path."""
    import nltk.data

    roots: list[Path] = []
    if os.environ.get("SELFLEARN_NLTK_DATA"):
        roots.append(Path(os.environ["SELFLEARN_NLTK_DATA"]))
    roots.append(Path(sys.prefix) / "nltk_data")
    for entry in nltk.data.path:
        roots.append(Path(str(getattr(entry, "path", entry))))
    return roots


def find_wordnet_dir() -> Path:
    """The first corpora/wordnet folder holding a complete install (lexnames is written last)."""
    for root in wordnet_roots():
        folder = root.expanduser() / "corpora" / "wordnet"
        if (folder / "lexnames").is_file() and (folder / "data.noun").is_file():
            return folder
    raise UserError(
        "WordNet data not found (looked in $SELFLEARN_NLTK_DATA, sys.prefix/nltk_data and nltk.data.path): "
        "run scripts/setup.sh, or python -m selflearn.resources.wordnet_install DEST and set SELFLEARN_NLTK_DATA=DEST"
    )


def wordnet_reader():
    """An nltk WordNetCorpusReader over the installed WordNet 3.0 (no network, no omw)."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    folder = find_wordnet_dir()
    data_root = str(folder.parent.parent)
    # nltk 3.10 refuses to open corpus files outside the roots on nltk.data.path, so the root is registered there.
    if data_root not in [str(getattr(p, "path", p)) for p in nltk.data.path]:
        nltk.data.path.append(data_root)
    with warnings.catch_warnings():
        # Without Open Multilingual Wordnet nltk warns that multilingual functions are unavailable: expected here.
        warnings.simplefilter("ignore", UserWarning)
        return WordNetCorpusReader(str(folder), None)


def noun_lemma_strings(reader=None) -> list[str]:
    """The paper's oracle strings: "lemma ### definition" per (noun synset, lemma), duplicates dropped, first-seen order.

    The paper's code built the same list but deduplicated with list(set(...)), whose order changes between
    processes; keeping the first-seen order makes the cached embedding matrix reproducible.
    """
    wn = reader if reader is not None else wordnet_reader()
    strings: dict[str, None] = {}
    for synset in wn.all_synsets("n"):
        definition = str(synset.definition())
        for lemma in synset.lemmas():
            strings[f"{lemma.name()}{LEMMA_SEPARATOR}{definition}"] = None
    return list(strings)


def lemma_of(oracle_string: str) -> str:
    """The lemma part of a "lemma ### definition" string."""
    return oracle_string.split(LEMMA_SEPARATOR, 1)[0]


def all_glosses(reader=None) -> Iterator[Gloss]:
    """Every synset of nouns, verbs, adjectives (with satellites) and adverbs: 117,659 in WordNet 3.0."""
    wn = reader if reader is not None else wordnet_reader()
    for pos in ("n", "v", "a", "r"):  # "a" yields the satellites ("s") too
        for synset in wn.all_synsets(pos):
            yield Gloss(
                name=synset.name(),
                pos=synset.pos(),
                lemmas=[lemma.name() for lemma in synset.lemmas()],
                definition=synset.definition(),
                examples=list(synset.examples()),
            )
