"""Self-questioning end to end, the reference-faithful way vs the project's pipeline, side by side in one process.

    python benchmarks/pipeline.py [--questions 16] [--method auto|oracle|open] [--engine auto|transformers|llamacpp]
                                  [--rounds 2] [--threads N] [--n-seq 32] [--compare-sampling]

(a) reference: one question at a time, as the paper's code ran: topics, question, greedy passage, then its 10
    samples in one generate call (num_return_sequences=10), then one scorer call per (sentence, sample) pair.
(b) pipeline: selflearn.selfquestion.run_self_questioning into a temporary Store, then measure_run.
The workload is split into --rounds rounds; each round runs both modes on questions/rounds questions, the order
alternating, so that load from other processes on shared cores hits both modes alike (per-round ratios are printed).
The floor is the time inside the engine's bare calls (model.generate / llama_decode) plus the scorer's bare model
forwards, for exactly the prompts and tokens of that mode; efficiency = floor / total.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from selflearn.generate import ANSWER_PROMPT
from selflearn.types import NUM_SAMPLES, PASSAGE_PARAMS, SAMPLE_PARAMS, Answer

STAGES = ("propose", "passage", "samples", "score", "metrics")


class Clock:
    """Seconds and counts per key; wrap() instruments a bound method in place."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.paused = 0  # >0 inside an outer timed call whose inner calls must not be double counted

    def reset(self) -> None:
        self.seconds.clear()
        self.counts.clear()

    def wrap(self, obj: Any, attr: str, key: Callable[..., str | None] | str) -> None:
        """Replace obj.attr by a timed version; key(*args, **kwargs) names the bucket (None: not timed)."""
        inner = getattr(obj, attr)

        def timed(*args, **kwargs):
            name = key(*args, **kwargs) if callable(key) else key
            if name is None:
                return inner(*args, **kwargs)
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.counts[name] += 1

        setattr(obj, attr, timed)


def rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wordnet_cache_built() -> bool:
    """Whether the oracle's WordNet embedding matrix is cached (else building it takes many minutes here)."""
    from selflearn.resources import cache_dir

    return any((cache_dir() / "wordnet").glob("*.npy"))


def load_source_class(method: str) -> Any:
    """The question source class: the registry's name, else the questions package's own table."""
    from selflearn import registry

    try:
        return registry.resolve("method", method)
    except (AttributeError, ImportError):
        from selflearn.questions import load_source

        return load_source(method)


def build_engine(args: argparse.Namespace, clock: Clock) -> Any:
    """The generator, with its bare engine call instrumented as the 'floor_gen' bucket."""
    from selflearn.generate.chat import ChatFormat

    if args.engine == "transformers":
        from selflearn.generate.hf import HFGenerator

        gen = HFGenerator.load("smollm2-135m-instruct", chat_format=ChatFormat(), threads=args.threads)
        clock.wrap(gen.model, "generate", "floor_gen")
    else:
        from selflearn.generate.llamacpp import LlamaCppGenerator

        gen = LlamaCppGenerator.load("smollm2-135m-instruct", chat_format=ChatFormat(), n_threads=args.threads,
                                     n_seq=args.n_seq)
        clock.wrap(gen.context, "decode", "floor_gen")
    return gen


def answer_key(prompts, *, n=1, params):
    """Bucket of a generate() call: passage or samples for answer prompts; None for topics/questions."""
    if not prompts or not prompts[0].startswith(ANSWER_PROMPT.split("{")[0]):
        return None
    return "passage" if params.greedy else "samples"


def build_parts(args: argparse.Namespace, clock: Clock) -> dict[str, Any]:
    """Generator, source, scorer, splitter and embedder, each instrumented."""
    from scorers import offline_scorer  # benchmarks/ is on sys.path when run as a script

    from selflearn.embed import SentenceTransformerEmbedder
    from selflearn.score.sentences import SentenceSplitter

    gen = build_engine(args, clock)
    embedder = SentenceTransformerEmbedder()
    cls = load_source_class(args.method)
    source = cls(gen, embedder=embedder) if args.method == "oracle" else cls(gen)
    scorer = offline_scorer()
    scorer.encoder._load()
    clock.wrap(scorer.encoder._model, "forward", "floor_score")  # MiniLM's bare forward passes
    clock.wrap(gen, "generate", answer_key)
    clock.wrap(source, "propose", "propose")
    clock.wrap(scorer, "score", "score")
    return dict(generator=gen, source=source, scorer=scorer, splitter=SentenceSplitter(), embedder=embedder)


