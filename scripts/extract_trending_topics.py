"""Rebuild the packaged trending-topic sets (resources/data/trending_topics.json) from the paper's result files.

    .venv/bin/python scripts/extract_trending_topics.py [--reference DIR] [--out PATH] [--check]

The paper pulled Google Trends "trending now" sets while its external-prompt runs went; each published
ExtPrompt result file keeps them as the `topics` of its questions, but split into Q_H then Q_NH, so the pull
order survives only as subsequences: within each of the two lists, questions appear in the order they were asked.
Every such list is a chain of "came before" constraints; the files disagree, so the script keeps an order that
breaks as few of them as a local search finds (see pull_order; it prints how many).
Each set is kept once (runs asked about some sets more than once).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from selflearn.resources import package_data
from selflearn.seedformat import load_result_file

DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference"


def chains_of(paths: list[Path]) -> list[list[str]]:
    """Per file, its Q_H and its Q_NH topic lists, repeats dropped after the first."""
    chains = []
    for path in paths:
        data = load_result_file(path)
        for key in ("prompts_with_hallucination", "prompts_with_no_hallucination"):
            topics = [r["topics"].strip() for r in data[key] if r.get("topics") and r["topics"].strip()]
            chains.append(list(dict.fromkeys(topics)))
    return chains


def violations(order: list[str], chains: list[list[str]]) -> int:
    """How many "came before" constraints of the chains an order breaks."""
    pos = {t: i for i, t in enumerate(order)}
    return sum(pos[a] > pos[b] for chain in chains for a, b in zip(chain, chain[1:]))


def pull_order(chains: list[list[str]]) -> list[str]:
    """An order of all sets that breaks few chain constraints.

    The files disagree (the runs pulled trends at different times), so no order satisfies every chain. Start from
    each set's median relative position in the chains, then move one set at a time to the place that breaks the
    fewest of its own constraints, until a whole pass no longer lowers the total (deterministic).
    """
    topics = sorted({t for chain in chains for t in chain})
    idx = {t: i for i, t in enumerate(topics)}
    before = np.zeros((len(topics), len(topics)))  # before[a, b]: how often a came right before b
    relative: dict[str, list[float]] = {}
    for chain in chains:
        for pos, topic in enumerate(chain):
            relative.setdefault(topic, []).append(pos / len(chain))
        for a, b in zip(chain, chain[1:]):
            before[idx[a], idx[b]] += 1
    order = sorted(topics, key=lambda t: (float(np.median(relative[t])), t))
    best = violations(order, chains)
    while True:
        for topic in list(order):
            order.remove(topic)
            i, rest = idx[topic], [idx[t] for t in order]
            # Broken constraints if topic goes to place p: topic->x for x placed before p, x->topic for x after.
            broken_ahead = np.concatenate([[0.0], np.cumsum(before[i, rest])])
            broken_behind = np.concatenate([np.cumsum(before[rest, i][::-1])[::-1], [0.0]])
            order.insert(int(np.argmin(broken_ahead + broken_behind)), topic)
        now = violations(order, chains)
        if now >= best:
            return order
        best = now


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="folder of *_ExtPrompt.pickle files")
    ap.add_argument("--out", type=Path, default=package_data("trending_topics.json"))
    ap.add_argument("--check", action="store_true", help="only compare with --out; exit 1 if they differ")
    args = ap.parse_args(argv)
    paths = sorted(args.reference.glob("*ExtPrompt*.pickle"))
    if not paths:
        print(f"no *ExtPrompt*.pickle files in {args.reference}", file=sys.stderr)
        return 2
    chains = chains_of(paths)
    order = pull_order(chains)
    print(f"order breaks {violations(order, chains)} of {sum(len(c) - 1 for c in chains)} came-before constraints")
    if args.check:
        same = args.out.is_file() and json.loads(args.out.read_text(encoding="utf-8")) == order
        print(f"{len(order)} topic sets from {len(paths)} files: {'same as' if same else 'DIFFERENT from'} {args.out}")
        return 0 if same else 1
    args.out.write_text(json.dumps(order, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {len(order)} topic sets from {len(paths)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
