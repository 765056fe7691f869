"""Which training settings make a model learn a cycle's pairs: retrain one stored cycle under several settings and
evaluate each trained model the way the cycle does (hallucination re-scored on the same Q_H with fresh answers,
held-out perplexity, ROUGE/BLEU against the learned answers), next to the untrained model, in one table.

    .venv/bin/python scripts/sweep_training.py -w workspace --run 6 \
        --setting "learning_rate=3e-5 batch_size=4 gradient_accumulation_steps=8" \
        --setting "learning_rate=2e-4 batch_size=1 gradient_accumulation_steps=1"

The run must be a learning cycle whose curation is done (its pairs are in the store). Each setting overrides
[training] keys of the run's stored config; its adapter and merged model go to <workspace>/sweep/<i>/ (i numbered
on from earlier sweeps) and it is recorded as model version sweep-<i>-run-<run>. This is how the [training] section of configs/smollm2-135m.toml was
chosen (README, "Learning on the default model").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def parse_setting(text: str) -> dict:
    """ "key=value key=value" -> {"training": {key: value}} with TOML-style values."""
    import tomllib

    values = {}
    for part in text.split():
        key, _, raw = part.partition("=")
        if not raw:
            raise SystemExit(f"--setting {text!r}: expected key=value pairs")
        values[key] = tomllib.loads(f"v = {raw}")["v"]
    return {"training": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-w", "--workspace", default="workspace")
    parser.add_argument("--run", type=int, required=True, help="a learning cycle's self-questioning run")
    parser.add_argument("--setting", action="append", required=True, help="[training] overrides, key=value ...")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from selflearn.components import build_embedder
    from selflearn.config import apply, from_dict
    from selflearn.errors import UserError
    from selflearn.learnstages import evaluate_version, evaluation_set, integrate_stage, train_stage
    from selflearn.progress import RichProgress
    from selflearn.store import Store

    store = Store(args.workspace)
    run = store.run(args.run)
    if run is None or not store.pairs(args.run):
        raise SystemExit(f"run {args.run} has no curated pairs in {store.path}")
    base_config = from_dict(run["config"])
    on = evaluation_set(store, base_config, args.run)
    embedder = build_embedder(base_config.metrics)
    rows = []
    with RichProgress() as progress:
        before = evaluate_version(store, base_config, args.run, "base", on, progress=progress, embedder=embedder)
        rows.append({"setting": "untrained", **before})
        sweep_dir = Path(store.workspace) / "sweep"
        # Numbered after earlier sweeps: a finished adapter or merged model in a reused folder would be taken as is.
        first = 1 + max((int(p.name) for p in sweep_dir.glob("*") if p.name.isdigit()), default=0)
        for i, text in enumerate(args.setting, first):
            config = apply(from_dict(run["config"]), parse_setting(text), source="--setting")
            folder = sweep_dir / str(i)
            start = time.perf_counter()
            try:
                trained = train_stage(store, config, args.run, folder, cycle=0, progress=progress)
                if trained.get("skipped"):
                    raise UserError(trained["skipped"])
                version = integrate_stage(store, config, args.run, folder, cycle=0, parent="base",
                                          adapter_dir=trained["adapter_dir"], name=f"sweep-{i}-run-{args.run}")
            except UserError as exc:
                print(f"setting {text!r}: {exc}", file=sys.stderr)
                continue
            seconds = time.perf_counter() - start
            after = evaluate_version(store, config, args.run, version["version"], on, progress=progress,
                                     embedder=embedder)
            rows.append({"setting": text, "train_seconds": round(seconds), "steps": trained["steps"],
                         "train_loss": trained["metrics"].get("train_loss"), **after})
    print(f"run {args.run}: {len(on.questions)} Q_H (hallucination {on.hallucination_at_selection:.3f} when "
          f"selected), {len(on.learned)} learned answers, {len(on.heldout)} held-out texts")
    columns = ("hallucination", "share_hallucinated", "ppl_word", "rouge_lsum", "bleu")
    print(f"{'setting':<72}{'steps':>6}{'train s':>8}" + "".join(f"{c[:12]:>13}" for c in columns))
    for row in rows:
        cells = "".join(f"{row[c]:>13.3f}" if isinstance(row.get(c), float) else f"{'-':>13}" for c in columns)
        print(f"{row['setting']:<72}{row.get('steps', '-'):>6}{row.get('train_seconds', '-'):>8}{cells}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
