"""Sentence splitting of passages. The paper used spaCy en_core_web_sm; pysbd is rule-based and needs no download."""

from __future__ import annotations


class SentenceSplitter:
    """Splits English text into stripped, non-empty sentences; builds its pysbd Segmenter once."""

    def __init__(self, language: str = "en"):
        import pysbd

        # clean=False keeps the text as written, so sentences stay substrings of the passage.
        self._segmenter = pysbd.Segmenter(language=language, clean=False)

    def split(self, text: str) -> list[str]:
        """The sentences of text; [] for empty or whitespace-only text."""
        if not text or not text.strip():
            return []
        pieces = (piece.strip() for piece in self._segmenter.segment(text))
        return [piece for piece in pieces if piece]

    __call__ = split


def split_sentences(text: str) -> list[str]:
    """Split one text with a fresh splitter (convenience; reuse a SentenceSplitter on hot paths)."""
    return SentenceSplitter().split(text)
