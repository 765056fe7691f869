"""Commands of the self-learning cycle: curate, learn, evaluate; and the local search index."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from selflearn.cli import CONFIG, JSON_OUT, WORKSPACE, app, console, flag_overrides, index_app, open_store
from selflearn.errors import UserError

ENGINE = typer.Option(None, "--engine", help="local (default: the WordNet gloss index) | google | serpapi | searxng.")
INDEX = typer.Option(None, "--index", help="A local index database built with `selflearn index build`.")
JUDGE = typer.Option(None, "--judge", help="scorer (offline: the hallucination scorer) | llm (needs --judge-model).")
PRIVATE = typer.Option(None, "--allow-private-hosts/--no-private-hosts",
                       help="Let the page reader fetch loopback/private addresses (off by default).")


def _search_flags(engine, index, judge, judge_model, skip_known, allow_private_hosts, searxng_url, reference_model,
                  extractor, k) -> dict:
    return {"engine": engine, "index": index, "judge": judge, "judge_model": judge_model, "skip_known": skip_known,
            "allow_private_hosts": allow_private_hosts, "searxng_url": searxng_url,
            "reference_model": reference_model, "extractor": extractor, "k": k}


@app.command()
def curate(
    run: int = typer.Argument(..., help="A self-questioning run id."),
    engine: Optional[str] = ENGINE,
    index: Optional[str] = INDEX,
    k: Optional[int] = typer.Option(None, "-k", help="Hits per question (default 3)."),
    extractor: Optional[str] = typer.Option(None, "--extractor", help="embedding (offline) | hf (QA + summariser)."),
    judge: Optional[str] = JUDGE,
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge LLM on your OpenAI-compatible server."),
    reference_model: Optional[str] = typer.Option(None, "--reference-model", help="A stronger LLM (OpenAI-compatible) "
                                                  "that also answers Q_H, as the paper's v4 did with gpt-4o."),
    searxng_url: Optional[str] = typer.Option(None, "--searxng-url", help="Base URL of a SearXNG instance."),
    skip_known: Optional[bool] = typer.Option(None, "--skip-known/--keep-known", help="Drop pairs the model knew."),
    allow_private_hosts: Optional[bool] = PRIVATE,
    workspace: str = WORKSPACE,
    json_out: bool = JSON_OUT,
) -> None:
    """Knowledge search for a run's Points in the Unknown: search, read, extract, judge, build DPO pairs."""
    from selflearn.config import apply, from_dict
    from selflearn.learnstages import curate_stage
    from selflearn.loop import build
    from selflearn.progress import RichProgress

    store = open_store(workspace)
    info = store.run(run)
    if info["kind"] != "questions":
        raise UserError(f"run {run} is an {info['kind']} run; curate a self-questioning run")
    cfg = apply(from_dict(info["config"]), flag_overrides(search=_search_flags(
        engine, index, judge, judge_model, skip_known, allow_private_hosts, searxng_url, reference_model,
        extractor, k)), source="command line")
    with RichProgress() as progress:
        summary = curate_stage(store, cfg, run, build(cfg), progress)
    store.set_stage(run, "curate", "done", **summary)
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    console().print(f"run {run}: {summary['q_h']} Points in the Unknown, {summary['with_evidence']} with evidence; "
                    f"verdicts {summary['verdicts']}; pairs {summary['pairs_by_kind']} -> {summary['pairs_file']}")


