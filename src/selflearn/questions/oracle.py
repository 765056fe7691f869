"""Oracle-selected topics: three WordNet nouns near a random point of the embedding space, then one question.

The topic space (PAPER.md, "Methods"): every "lemma ### definition" string of WordNet's nouns is embedded once
(cached under cache_dir()/wordnet/), rows L1-normalised into a KD-tree. Each question draws a standard-normal
point, L1-normalises it, takes the 10 nearest strings and samples 3 of their lemmas as the topics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from selflearn.protocols import Embedder, Generator
from selflearn.questions import ask, with_temperature
from selflearn.questions.prompts import OPEN_QUESTION_PROMPT
from selflearn.resources import cache_dir
from selflearn.resources.wordnet import lemma_of
from selflearn.types import QUESTION_PARAMS, GenParams, Question

log = logging.getLogger(__name__)

N_NEIGHBOURS = 10
N_TOPICS = 3
EMBED_CHUNK = 4096  # strings per embed() call: progress is logged per chunk


def l1_normalise(x: np.ndarray) -> np.ndarray:
    """Rows divided by their L1 norm (all-zero rows stay zero), as torch's F.normalize(p=1) in the paper."""
    norms = np.abs(x).sum(axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def embedder_id(embedder: Embedder) -> str:
    """A name for an embedder that keys its cache: its .name, else its class (and width)."""
    name = getattr(embedder, "name", None) or f"{type(embedder).__name__}{getattr(embedder, 'dim', '')}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_")[-60:]


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def embed_all(strings: Sequence[str], embedder: Embedder, *, chunk: int = EMBED_CHUNK) -> np.ndarray:
    """Embed many strings in chunks, shortest first (less padding per batch), rows back in input order."""
    order = np.argsort([len(s) for s in strings], kind="stable")
    out: np.ndarray | None = None
    start = time.perf_counter()
    for lo in range(0, len(order), chunk):
        idx = order[lo : lo + chunk]
        rows = np.asarray(embedder.embed([strings[i] for i in idx]), dtype=np.float32)
        if out is None:
            out = np.empty((len(strings), rows.shape[1]), dtype=np.float32)
        out[idx] = rows
        done = lo + len(idx)
        rate = done / max(time.perf_counter() - start, 1e-9)
        log.info("embedded %d/%d WordNet strings (%.0f/s, ~%.0f s left)", done, len(strings), rate, (len(strings) - done) / rate)
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def cached_embeddings(strings: Sequence[str], embedder: Embedder, *, root: Path | None = None) -> np.ndarray:
    """The embedding matrix of strings, computed once per (embedder, string list) and kept under root."""
    digest = hashlib.sha1("\n".join(strings).encode("utf-8")).hexdigest()[:12]
    folder = (root or cache_dir() / "wordnet")
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{embedder_id(embedder)}-{digest}"
    matrix_path, strings_path = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if matrix_path.is_file() and strings_path.is_file():
        try:
            matrix = np.load(matrix_path)
            if json.loads(strings_path.read_text(encoding="utf-8")) == list(strings) and len(matrix) == len(strings):
                return matrix
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable embedding cache %s: %s", matrix_path, exc)
        log.warning("embedding cache %s does not match; recomputing", matrix_path)
    log.info("embedding %d WordNet strings once (cached in %s)", len(strings), folder)
    matrix = embed_all(strings, embedder)
    # Matrix first, strings last: a readable strings file means the matrix beside it is complete.
    _atomic_write(matrix_path, lambda fh: np.save(fh, matrix))
    _atomic_write(strings_path, lambda fh: fh.write(json.dumps(list(strings), ensure_ascii=False).encode("utf-8")))
    return matrix


class TopicSpace:
    """Strings with L1-normalised embeddings; samples topic sets near random points.

    The paper put the points in a KD-tree. In 384 dimensions a KD-tree degenerates to scanning most leaves
    (~0.3 s a query here), so the exact same 10 nearest neighbours come from one matrix product per batch.
    """

    def __init__(self, strings: Sequence[str], embeddings: np.ndarray):
        if len(strings) != len(embeddings) or len(strings) < N_NEIGHBOURS:
            raise ValueError(f"need >= {N_NEIGHBOURS} strings with one embedding each, got {len(strings)}/{len(embeddings)}")
        self.strings = list(strings)
        self.dim = int(embeddings.shape[1])
        self.points = l1_normalise(np.asarray(embeddings, dtype=np.float32))
        self.sq_norms = np.einsum("ij,ij->i", self.points, self.points)

    def nearest(self, queries: np.ndarray, n_neighbours: int) -> np.ndarray:
        """Indices of the n nearest points (Euclidean) to each query row, nearest first."""
        # |p - q|^2 = |p|^2 - 2 p.q + |q|^2; |q|^2 is the same for every p, so it does not change the order.
        dist = self.sq_norms[None, :] - 2.0 * (queries.astype(np.float32) @ self.points.T)
        part = np.argpartition(dist, n_neighbours - 1, axis=1)[:, :n_neighbours]
        order = np.take_along_axis(dist, part, axis=1).argsort(axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1)

    def sample(
        self, k: int, rng: np.random.Generator, *, n_neighbours: int = N_NEIGHBOURS, n_topics: int = N_TOPICS
    ) -> list[str]:
        """k topic strings: all k random points are drawn first and searched in one batch, then the choices."""
        points = l1_normalise(rng.standard_normal((k, self.dim)))
        topics = []
        for row in self.nearest(points, n_neighbours):
            picked = rng.choice(row, size=n_topics, replace=False)
            topics.append(", ".join(lemma_of(self.strings[i]).replace("_", " ") for i in picked))
        return topics

    @classmethod
    def from_wordnet(cls, embedder: Embedder, *, reader=None, cache_root: Path | None = None) -> "TopicSpace":
        """The paper's space: WordNet noun "lemma ### definition" strings, embeddings cached on disk."""
        from selflearn.resources.wordnet import noun_lemma_strings

        strings = noun_lemma_strings(reader)
        return cls(strings, cached_embeddings(strings, embedder, root=cache_root))


class OracleSource:
    """The paper's oracle-selected method: WordNet topics near a random point, one question each."""

    method = "oracle"

    def __init__(
        self,
        generator: Generator,
        space: TopicSpace | None = None,
        *,
        embedder: Embedder | None = None,
        temperature: float | None = None,
        question_params: GenParams = QUESTION_PARAMS,
    ):
        self.generator = generator
        self._space = space
        self._embedder = embedder
        self.question_params = with_temperature(question_params, temperature)

    @property
    def space(self) -> TopicSpace:
        """The topic space, built from WordNet on first use (embedding all nouns once if not cached)."""
        if self._space is None:
            if self._embedder is None:
                from selflearn.embed import SentenceTransformerEmbedder

                self._embedder = SentenceTransformerEmbedder()
            self._space = TopicSpace.from_wordnet(self._embedder)
        return self._space

    def propose(self, k: int, rng: np.random.Generator) -> list[Question]:
        """k questions about k sampled WordNet topic sets, in one generate call."""
        if k <= 0:
            return []
        topics = self.space.sample(k, rng)
        return ask(
            self.generator, OPEN_QUESTION_PROMPT, topics, [{}] * k, method=self.method, params=self.question_params, rng=rng
        )
