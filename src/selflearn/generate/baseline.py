"""The paper's baseline generator: a deterministic dummy whose every answer is the prompt followed by "..."."""

from __future__ import annotations

from typing import Sequence

from selflearn.types import GenParams


class BaselineGenerator:
    """Every completion is the prompt (the user turn) + "...", n identical copies; no model at all."""

    name = "baseline"

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams | None = None) -> list[list[str]]:
        """n copies of prompt + "..." per prompt (params are ignored: the dummy is deterministic)."""
        return [[f"{p}..."] * n for p in prompts]
