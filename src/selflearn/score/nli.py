"""SelfCheckGPT-NLI, as the paper ran it, with every (sentence, sample) pair of a batch in length-sorted batches.

For each passage sentence s and sample x, the pair (s, x) goes through an MNLI model (truncation=True, i.e.
"longest_first", as SelfCheckGPT's SelfCheckNLI calls batch_encode_plus) and the score is the softmax
probability of contradiction. The paper's potsawee/deberta-v3-large-mnli has two labels (entailment,
contradiction; neutral removed). For a three-label MNLI head we take the softmax over the entailment and
contradiction logits only: the faithful equivalent of removing neutral. Sentence score = mean over samples.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from selflearn.errors import UserError
from selflearn.score import mean_by_sentence, sentence_sample_pairs
from selflearn.types import Answer

log = logging.getLogger(__name__)

DEFAULT_NLI_MODEL = "potsawee/deberta-v3-large-mnli"


def contradiction_columns(id2label: dict[int, str]) -> tuple[int, int]:
    """(entailment, contradiction) logit columns of an NLI head, found by label name (case-insensitive)."""
    names = {int(i): str(label).lower() for i, label in id2label.items()}
    found = {}
    for want in ("entailment", "contradiction"):
        hits = [i for i, name in names.items() if name.startswith(want[:6])]
        if len(hits) == 1:
            found[want] = hits[0]
    if len(found) == 2:
        return found["entailment"], found["contradiction"]
    if len(names) == 2:
        # SelfCheckGPT reads column 1 as contradiction for its unnamed two-label head.
        log.warning("NLI labels %s are not named; assuming 0 = entailment, 1 = contradiction", names)
        return 0, 1
    raise UserError(f"cannot find entailment and contradiction labels among the NLI model's labels {names}")


class NLIScorer:
    """SelfCheckGPT-NLI with an MNLI sequence classifier (local folder or hub id)."""

    def __init__(self, model_name_or_path: str = DEFAULT_NLI_MODEL, *, device: str | None = None,
                 batch_size: int = 64, max_length: int = 512):
        self.model_name_or_path = str(model_name_or_path)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None
        self._tokenizer = None
        self._columns: tuple[int, int] | None = None

    def _load(self):
        if self._model is not None:
            return self._model, self._tokenizer
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        name = self.model_name_or_path
        local = Path(name).expanduser()
        if (name.startswith((".", "/", "~")) or local.exists()) and not local.is_dir():
            raise UserError(f"NLI model folder {local} does not exist")
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
        source = str(local) if local.is_dir() else name
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
            model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=offline)
        except (OSError, ValueError) as exc:
            hint = " (HF_HUB_OFFLINE is set: only cached or local models load)" if offline else ""
            raise UserError(f"cannot load NLI model {name!r}{hint}: {exc}") from None
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model, self._tokenizer = model.to(device).eval(), tokenizer
        self._columns = contradiction_columns(model.config.id2label)
        log.info("NLI model %s on %s, columns (entailment, contradiction) = %s", name, device, self._columns)
        return self._model, self._tokenizer

    def contradiction(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """P(contradiction) for each (sentence, sample) pair, run in length-sorted batches."""
        if not pairs:
            return np.zeros(0)
        import torch

        model, tokenizer = self._load()
        ent, con = self._columns
        enc = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True, max_length=self.max_length)
        names = [k for k in tokenizer.model_input_names if k in enc]
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        out = np.empty(len(pairs))
        device = next(model.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                feats = [{k: enc[k][i] for k in names} for i in idx]
                batch = tokenizer.pad(feats, padding=True, return_tensors="pt").to(device)
                logits = model(**batch).logits.float()
                # Softmax over entailment and contradiction only: for a 2-label head that is the whole head.
                probs = torch.softmax(logits[:, [ent, con]], dim=-1)[:, 1]
                out[idx] = probs.cpu().numpy()
        return out

    def score(self, answers: Sequence[Answer]) -> list[np.ndarray]:
        """Sentence scores per answer: mean over non-empty samples of P(contradiction | sentence, sample)."""
        pairs, owners = sentence_sample_pairs(answers)
        return mean_by_sentence(answers, owners, self.contradiction(pairs))
