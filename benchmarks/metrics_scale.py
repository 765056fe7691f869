"""The metrics stage at scale: MiniLM embedding + HDBSCAN (selflearn.metrics) at 3,000 to 30,000 questions,
on the paper's 384 dimensions and after PCA, and how much the Curiosity score moves with PCA.

    python benchmarks/metrics_scale.py [--sizes 3000,10000,30000] [--dims none,64,32] [--timeout 900]
                                       [--cache /tmp/selflearn-bench-questions.npy]

Questions: the real proposed questions of the paper's result files (shared/fixtures/reference, ~2,600 distinct),
then WordNet-templated ones ("How does {noun} relate to {noun2}?", ...) until the largest size. They are embedded
once with the packaged MiniLM (the rate is timed on the first --time-embed questions; the full matrix is cached in
--cache so a rerun only clusters). Each HDBSCAN fit runs in a child process killed after --timeout seconds; the
time growth exponent between sizes is printed so a fit that timed out can be extrapolated.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"
TEMPLATES = (
    "What is the origin of the {a}?", "How does {a} relate to {b}?", "Why is {a} important for {b}?",
    "Who first described the {a}?", "Where can {a} be found in nature?", "When was the {a} first used?",
    "What role does {a} play in the history of {b}?", "How is {a} different from {b}?",
    "What are the main properties of {a}?", "How did the study of {a} change our understanding of {b}?",
    "What is the connection between {a}, {b} and {c}?", "Which cultures used {a} and why?",
)


def real_questions() -> list[str]:
    """Distinct proposed questions of the paper's result files and judged Q_H file."""
    from selflearn.seedformat import load_result_file

    out: dict[str, None] = {}
    for path in sorted(REFERENCE.glob("*.pickle")):
        out.update(dict.fromkeys(load_result_file(path)["proposed_questions"]))
    judged = REFERENCE / "mistral-7b-instruct-oracle-judged.jsonl"
    if judged.is_file():
        out.update(dict.fromkeys(json.loads(line)["prompt"] for line in judged.read_text().splitlines() if line))
    return [q for q in out if q.strip()]


def synthetic_questions(n: int, seed: int = 0) -> list[str]:
    """n questions: the real ones first, then WordNet-templated ones (shuffled so every size mixes both)."""
    from selflearn.resources.wordnet import lemma_of, noun_lemma_strings

    real = real_questions()
    lemmas = [lemma_of(s).replace("_", " ") for s in noun_lemma_strings()]
    rng = np.random.default_rng(seed)
    made: dict[str, None] = dict.fromkeys(real)
    while len(made) < n:
        a, b, c = (lemmas[i] for i in rng.integers(0, len(lemmas), 3))
        made[TEMPLATES[rng.integers(len(TEMPLATES))].format(a=a, b=b, c=c)] = None
    questions = list(made)[:n]
    order = rng.permutation(len(questions))
    return [questions[i] for i in order]


def embeddings(questions: list[str], cache: Path, time_first: int) -> tuple[np.ndarray, float]:
    """(matrix, seconds per question): cached matrix if it matches, else MiniLM on all (rate from the first part)."""
    from selflearn.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.embed(questions[:32])  # load + warm up
    start = time.perf_counter()
    head = embedder.embed(questions[:time_first])
    rate = (time.perf_counter() - start) / len(head)
    logging.info("MiniLM: %.1f questions/s on %d questions", 1 / rate, len(head))
    stamp = cache.with_suffix(".json")
    if cache.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == {"n": len(questions),
                                                                                "first": questions[0]}:
        return np.load(cache), rate
    logging.info("embedding all %d questions (~%.0f s; cached in %s)", len(questions), rate * len(questions), cache)
    start = time.perf_counter()
    matrix = np.concatenate([head, embedder.embed(questions[time_first:])])
    logging.info("embedded %d questions in %.0f s", len(questions), time.perf_counter() - start)
    np.save(cache, matrix)
    stamp.write_text(json.dumps({"n": len(questions), "first": questions[0]}))
    return matrix, rate


def _fit(questions, x, dims, queue) -> None:
    from selflearn.metrics import count_unique, curiosity_labels

    start = time.perf_counter()
    labels = curiosity_labels(questions, x, reduce_dims=dims)
    queue.put((time.perf_counter() - start, count_unique(labels) / len(questions)))


def cluster(questions: list[str], x: np.ndarray, dims: int | None, timeout: float) -> tuple[float, float | None]:
    """(seconds, curiosity) of curiosity_labels in a child process; (timeout, None) if it did not finish."""
    queue: mp.Queue = mp.get_context("fork").Queue()
    child = mp.get_context("fork").Process(target=_fit, args=(questions, x, dims, queue))
    start = time.perf_counter()
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.terminate()
        child.join()
        return time.perf_counter() - start, None
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="3000,10000,30000")
    parser.add_argument("--dims", default="none,64,32", help="PCA dimensions; none = the paper's 384")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per HDBSCAN fit")
    parser.add_argument("--time-embed", type=int, default=1000, help="questions the embedding rate is timed on")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/selflearn-bench-questions.npy"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = [int(s) for s in args.sizes.split(",")]
    dims = [None if d == "none" else int(d) for d in args.dims.split(",")]
    questions = synthetic_questions(max(sizes))
    x, per_q = embeddings(questions, args.cache, args.time_embed)
    rows = []
    for n in sizes:
        for d in dims:
            secs, cur = cluster(questions[:n], x[:n], d, args.timeout)
            logging.info("N=%d dims=%s: %.1f s curiosity=%s", n, d or 384, secs, cur)
            rows.append((n, d, secs, cur))
    print_table(rows, per_q, args.timeout)


def print_table(rows: list[tuple], per_q: float, timeout: float) -> None:
    """Per size and dims: embed (extrapolated from the timed rate), cluster seconds, Curiosity and its PCA shift."""
    base = {n: cur for n, d, _, cur in rows if d is None}
    print(f"{'N':>7}{'dims':>6}{'embed s*':>10}{'HDBSCAN s':>11}{'curiosity':>11}{'vs 384-d':>10}")
    for n, d, secs, cur in rows:
        shown = f"{secs:11.1f}" if cur is not None else f"{'>' + format(timeout, '.0f'):>11}"
        shift = f"{cur - base[n]:+10.4f}" if cur is not None and base.get(n) is not None and d else f"{'':>10}"
        cur_s = f"{cur:11.4f}" if cur is not None else f"{'-':>11}"
        print(f"{n:7d}{d or 384:6d}{per_q * n:10.0f}{shown}{cur_s}{shift}")
    for d in {d for _, d, _, _ in rows}:
        done = [(n, s) for n, dd, s, c in rows if dd == d and c is not None]
        if len(done) >= 2:
            (n0, s0), (n1, s1) = done[0], done[-1]
            k = math.log(s1 / s0) / math.log(n1 / n0)
            print(f"dims={d or 384}: HDBSCAN time grows as N^{k:.2f} between {n0} and {n1}")
    print(f"* embedding: MiniLM at {1 / per_q:.0f} questions/s measured, times N. cpus={len(os.sched_getaffinity(0))}")


if __name__ == "__main__":
    main()
