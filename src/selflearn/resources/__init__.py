"""Where selflearn keeps what it derives once and reuses: converted models, WordNet embeddings, indexes."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root: $SELFLEARN_CACHE, else ~/.cache/selflearn. Created on first use."""
    root = Path(os.environ.get("SELFLEARN_CACHE") or Path.home() / ".cache" / "selflearn")
    root.mkdir(parents=True, exist_ok=True)
    return root


def package_data(name: str) -> Path:
    """A file shipped inside the package (fitted scorer parameters, topic sets)."""
    return Path(__file__).parent / "data" / name
