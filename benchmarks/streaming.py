"""A 100,000-question self-questioning run streamed through the store: does the time per 1,000 questions or the
memory grow with the run's size?

    python benchmarks/streaming.py [--n 100000] [--step 10000] [--batch-size 500]

The generator and scorer are the package's scripted fakes (milliseconds per call), so what is timed is the pipeline
around the model: proposing, splitting, storing passages + 10 samples + sentence scores per question in SQLite, and
the per-batch store reads a resume relies on. The run is grown in steps of --step questions by resuming it (exactly
what `selflearn questions --resume` does), and each step's seconds per 1,000 questions and the process's peak
resident memory are printed. A pipeline that re-read the whole run per batch would show the time per 1,000
questions rising with the step; one that held the run in memory would show the peak memory rising.
The metrics stage (embedding + HDBSCAN over all questions) is measured separately by metrics_scale.py.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from selflearn.config import load_config
    from selflearn.loop import build, start_questions_run
    from selflearn.selfquestion import run_self_questioning
    from selflearn.store import Store

    config = load_config(None, {"generation": {"backend": "fake"}, "scoring": {"scorer": "fake"},
                                "questions": {"method": "open", "n": args.n, "batch_size": args.batch_size}})
    built = build(config)
    rows = []
    with tempfile.TemporaryDirectory() as workspace:
        store = Store(workspace)
        run_id = start_questions_run(store, config)
        print(f"after set-up: peak RSS {peak_rss_mib():.0f} MiB", file=sys.stderr)
        for upto in range(args.step, args.n + 1, args.step):
            start = time.perf_counter()
            run_self_questioning(store, run_id, built.parts, n=upto, batch_size=args.batch_size,
                                 seed=config.questions.seed, num_samples=config.scoring.num_samples)
            seconds = time.perf_counter() - start
            # The fake generator records its calls for tests' assertions: not part of the pipeline's memory.
            built.parts.generator.calls.clear()
            db_mib = sum(p.stat().st_size for p in Path(workspace).glob("selflearn.db*")) / 2**20  # + WAL
            rows.append((upto, seconds * 1000 / args.step, peak_rss_mib(), db_mib))
            print(f"{upto:>8,} questions: {rows[-1][1]:.2f} s per 1,000, peak RSS {rows[-1][2]:.0f} MiB, "
                  f"store {db_mib:.0f} MiB", file=sys.stderr, flush=True)
        assert store.count_answered(run_id) == args.n and store.unscored(run_id, built.parts.scorer_name) == []

    print(f"\n{'questions':>10}{'s / 1,000 q':>13}{'peak RSS MiB':>14}{'store MiB':>11}")
    for upto, per_k, rss, db in rows:
        print(f"{upto:>10,}{per_k:>13.2f}{rss:>14.0f}{db:>11.0f}")
    first, last = rows[0], rows[-1]
    print(f"time per 1,000 questions, last step / first step: {last[1] / first[1]:.2f}x; "
          f"peak RSS grew {last[2] - first[2]:.0f} MiB while the store grew {last[3] - first[3]:.0f} MiB "
          f"(batch {args.batch_size}, cpus={len(os.sched_getaffinity(0))})")


if __name__ == "__main__":
    main()
