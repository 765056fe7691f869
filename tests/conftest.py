"""Shared test set-up: no network, a private cache, and the paper's reference files when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"
REFERENCE_PICKLES = sorted(REFERENCE_DIR.glob("*.pickle")) if REFERENCE_DIR.is_dir() else []


@pytest.fixture
def reference_dir() -> Path:
    """The paper's published result files (the repo's sibling shared/ folder)."""
    if not REFERENCE_PICKLES:
        pytest.skip("shared/fixtures/reference is not beside this checkout")
    return REFERENCE_DIR


@pytest.fixture(autouse=True)
def one_torch_thread_for_tiny_models(request):
    """Tiny models spend their time in thread hand-offs, not arithmetic: one torch thread is many times faster."""
    if request.node.get_closest_marker("integration") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
