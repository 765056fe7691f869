"""Fit the offline hallucination scorer on the paper's real NLI verdicts and print the leave-one-file-out table.

    .venv/bin/python scripts/fit_offline_scorer.py [--reference DIR] [--out src/selflearn/resources/data/offline_scorer.json]

For each of the three reference files: fit on the other two, predict this one, and compare the predicted passage
scores with the stored NLI passage scores (AUROC against the stored Q_H split, Spearman). Then fit on all three and
write the parameters. MiniLM encodings of every distinct text are cached under selflearn.resources.cache_dir().
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from selflearn.resources import cache_dir, package_data
from selflearn.score.agreement import agreement
from selflearn.score.features import FEATURE_NAMES, Encoded, TokenEncoder, answer_features, content_mask, texts_to_encode
from selflearn.score.offline import fit_model
from selflearn.seedformat import load_result_file
from selflearn.types import nan_safe_mean

log = logging.getLogger("fit_offline_scorer")
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"


def load_reference(folder: Path) -> dict[str, list[dict]]:
    """{file stem: [answer records with passage_sentences, samples, sentence_scores]} for each result pickle."""
    files = sorted(folder.glob("*.pickle"))
    if not files:
        raise SystemExit(f"no reference pickles in {folder}")
    out = {}
    for path in files:
        data = load_result_file(path)
        out[path.stem] = data["prompts_with_hallucination"] + data["prompts_with_no_hallucination"]
    return out


def encode_cached(texts: list[str], encoder: TokenEncoder) -> dict[str, Encoded]:
    """Encode texts once; tokens are cached as float16 in one .npz keyed by a hash of the text list."""
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = cache_dir() / f"offline_scorer_minilm_{key}.npz"
    if path.is_file():
        z = np.load(path)
        tokens, offsets, pooled = z["tokens"].astype(np.float32), z["offsets"], z["pooled"]
    else:
        t0 = time.time()
        encs = encoder.encode(texts)
        log.info("encoded %d texts in %.0f s", len(texts), time.time() - t0)
        offsets = np.cumsum([0] + [len(e.tokens) for e in encs])
        tokens = np.concatenate([e.tokens for e in encs]).astype(np.float16)
        pooled = np.stack([e.pooled for e in encs])
        np.savez(path, tokens=tokens, offsets=offsets, pooled=pooled)
        tokens = tokens.astype(np.float32)
    masks = _content_masks(texts, encoder)
    return {t: Encoded(tokens[offsets[i] : offsets[i + 1]], pooled[i], masks[i]) for i, t in enumerate(texts)}


def _content_masks(texts: list[str], encoder: TokenEncoder) -> list[np.ndarray]:
    """Content-token masks as TokenEncoder.encode makes them (cheap: tokenizer only, no model pass)."""
    from transformers import AutoTokenizer

    from selflearn.embed import packaged_minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(encoder.model_path or packaged_minilm_path()))
    ids = tokenizer(texts, truncation=True, max_length=encoder.max_length - 2, add_special_tokens=False)["input_ids"]
    return [content_mask(tokenizer.convert_ids_to_tokens(row)) for row in ids]


def build_features(records: dict[str, list[dict]], encoder: TokenEncoder) -> dict[str, tuple]:
    """{file: (X sentence features, y stored sentence scores, answer index per sentence, stored passage scores)}."""
    texts = sorted({t for recs in records.values() for r in recs
                    for t in texts_to_encode(r["passage_sentences"], r["samples"])})
    enc = encode_cached(texts, encoder)
    out = {}
    for name, recs in records.items():
        xs, ys, idx = [], [], []
        for a, r in enumerate(recs):
            feats = answer_features(r["passage_sentences"], r["samples"], enc)
            xs.append(feats)
            ys.append(np.asarray(r["sentence_scores"], dtype=float))
            idx.append(np.full(len(feats), a))
        passage = np.array([nan_safe_mean(np.asarray(r["sentence_scores"], dtype=float)) for r in recs])
        out[name] = (np.concatenate(xs), np.concatenate(ys), np.concatenate(idx), passage)
    return out


def passage_scores(pred: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    """NaN-safe mean of sentence predictions per answer."""
    return np.array([nan_safe_mean(pred[idx == a]) for a in range(n)])


def _train_rows(feats: dict[str, tuple], names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.concatenate([feats[n][0] for n in names])
    y = np.concatenate([feats[n][1] for n in names])
    # Each file weighs the same, so the largest (most sentences) does not dominate the fit.
    w = np.concatenate([np.full(len(feats[n][1]), 1.0 / len(feats[n][1])) for n in names])
    keep = ~(np.isnan(x).any(1) | np.isnan(y))
    return x[keep], y[keep], w[keep] * keep.sum() / w[keep].sum()


def leave_one_out(feats: dict[str, tuple], **fit_kwargs) -> tuple[list[dict], dict]:
    """Fit on all files but one, measure on that one; one row and one model per held-out file."""
    rows, models = [], {}
    for held in feats:
        x, y, w = _train_rows(feats, [n for n in feats if n != held])
        model = fit_model(x, y, w, **fit_kwargs)
        hx, _, hidx, stored = feats[held]
        pred = passage_scores(model.predict(hx), hidx, len(stored))
        rows.append({"held_out": held, **agreement(stored, pred)})
        models[held] = model
    return rows, models


def main() -> None:
    """Reproduce the fit: leave-one-file-out table, then the shipped parameters fitted on all files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=package_data("offline_scorer.json"))
    parser.add_argument("--no-write", action="store_true", help="only print the leave-one-out table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    feats = build_features(load_reference(args.reference), TokenEncoder())
    rows, models = leave_one_out(feats)
    print(f"{'held-out file':60s} {'AUROC':>6s} {'Spearman':>8s} {'n':>5s}")
    for r in rows:
        print(f"{r['held_out']:60s} {r['auroc']:6.3f} {r['spearman']:8.3f} {r['n']:5d}")
    print(f"{'mean':60s} {np.mean([r['auroc'] for r in rows]):6.3f} {np.mean([r['spearman'] for r in rows]):8.3f}")
    if args.no_write:
        return
    x, y, w = _train_rows(feats, list(feats))
    params = fit_model(x, y, w).to_json()
    params["feature_names"] = list(FEATURE_NAMES)
    params["leave_one_file_out"] = rows
    # The model fitted without the smallest file lets the tests check agreement on a model it never saw.
    held = min(feats, key=lambda n: len(feats[n][1]))
    params["check_model"] = {**models[held].to_json(), "held_out": held,
                             "auroc": next(r["auroc"] for r in rows if r["held_out"] == held)}
    args.out.write_text(json.dumps(params, separators=(",", ":")))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