def reference_mode(parts: dict[str, Any], n: int, seed: int, clock: Clock) -> dict[str, Any]:
    """One question at a time through every stage, one scorer call per (sentence, sample) pair."""
    from selflearn.metrics import compute_metrics
    from selflearn.types import nan_safe_mean

    gen, scorer = parts["generator"], parts["scorer"]
    questions, flags, answers = [], [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        q = parts["source"].propose(1, rng)[0].prompt
        prompt = ANSWER_PROMPT.format(question=q)
        passage = gen.generate([prompt], n=1, params=PASSAGE_PARAMS)[0][0]
        samples = gen.generate([prompt], n=NUM_SAMPLES, params=SAMPLE_PARAMS.with_(seed=seed + i))[0]
        sentences = parts["splitter"].split(passage)
        sentence_scores = []
        for s in sentences:  # SelfCheckGPT: one model pass per (sentence, sample) pair
            pair = [float(scorer.score([Answer(q, passage, [x], [s])])[0][0]) for x in samples if x.strip()]
            sentence_scores.append(np.mean(pair) if pair else np.nan)
        questions.append(q)
        flags.append(nan_safe_mean(np.asarray(sentence_scores)) > 0.5)
        answers.append([passage, *samples])
    start = time.perf_counter()
    compute_metrics(questions, flags, embedder=parts["embedder"])
    clock.seconds["metrics"] += time.perf_counter() - start
    return {"questions": questions, "completions": answers}


def pipeline_mode(parts: dict[str, Any], n: int, seed: int, clock: Clock, batch_size: int) -> dict[str, Any]:
    """The project's pipeline into a temporary Store: run_self_questioning + measure_run."""
    from selflearn.selfquestion import Components, measure_run, run_self_questioning
    from selflearn.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "ws")
        run_id = store.create_run(kind="questions", method="bench", model="smollm2-135m-instruct", scorer="offline",
                                  seed=seed, n_target=n, config={}, env={})
        comps = Components(source=parts["source"], generator=parts["generator"], scorer=parts["scorer"],
                           scorer_name="offline", splitter=parts["splitter"], model_version="bench")
        run_self_questioning(store, run_id, comps, n=n, batch_size=batch_size, seed=seed, num_samples=NUM_SAMPLES)
        start = time.perf_counter()
        measure_run(store, run_id, scorer_name="offline", threshold=0.5, embedder=parts["embedder"],
                    embedder_name="minilm")
        clock.seconds["metrics"] += time.perf_counter() - start
        rows = store.question_rows(run_id)
        got = store.answers([r["id"] for r in rows])
        store.db.close()
    return {"questions": [r["prompt"] for r in rows],
            "completions": [[a.passage, *a.samples] for a in got.values()]}


def count_tokens(gen: Any, texts: list[str]) -> int:
    """Tokens in texts with the engine's own tokenizer (how much generation a mode really did)."""
    if hasattr(gen, "tokenizer") and hasattr(gen.tokenizer, "__call__") and not hasattr(gen, "context"):
        return sum(len(ids) for ids in gen.tokenizer(texts, add_special_tokens=False)["input_ids"])
    return sum(len(gen.model.tokenize(t.encode(), False, False)) for t in texts if t)


def timed_mode(name: str, fn: Callable[[], dict], parts: dict, clock: Clock, n: int) -> dict[str, float]:
    """Run one mode, return its buckets plus total, tokens and peak memory."""
    clock.reset()
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    total = time.perf_counter() - start
    row = {k: clock.seconds.get(k, 0.0) for k in (*STAGES, "floor_gen", "floor_score")}
    row["total"] = total
    row["cpu"] = time.process_time() - cpu  # this process's CPU seconds: steadier than wall time on shared cores
    row["other"] = total - sum(row[k] for k in STAGES)
    row["tokens"] = count_tokens(parts["generator"], [t for c in out["completions"] for t in c])
    row["n"] = n
    row["rss"] = rss_mb()
    logging.info("%s: %d questions in %.1f s (%.2f s/question, %d new tokens)", name, n, total, total / n,
                 row["tokens"])
    return row


