"""`selflearn questions`: the self-questioning job."""

from __future__ import annotations

import json
from typing import Optional

import typer

from selflearn.cli import CONFIG, JSON_OUT, WORKSPACE, console, flag_overrides, open_store, app
from selflearn.errors import UserError


@app.command()
def questions(
    method: Optional[str] = typer.Option(None, "--method", "-m", help="open | induced | oracle | external | "
                                         "baseline, or 'all' for the four methods plus baseline. Default: oracle."),
    model: Optional[str] = typer.Option(None, "--model", help="smollm2-135m-instruct (embedded default), a local "
                                        "folder, a .gguf file, a hub id, or the server's model name (--backend openai)."),
    n: Optional[int] = typer.Option(None, "-n", help="Number of questions per method. Default: 20."),
    backend: Optional[str] = typer.Option(None, "--backend", help="transformers | openai | vllm | llamacpp | baseline."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (--backend "
                                           "openai). Env: OPENAI_BASE_URL; key from OPENAI_API_KEY."),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="offline (default, no download) | nli | llm."),
    nli_model: Optional[str] = typer.Option(None, "--nli-model", help="MNLI model for --scorer nli (folder or hub id)."),
    topics: Optional[str] = typer.Option(None, "--topics", help="external: a topics file (.txt/.json/.jsonl), an "
                                         "RSS/Atom URL, or 'serpapi' (SERP_API_KEY). Default: the paper's trending sets."),
    temperature: Optional[str] = typer.Option(None, "--temperature", help="Question-generation temperature; a "
                                              "comma list (0,0.5,1,1.5,2) runs one run per value (the paper's study)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Questions per stored batch (default 16)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed gives the same run."),
    resume: bool = typer.Option(False, "--resume", help="Continue the newest unfinished run (or --run)."),
    run: Optional[int] = typer.Option(None, "--run", help="With --resume: the run id to continue."),
    config: Optional[str] = CONFIG,
    workspace: str = WORKSPACE,
    json_out: bool = JSON_OUT,
) -> None:
    """Self-questioning: propose questions, answer each greedily and 10x sampled, score, measure."""
    from selflearn.config import from_dict, load_config
    from selflearn.loop import resume_config, run_questions, start_questions_run
    from selflearn.progress import RichProgress

    store = open_store(workspace)
    if resume:
        run_id, cfg = resume_config(store, run)
        jobs = [(run_id, cfg)]
    else:
        overrides = flag_overrides(
            generation={"model": model, "backend": backend, "base_url": base_url},
            questions={"n": n, "topics": topics, "batch_size": batch_size, "seed": seed},
            scoring={"scorer": scorer, "nli_model": nli_model})
        base = load_config(config, overrides)
        methods = _methods(method or base.questions.method)
        temps = _temperatures(temperature) or [base.questions.temperature]
        jobs = []
        for m in methods:
            for t in temps:
                cfg = load_config(config, overrides)
                cfg.questions.method, cfg.questions.temperature = m, t
                jobs.append((None, cfg))
    summaries = []
    with RichProgress() as progress:
        built = None
        for run_id, cfg in jobs:
            if run_id is None:
                run_id = start_questions_run(store, cfg)
                cfg = from_dict(store.run(run_id)["config"])  # as stored (live topics frozen to a file)
            built = _reuse_or_build(built, cfg)
            summary = run_questions(store, cfg, run_id, built=built, progress=progress)
            summaries.append({"run": run_id, "method": cfg.questions.method,
                              "temperature": cfg.questions.temperature, "model": cfg.generation.model, **summary})
    _print_summaries(summaries, json_out)


def _methods(value: str) -> list[str]:
    from selflearn.registry import QUESTION_SOURCES

    names = list(QUESTION_SOURCES) if value == "all" else [m.strip() for m in value.split(",") if m.strip()]
    for name in names:
        if name not in QUESTION_SOURCES:
            raise UserError(f"unknown method {name!r}; choose one of: {', '.join(QUESTION_SOURCES)}, all")
    return names


def _temperatures(value: str | None) -> list[float]:
    if not value:
        return []
    try:
        temps = [float(t) for t in value.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--temperature takes numbers separated by commas, not {value!r}") from None
    if any(t < 0 for t in temps):
        raise UserError("--temperature values must be >= 0")
    return temps


def _reuse_or_build(built, cfg):
    """Load models once for all runs of one command when their generation/scoring settings agree."""
    from selflearn.loop import build

    if built is not None and getattr(built, "key", None) == _build_key(cfg):
        from selflearn import components

        built.parts.source = components.build_source(cfg.questions, built.parts.generator, built.embedder)
        return built
    built = build(cfg)
    built.key = _build_key(cfg)
    return built


def _build_key(cfg) -> str:
    return json.dumps([cfg.to_dict()["generation"], cfg.to_dict()["scoring"], cfg.to_dict()["metrics"]])


def _print_summaries(rows: list[dict], json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(rows, indent=2, default=float))
        return
    from rich.table import Table

    table = Table(title="Self-questioning")
    for col in ("run", "method", "temp", "N", "|Q_H|", "Q_H share", "Curiosity", "KLA", "Brevity", "SLC"):
        table.add_column(col, justify="right")
    for r in rows:
        share = r["n_hallucinated"] / r["n"] if r["n"] else float("nan")
        table.add_row(str(r["run"]), r["method"], f"{r.get('temperature', '')}", str(r["n"]), str(r["n_hallucinated"]),
                      f"{share:.2f}", f"{r['curiosity_score']:.3f}", f"{r['knowledge_limit_awareness_score']:.3f}",
                      f"{r['brevity_coefficient']:.3f}", f"{r['self_learning_capability_score']:.3f}")
    console().print(table)