@app.command()
def learn(
    cycles: int = typer.Option(1, "--cycles", help="Self-learning cycles to run."),
    n: Optional[int] = typer.Option(None, "-n", help="Questions per cycle."),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="Self-questioning method (default oracle)."),
    model: Optional[str] = typer.Option(None, "--model", help="The model to start from (default: the embedded one)."),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="offline | nli | llm."),
    training: Optional[str] = typer.Option(None, "--training", help="dpo (default) | sft."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Training epochs (default 3)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Cap on optimizer steps (overrides epochs)."),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Gradient accumulation (default 8)."),
    integrate: Optional[str] = typer.Option(None, "--integrate", help="merge (default) | route (Dyn-Adapt)."),
    engine: Optional[str] = ENGINE,
    index: Optional[str] = INDEX,
    judge: Optional[str] = JUDGE,
    allow_private_hosts: Optional[bool] = PRIVATE,
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed of the first cycle."),
    resume: bool = typer.Option(False, "--resume", help="Continue the newest learning chain where it stopped."),
    config: Optional[str] = CONFIG,
    workspace: str = WORKSPACE,
    json_out: bool = JSON_OUT,
) -> None:
    """Whole self-learning cycles: questions -> scores -> metrics -> curation -> LoRA+DPO -> merge -> evaluation."""
    from selflearn.config import load_config
    from selflearn.cycle import run_learning
    from selflearn.progress import RichProgress

    cfg = load_config(config, flag_overrides(
        generation={"model": model},
        questions={"n": n, "method": method, "seed": seed},
        scoring={"scorer": scorer},
        training={"method": training, "epochs": epochs, "max_steps": max_steps,
                  "gradient_accumulation_steps": grad_accum, "integrate": integrate},
        search=_search_flags(engine, index, judge, None, None, allow_private_hosts, None, None, None, None)))
    if cfg.training.integrate not in ("merge", "route"):
        raise UserError(f"--integrate must be merge or route, not {cfg.training.integrate!r}")
    store = open_store(workspace)
    start = time.perf_counter()
    with RichProgress() as progress:
        rows = run_learning(store, cfg, cycles=cycles, resume=resume, progress=progress)
    elapsed = time.perf_counter() - start
    if json_out:
        typer.echo(json.dumps({"cycles": rows, "seconds": elapsed}, indent=2, default=str))
        return
    _print_cycles(rows, elapsed)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_cycles(rows: list[dict], elapsed: float) -> None:
    from rich.table import Table

    table = Table(title=f"Self-learning ({elapsed / 60:.1f} min)")
    for col in ("cycle", "run", "model", "N", "|Q_H|", "SLC", "pairs", "new version", "halluc. before -> after",
                "ppl(word) before -> after", "ROUGE-Lsum before -> after"):
        table.add_column(col)
    for r in rows:
        b, a = r.get("before", {}), r.get("after", {})
        table.add_row(str(r["cycle"]), str(r["run"]), r["model"], _fmt(r.get("n")), _fmt(r.get("n_hallucinated")),
                      _fmt(r.get("self_learning_capability_score")), _fmt(r.get("pairs")),
                      _fmt(r.get("new_version") or r.get("stopped")),
                      f"{_fmt(b.get('hallucination'))} -> {_fmt(a.get('hallucination'))}",
                      f"{_fmt(b.get('ppl_word'))} -> {_fmt(a.get('ppl_word'))}",
                      f"{_fmt(b.get('rouge_lsum'))} -> {_fmt(a.get('rouge_lsum'))}")
    console().print(table)


@app.command()
def evaluate(
    run: int = typer.Argument(..., help="The cycle's self-questioning run (its Q_H and learned pairs are used)."),
    model: str = typer.Option(..., "--model", help="The model version to evaluate (see `selflearn versions`)."),
    against: str = typer.Option("base", "--against", help="The version to compare with (default: base)."),
    workspace: str = WORKSPACE,
    json_out: bool = JSON_OUT,
) -> None:
    """After-training evaluation: hallucination on the run's Q_H, held-out perplexity, ROUGE/BLEU, before and after."""
    from selflearn.config import from_dict
    from selflearn.learnstages import evaluate_stage
    from selflearn.progress import RichProgress

    store = open_store(workspace)
    cfg = from_dict(store.run(run)["config"])
    with RichProgress() as progress:
        result = evaluate_stage(store, cfg, run, before=against, after=model, progress=progress)
    if json_out:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=f"Evaluation on run {run}'s {result['q_h']} Points in the Unknown")
    table.add_column("measure")
    table.add_column(against)
    table.add_column(model)
    for key in sorted(set(result["before"]) - {"version"}):
        table.add_row(key, _fmt(result["before"].get(key)), _fmt(result["after"].get(key)))
    console().print(table)


@app.command()
def versions(workspace: str = WORKSPACE) -> None:
    """List the model versions self-learning has produced."""
    store = open_store(workspace)
    for v in store.versions():
        console().print(f"{v['name']}  parent={v['parent']}  run={v['run_id']}  {v['metrics'].get('integrate')}  "
                        f"{v['path']}")


@index_app.command("build")
def index_build(
    paths: list[Path] = typer.Argument(..., help="Folders of .txt/.md/.html files, or .jsonl files (title, text)."),
    index: Path = typer.Option(Path("workspace/index.sqlite"), "--index", help="Index database to create or update."),
) -> None:
    """Build (incrementally) a local full-text index (SQLite FTS5, BM25) over your documents."""
    from selflearn.search.local import LocalIndex

    stats = LocalIndex(index).build(paths)
    console().print(f"{index}: {stats}")


@index_app.command("search")
def index_search(
    query: str = typer.Argument(..., help="Free text."),
    index: Optional[Path] = typer.Option(None, "--index", help="Index database (default: the WordNet gloss index)."),
    k: int = typer.Option(5, "-k", help="Number of hits."),
    json_out: bool = JSON_OUT,
) -> None:
    """Query a local index; prints the hits and how long the query took."""
    from selflearn.search.corpus import ensure_default_index
    from selflearn.search.local import LocalIndex

    engine = LocalIndex(index) if index else ensure_default_index()
    start = time.perf_counter()
    hits = engine.search(query, k)
    ms = (time.perf_counter() - start) * 1000
    if json_out:
        typer.echo(json.dumps({"ms": ms, "hits": [h.__dict__ for h in hits]}, indent=2))
        return
    for h in hits:
        console().print(f"[bold]{h.title}[/] ({h.url}, {h.score:.2f})\n  {h.snippet}")
    console().print(f"{len(hits)} hits in {ms:.1f} ms")
