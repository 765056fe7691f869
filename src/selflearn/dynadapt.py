"""Dyn-Adapt (paper v4): instead of merging, a router switches the adapter on only for prompts like the ones it learned.

The router is a logistic regression on the base model's mean-pooled last hidden states of each prompt, fitted with
Q_NH = 0 and Q_H = 1. Features are always computed with the adapter disabled, so the router sees the same base
representation at training and at routing time. RoutedGenerator featurises generator.render(prompts) (the exact
model-input strings) when the generator has render(), else the prompts as given: train the router on the same kind
of text, e.g. HFGenerator.render([ANSWER_PROMPT.format(question=q) for q in questions]).
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from selflearn.errors import UserError
from selflearn.types import GenParams

log = logging.getLogger(__name__)


def _adapter_off(model: Any) -> contextlib.AbstractContextManager:
    """model.disable_adapter() for a PeftModel, a no-op for a plain model."""
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def prompt_features(model: Any, tokenizer: Any, prompts: Sequence[str], *, batch_size: int = 16,
                    max_length: int = 256) -> np.ndarray:
    """Mean-pooled (over real tokens) last hidden states of the base model, one float32 row per prompt."""
    import torch

    from selflearn.evaluate import pad_right

    width = getattr(getattr(model, "config", None), "hidden_size", 0)
    if not prompts:
        return np.zeros((0, width), np.float32)
    rows: list[np.ndarray] = []
    device = next(model.parameters()).device
    # Own right padding: real tokens keep positions 0..n-1 (features do not depend on the batch), and the
    # tokenizer needs no pad token and is not changed.
    ids = tokenizer(list(prompts), truncation=True, max_length=max_length)["input_ids"]
    with torch.no_grad(), _adapter_off(model):
        for i in range(0, len(ids), batch_size):
            inp, mask = pad_right(ids[i:i + batch_size])
            hidden = model(input_ids=inp.to(device), attention_mask=mask.to(device),
                           output_hidden_states=True).hidden_states[-1].float()
            m = mask.to(device).unsqueeze(-1).to(hidden.dtype)
            rows.append(((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy())
    return np.concatenate(rows).astype(np.float32)


@dataclass
class Router:
    """Standardise features, then a logistic regression: P(Q_H | prompt); routes to the adapter above threshold."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(route to adapter) for each feature row."""
        z = ((np.asarray(features, np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def route(self, features: np.ndarray) -> np.ndarray:
        """True where the adapter should be on."""
        return self.probability(features) > self.threshold

    def save(self, path: str | Path) -> Path:
        """Write the router as JSON (plain numbers, no pickle)."""
        data = {"coef": self.coef.tolist(), "intercept": float(self.intercept), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "threshold": self.threshold, "meta": self.meta}
        Path(path).write_text(json.dumps(data))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "Router":
        """Read a router written by save()."""
        p = Path(path)
        if not p.is_file():
            raise UserError(f"no such router file: {p}")
        try:
            d = json.loads(p.read_text())
            return cls(np.asarray(d["coef"], float), float(d["intercept"]), np.asarray(d["mean"], float),
                       np.asarray(d["scale"], float), float(d.get("threshold", 0.5)), dict(d.get("meta", {})))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{p} is not a router file: {exc}") from None


def fit_router(features_h: np.ndarray, features_nh: np.ndarray, *, c: float = 1.0, seed: int = 0) -> Router:
    """Fit the router on feature rows of Q_H (label 1) and Q_NH (label 0) prompts."""
    from sklearn.linear_model import LogisticRegression

    if len(features_h) == 0 or len(features_nh) == 0:
        raise UserError("Dyn-Adapt needs both Q_H and Q_NH prompts to fit its router")
    x = np.concatenate([features_h, features_nh]).astype(np.float64)
    y = np.r_[np.ones(len(features_h)), np.zeros(len(features_nh))]
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-8] = 1.0  # constant features would divide by zero
    # balanced: Q_H is usually the minority, and an unweighted fit would route almost nothing to the adapter.
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    clf.fit((x - mean) / scale, y)
    acc = float(clf.score((x - mean) / scale, y))
    log.info("router fitted on %d Q_H + %d Q_NH prompts, training accuracy %.3f", len(features_h), len(features_nh), acc)
    return Router(clf.coef_[0].copy(), float(clf.intercept_[0]), mean, scale,
                  meta={"n_h": len(features_h), "n_nh": len(features_nh), "train_accuracy": acc})


def train_router(base_model: Any, tokenizer: Any, prompts_h: Sequence[str], prompts_nh: Sequence[str],
                 *, batch_size: int = 16, c: float = 1.0) -> Router:
    """Dyn-Adapt's router: base-model features of Q_H (1) and Q_NH (0) prompts into a logistic regression."""
    feats = prompt_features(base_model, tokenizer, list(prompts_h) + list(prompts_nh), batch_size=batch_size)
    return fit_router(feats[:len(prompts_h)], feats[len(prompts_h):], c=c)


class RoutedGenerator:
    """A Generator over an HFGenerator-like object whose .model is a PeftModel: the router picks adapter on/off."""

    def __init__(self, generator: Any, router: Router, *, feature_batch_size: int = 16):
        if not hasattr(generator.model, "disable_adapter"):
            raise UserError("Dyn-Adapt needs the generator's model wrapped with the adapter (peft.PeftModel)")
        self.generator = generator
        self.router = router
        self.feature_batch_size = feature_batch_size
        self.last_routes: np.ndarray = np.zeros(0, bool)  # the latest call's decisions, for logging and reports

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams) -> list[list[str]]:
        """Route every prompt, generate each group in one batched call, return results in the prompts' order."""
        prompts = list(prompts)
        if not prompts:
            return []
        # Route on the exact model-input strings when the generator can render them (HFGenerator.render): the
        # router is trained on those (learnstages renders the answer prompts before train_router).
        render = getattr(self.generator, "render", None)
        texts = render(prompts) if callable(render) else prompts
        feats = prompt_features(self.generator.model, self.generator.tokenizer, texts,
                                batch_size=self.feature_batch_size)
        routes = self.router.route(feats)
        self.last_routes = routes
        out: list[list[str] | None] = [None] * len(prompts)
        on = [i for i in range(len(prompts)) if routes[i]]
        off = [i for i in range(len(prompts)) if not routes[i]]
        if on:
            for i, res in zip(on, self.generator.generate([prompts[i] for i in on], n=n, params=params)):
                out[i] = res
        if off:
            with self.generator.model.disable_adapter():
                for i, res in zip(off, self.generator.generate([prompts[i] for i in off], n=n, params=params)):
                    out[i] = res
        log.debug("Dyn-Adapt routed %d of %d prompts to the adapter", len(on), len(prompts))
        return out  # type: ignore[return-value]
