"""Self-questioning: the paper's four methods plus its baseline, each a QuestionSource (one file per method).

Every source batches: one generate() call for all the topic prompts of a propose() call, one for all its
question prompts. The helpers here are what the sources share; prompts live in prompts.py.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from selflearn.protocols import Generator
from selflearn.types import GenParams, Question

# name -> "module:class", imported lazily (the oracle pulls in scipy and an embedder).
SOURCES = {
    "open": "selflearn.questions.open:OpenSource",
    "induced": "selflearn.questions.induced:InducedSource",
    "oracle": "selflearn.questions.oracle:OracleSource",
    "external": "selflearn.questions.external:ExternalSource",
    "baseline": "selflearn.questions.baseline:BaselineSource",
}


def with_temperature(params: GenParams, temperature: float | None) -> GenParams:
    """params at another temperature (0 means greedy), or unchanged when temperature is None."""
    if temperature is None:
        return params
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    return params.with_(temperature=float(temperature), do_sample=temperature > 0)


def seeded(params: GenParams, rng: np.random.Generator) -> GenParams:
    """params with a seed drawn from rng, so a run seeded once reproduces every sampled call."""
    return params.with_(seed=int(rng.integers(0, 2**31 - 1)))


def complete(generator: Generator, prompts: Sequence[str], params: GenParams, rng: np.random.Generator) -> list[str]:
    """One batched generate() call; the first completion of each prompt, whitespace-stripped."""
    if not prompts:
        return []
    outputs = generator.generate(list(prompts), n=1, params=seeded(params, rng))
    if len(outputs) != len(prompts) or any(len(out) < 1 for out in outputs):
        raise RuntimeError(f"generator returned {len(outputs)} completion lists for {len(prompts)} prompts")
    return [out[0].strip() for out in outputs]


def ask(
    generator: Generator,
    template: str,
    topics: Sequence[str],
    metas: Sequence[dict[str, Any]],
    *,
    method: str,
    params: GenParams,
    rng: np.random.Generator,
) -> list[Question]:
    """Fill template with each topic set (and its meta, e.g. the question word), generate all questions in one call."""
    prompts = [template.format(topics=t, **meta) for t, meta in zip(topics, metas, strict=True)]
    texts = complete(generator, prompts, params, rng)
    return [Question(topics=t, prompt=q, method=method, meta=dict(meta)) for t, q, meta in zip(topics, texts, metas)]


def load_source(name: str):
    """The QuestionSource class registered under name (open | induced | oracle | external | baseline)."""
    import importlib

    from selflearn.errors import UserError

    if name not in SOURCES:
        raise UserError(f"unknown question method {name!r}; choose one of {', '.join(SOURCES)}")
    module, attr = SOURCES[name].split(":")
    return getattr(importlib.import_module(module), attr)