def add_rows(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: (max(a.get(k, 0), b[k]) if k == "rss" else a.get(k, 0) + b[k]) for k in b}


def print_table(ref: dict[str, float], pipe: dict[str, float], rounds: list[float], args: argparse.Namespace) -> None:
    """The summary table: per stage seconds, rates, floor, efficiency, memory; speedup = reference / pipeline."""
    def ratio(a, b):
        return f"{a / b:8.2f}x" if b > 0 else "        -"

    lines = [f"{'':22}{'reference (a)':>14}{'pipeline (b)':>14}{'a/b':>11}"]
    for k in (*STAGES, "other", "total"):
        lines.append(f"{k + ' s':22}{ref[k]:14.2f}{pipe[k]:14.2f}{ratio(ref[k], pipe[k]):>11}")
    lines.append(f"{'total CPU s (process)':22}{ref['cpu']:14.2f}{pipe['cpu']:14.2f}{ratio(ref['cpu'], pipe['cpu']):>11}")
    per_q = (ref["total"] / ref["n"], pipe["total"] / pipe["n"])
    lines.append(f"{'s/question':22}{per_q[0]:14.2f}{per_q[1]:14.2f}{ratio(*per_q):>11}")
    lines.append(f"{'questions/s':22}{1 / per_q[0]:14.3f}{1 / per_q[1]:14.3f}")
    gen_s = (ref["passage"] + ref["samples"], pipe["passage"] + pipe["samples"])
    lines.append(f"{'new tokens (answers)':22}{ref['tokens']:14.0f}{pipe['tokens']:14.0f}")
    lines.append(f"{'answer tokens/s':22}{ref['tokens'] / gen_s[0]:14.1f}{pipe['tokens'] / gen_s[1]:14.1f}"
                 f"{ratio(pipe['tokens'] / gen_s[1], ref['tokens'] / gen_s[0]):>11}")
    for key, label in (("floor_gen", "floor: engine s"), ("floor_score", "floor: scorer fwd s")):
        lines.append(f"{label:22}{ref[key]:14.2f}{pipe[key]:14.2f}")
    eff = [(r["floor_gen"] + r["floor_score"]) / r["total"] for r in (ref, pipe)]
    lines.append(f"{'efficiency floor/total':22}{eff[0]:14.2f}{eff[1]:14.2f}")
    lines.append(f"{'peak RSS MB (cumul.)':22}{ref['rss']:14.0f}{pipe['rss']:14.0f}")
    lines.append(f"per-round speedup (a/b total): {', '.join(f'{r:.2f}x' for r in rounds)}")
    lines.append(f"engine={args.engine} method={args.method} questions={args.questions} rounds={args.rounds} "
                 f"threads={args.threads or 'default'} cpus={len(os.sched_getaffinity(0))} "
                 f"load average {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


def compare_sampling(args: argparse.Namespace) -> None:
    """llama.cpp: 10 samples of a few prompts decoded sequentially (shared prompt), per prompt, or all in parallel,
    and through llama_cpp.Llama with save_state/load_state of the evaluated prompt."""
    from selflearn.generate.llamacpp import LlamaCppGenerator

    prompts = [ANSWER_PROMPT.format(question=q) for q in (
        "What is the role of mycorrhizal networks in forests?", "Who first described tardigrades?",
        "Why is the Voynich manuscript unreadable?", "How were Incan quipu used to record numbers?")]
    params = SAMPLE_PARAMS.with_(seed=1)
    rows = []
    for n_seq in (1, NUM_SAMPLES, 4 * NUM_SAMPLES):
        gen = LlamaCppGenerator.load("smollm2-135m-instruct", n_threads=args.threads, n_seq=n_seq)
        start = time.perf_counter()
        out = gen.generate(prompts, n=NUM_SAMPLES, params=params)
        secs = time.perf_counter() - start
        rows.append((f"shared prompt, n_seq={n_seq}", secs, count_tokens(gen, [t for o in out for t in o])))
    rows.append(state_save_load(gen, prompts, args))
    print(f"{'strategy':34}{'s':>8}{'tokens':>8}{'tok/s':>8}")
    for name, secs, toks in rows:
        print(f"{name:34}{secs:8.2f}{toks:8d}{toks / secs:8.1f}")


def state_save_load(gen: Any, prompts: list[str], args: argparse.Namespace) -> tuple[str, float, int]:
    """Llama high-level API: evaluate each prompt once, save_state, then load_state + generate per sample."""
    from llama_cpp import Llama

    from selflearn.generate.default_model import default_gguf_path

    llm = Llama(str(default_gguf_path()), n_ctx=1024, n_threads=args.threads or len(os.sched_getaffinity(0)),
                verbose=False, seed=1)
    eos, toks = llm.token_eos(), 0
    start = time.perf_counter()
    for ids in gen.encode(prompts):
        llm.reset()
        llm.eval(ids)
        state = llm.save_state()
        for _ in range(NUM_SAMPLES):
            llm.load_state(state)
            for k, t in enumerate(llm.generate([], top_k=50, top_p=1.0, min_p=0.0, temp=1.0, repeat_penalty=1.1,
                                               reset=False)):
                if t == eos or k >= SAMPLE_PARAMS.max_new_tokens:
                    break
                toks += 1
    return "Llama save_state/load_state", time.perf_counter() - start, toks


def warm_up(parts: dict[str, Any]) -> None:
    """First calls pay one-off costs (weights paged in, kernels, the oracle's topic space): pay them untimed."""
    getattr(parts["source"], "space", None)
    prompt = ANSWER_PROMPT.format(question="What is a lichen?")
    samples = parts["generator"].generate([prompt], n=2, params=SAMPLE_PARAMS.with_(max_new_tokens=8, seed=0))[0]
    parts["scorer"].score([Answer(prompt, samples[0], samples, [samples[0] or "A lichen."])])
    parts["embedder"].embed(["warm up"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--method", default="auto", help="auto: oracle if its WordNet cache is built, else open")
    parser.add_argument("--engine", choices=("auto", "transformers", "llamacpp"), default="auto",
                        help="auto: llamacpp if llama-cpp-python is installed (the optional extra), else transformers")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="pipeline: questions per stored batch")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--n-seq", type=int, default=32, help="llamacpp: completions decoded in parallel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-sampling", action="store_true", help="llamacpp sample strategies only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.compare_sampling:
        return compare_sampling(args)
    if args.method == "auto":
        args.method = "oracle" if wordnet_cache_built() else "open"
    if args.engine == "auto":
        import importlib.util

        args.engine = "llamacpp" if importlib.util.find_spec("llama_cpp") else "transformers"
        logging.info("engine: %s", args.engine)
    clock = Clock()
    started = time.perf_counter()
    parts = build_parts(args, clock)
    warm_up(parts)
    logging.info("loaded and warmed up in %.1f s; peak RSS %.0f MB", time.perf_counter() - started, rss_mb())
    per_round = max(1, args.questions // args.rounds)
    ref, pipe, speedups = {}, {}, []
    for r in range(args.rounds):
        modes = [("reference", lambda: reference_mode(parts, per_round, args.seed + 100 * r, clock)),
                 ("pipeline", lambda: pipeline_mode(parts, per_round, args.seed + 100 * r, clock, args.batch_size))]
        if r % 2:
            modes.reverse()
        rows = {name: timed_mode(name, fn, parts, clock, per_round) for name, fn in modes}
        ref, pipe = add_rows(ref, rows["reference"]), add_rows(pipe, rows["pipeline"])
        speedups.append(rows["reference"]["total"] / rows["pipeline"]["total"])
    print_table(ref, pipe, speedups, args)


if __name__ == "__main__":
    main()
