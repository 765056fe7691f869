"""Hallucination scorers alone: (sentence, sample) pairs per second, batched vs one pair per model pass.

    python benchmarks/scorers.py [--answers 20] [--nli-layers 12] [--threads N]

The pairs are real: passages, passage sentences and samples of the paper's result files in
shared/fixtures/reference/. Scorers:
- offline (the default): selflearn.score.offline.OfflineScorer, all answers in one score() call vs one call per
  (sentence, sample) pair (what SelfCheckGPT's per-pair loop would do with it);
- nli: selflearn.score.nli.NLIScorer on a randomly initialised DebertaV2ForSequenceClassification of
  DeBERTa-v3-xsmall's shape (12 layers, hidden 384, 6 heads, FFN 1536; the paper's deberta-v3-large has 24 layers
  of hidden 1024, about 18x the compute per token, too slow to time on this CPU), with the packaged MiniLM's
  WordPiece vocabulary; contradiction() on all pairs (length-sorted batches of 64) vs one pair per call.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from selflearn.types import Answer

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"


def load_answers(n: int, folder: Path = REFERENCE) -> list[Answer]:
    """n answers with passage sentences and samples, taken in turn from each reference result file."""
    from selflearn.seedformat import load_result_file

    per_file = []
    for path in sorted(folder.glob("*.pickle")):
        data = load_result_file(path)
        records = data["prompts_with_hallucination"] + data["prompts_with_no_hallucination"]
        per_file.append([Answer(r["prompt"], r["passage"], list(r["samples"]), list(r["passage_sentences"]))
                         for r in records if r.get("passage_sentences") and r.get("samples")])
    if not per_file:
        raise SystemExit(f"no reference files in {folder}")
    rng = np.random.default_rng(0)
    picks = [rng.permutation(len(f)) for f in per_file]
    return [per_file[i % len(per_file)][picks[i % len(per_file)][i // len(per_file)]] for i in range(n)]


def pairs_of(answers: list[Answer]) -> list[tuple[str, str]]:
    """Every (sentence, non-empty sample) pair, as the scorers form them."""
    from selflearn.score import sentence_sample_pairs

    return sentence_sample_pairs(answers)[0]


def timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn(): CPU time is the steadier measure on shared cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def offline_scorer():
    """The packaged OfflineScorer; if its fitted trees are not packaged yet, random trees of the same size
    (300 trees of 15 leaves: the timing is the same, the scores are meaningless)."""
    from selflearn.errors import UserError
    from selflearn.score.features import FEATURE_NAMES
    from selflearn.score.offline import OfflineScorer, TreeEnsemble

    try:
        return OfflineScorer()
    except UserError as exc:
        logging.warning("%s: timing with random stand-in trees", exc)
    rng = np.random.default_rng(0)
    trees = []
    for _ in range(300):
        inner = 14  # a complete-ish tree: nodes 0..13 inner, 14..28 leaves
        left = np.array([2 * i + 1 for i in range(inner)] + [-1] * 15)
        trees.append({"feature": np.r_[rng.integers(0, len(FEATURE_NAMES), inner), -np.ones(15, np.int64)],
                      "threshold": np.r_[rng.random(inner), np.zeros(15)], "left": left,
                      "right": np.where(left >= 0, left + 1, -1), "value": np.r_[np.zeros(inner), rng.normal(0, 0.01, 15)]})
    return OfflineScorer(params=TreeEnsemble(0.3, trees))


def bench_offline(answers: list[Answer]) -> tuple[int, tuple, tuple, int]:
    """(pairs, batched (wall, cpu) s, per-pair (wall, cpu) s, pairs timed one per call) for the offline scorer."""
    scorer = offline_scorer()
    scorer.score(answers[:2])  # load the model and warm up outside the timings
    pairs = pairs_of(answers)
    batched = timed(lambda: scorer.score(answers))
    single = timed(lambda: [scorer.score([Answer("", s, [x], [s])]) for s, x in pairs])
    return len(pairs), batched, single, len(pairs)


def tiny_deberta(folder: Path, layers: int) -> None:
    """Save a random DeBERTa-v2 NLI classifier (xsmall shape) and a WordPiece tokenizer into folder."""
    import torch
    from transformers import BertTokenizerFast, DebertaV2Config, DebertaV2ForSequenceClassification

    from selflearn.embed import packaged_minilm_path

    tokenizer = BertTokenizerFast(vocab_file=str(packaged_minilm_path() / "vocab.txt"), model_max_length=512)
    config = DebertaV2Config(
        vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=layers, num_attention_heads=6,
        intermediate_size=1536, max_position_embeddings=512, relative_attention=True, position_buckets=256,
        pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True, type_vocab_size=0,
        pad_token_id=tokenizer.pad_token_id, num_labels=2, id2label={0: "entailment", 1: "contradiction"},
        label2id={"entailment": 0, "contradiction": 1})
    torch.manual_seed(0)
    DebertaV2ForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def bench_nli(answers: list[Answer], layers: int, single_limit: int) -> tuple[int, tuple, tuple, int]:
    """(pairs, batched (wall, cpu) s, per-pair (wall, cpu) s on the first single_limit pairs, that count)."""
    from selflearn.score.nli import NLIScorer

    pairs = pairs_of(answers)
    with tempfile.TemporaryDirectory() as tmp:
        tiny_deberta(Path(tmp), layers)
        scorer = NLIScorer(tmp, device="cpu", batch_size=64)
        scorer.contradiction(pairs[:8])  # load + warm up
        batched = timed(lambda: scorer.contradiction(pairs))
        few = pairs[:single_limit]
        single = timed(lambda: [scorer.contradiction([p]) for p in few])
    return len(pairs), batched, single, len(few)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=20, help="reference answers (about 20 pairs each)")
    parser.add_argument("--nli-layers", type=int, default=12)
    parser.add_argument("--single-limit", type=int, default=200, help="NLI: pairs timed one per call")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-nli", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    answers = load_answers(args.answers)
    rows = [("offline (MiniLM features + trees)", *bench_offline(answers))]
    if not args.skip_nli:
        rows.append((f"nli (random DeBERTa-v2, {args.nli_layers}x384)",
                     *bench_nli(answers, args.nli_layers, args.single_limit)))
    print(f"{'scorer':38}{'pairs':>6}{'batched p/s':>12}{'1/call p/s':>11}{'ratio':>8}"
          f"{'batched p/cpu-s':>16}{'1/call p/cpu-s':>15}{'ratio':>8}")
    for name, n, (bw, bc), (sw, sc), k in rows:
        print(f"{name:38}{n:6d}{n / bw:12.1f}{k / sw:11.1f}{(n / bw) / (k / sw):7.1f}x"
              f"{n / bc:16.1f}{k / sc:15.1f}{(n / bc) / (k / sc):7.1f}x")
    print(f"answers={args.answers} torch threads={torch.get_num_threads()} cpus={len(os.sched_getaffinity(0))} "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
