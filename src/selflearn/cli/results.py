"""Commands over stored results: metrics, rescore, export, import, runs, show."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Optional

import typer

from selflearn.cli import JSON_OUT, WORKSPACE, app, console, open_store
from selflearn.errors import UserError

TARGET = typer.Argument(..., help="A run id in the workspace, or a result file (the seed's pickle or our JSON).")
SCORE_KEYS = ("curiosity_score", "knowledge_limit_awareness_score", "brevity_coefficient",
              "self_learning_capability_score")


def open_target(target: str, workspace: str):
    """(store, run id) for a run id, or for a result file imported into a throw-away store."""
    from selflearn.seedformat import import_result_file

    if target.isdigit():
        return open_store(workspace), int(target)
    path = Path(target)
    if not path.exists():
        raise UserError(f"{target!r} is neither a run id nor an existing result file")
    store = open_store(tempfile.mkdtemp(prefix="selflearn-file-"))
    return store, import_result_file(store, path)


@app.command()
def metrics(
    target: str = TARGET,
    reuse_labels: bool = typer.Option(False, "--reuse-labels", help="Use the stored cluster labels instead of "
                                      "clustering again (reproduces a paper file's Curiosity exactly)."),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="Whose scores split Q_H/Q_NH (default: the run's)."),
    embedder: str = typer.Option("minilm", "--embedder", help="Embedder for clustering (default: packaged MiniLM-L6)."),
    threshold: float = typer.Option(0.5, "--threshold", help="Q_H when the passage score is above this."),
    reduce_dims: Optional[int] = typer.Option(None, "--reduce-dims", help="PCA to this many dimensions before HDBSCAN."),
    workspace: str = WORKSPACE,
    json_out: bool = JSON_OUT,
) -> None:
    """Recompute Curiosity, Knowledge-Limit Awareness, Brevity and SLC of a run or result file."""
    from selflearn.embed import SentenceTransformerEmbedder
    from selflearn.selfquestion import measure_run

    store, run_id = open_target(target, workspace)
    stored = store.metrics(run_id)
    summary = measure_run(store, run_id, scorer_name=scorer or store.run(run_id)["scorer"], threshold=threshold,
                          embedder=SentenceTransformerEmbedder(embedder), embedder_name=embedder,
                          reuse_labels=reuse_labels, reduce_dims=reduce_dims)
    if json_out:
        typer.echo(json.dumps({"run": run_id, **summary}, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Metrics of {target}")
    for col in ("", "N", "|Q_H|", "Curiosity", "KLA", "Brevity", "SLC"):
        table.add_column(col, justify="right")
    table.add_row("computed", str(summary["n"]), str(summary["n_hallucinated"]),
                  *(f"{summary[k]:.6f}" for k in SCORE_KEYS))
    if stored and stored.get("embedder") == "file":
        table.add_row("stored in file", str(stored.get("n")), str(stored.get("n_hallucinated")),
                      *(f"{float(stored[k]):.6f}" for k in SCORE_KEYS))
    console().print(table)


@app.command()
def rescore(
    target: str = TARGET,
    scorer: str = typer.Option(..., "--scorer", help="offline | nli | llm"),
    nli_model: Optional[str] = typer.Option(None, "--nli-model", help="MNLI model for --scorer nli."),
    checker_model: Optional[str] = typer.Option(None, "--checker-model", help="Checker LLM for --scorer llm."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Score a seeded random sample of this many questions."),
    workspace: str = WORKSPACE,
    json_out: bool = JSON_OUT,
) -> None:
    """Score stored passages and samples again with another scorer; print its agreement with the stored scores."""
    from selflearn import components
    from selflearn.config import MetricsConfig, ScoringConfig
    from selflearn.progress import RichProgress
    from selflearn.rescore import rescore_run

    scoring = ScoringConfig(scorer=scorer, checker_model=checker_model)
    if nli_model:
        scoring.nli_model = nli_model
    store, run_id = open_target(target, workspace)
    embedder = components.build_embedder(MetricsConfig())
    built = components.build_scorer(scoring, generator=None, embedder=embedder)
    with RichProgress() as progress:
        result = rescore_run(store, run_id, built, components.scorer_name(scoring), limit=limit, progress=progress)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    console().print(f"[bold]{result['scorer']}[/] vs stored [bold]{result['reference']}[/] on {result['n']} questions: "
                    f"Spearman {result['spearman']:.3f}, AUROC {result['auroc']:.3f} "
                    f"(Q_H {result['new_q_h']} vs {result['reference_q_h']})")


@app.command("export")
def export_run(
    run: int = typer.Argument(..., help="Run id."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    fmt: str = typer.Option("pickle", "--format", "-f", help="pickle (the seed's dictionary) | json | jsonl"),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="Whose scores split Q_H/Q_NH (default: the run's)."),
    embedder: str = typer.Option("minilm", "--embedder", help="Embedder for topics_embedding/prompt_embedding."),
    workspace: str = WORKSPACE,
) -> None:
    """Export a run as the seed's result dictionary (pickle), JSON, or JSONL (one question per line)."""
    from selflearn.embed import SentenceTransformerEmbedder
    from selflearn.seedformat import export_run_file

    if fmt not in ("pickle", "json", "jsonl"):
        raise UserError(f"unknown format {fmt!r}; choose pickle, json or jsonl")
    store = open_store(workspace)
    n = export_run_file(store, run, output, fmt=fmt, scorer=scorer,
                        embedder=SentenceTransformerEmbedder(embedder), embedder_name=embedder)
    console().print(f"wrote {n} questions of run {run} to {output}")


@app.command("import")
def import_files(
    files: list[Path] = typer.Argument(..., help="Result files (the paper's pickles or our JSON exports)."),
    workspace: str = WORKSPACE,
) -> None:
    """Import the paper's (or anyone's) result files as runs, e.g. to compare them in a report."""
    from selflearn.seedformat import import_result_file

    store = open_store(workspace)
    for path in files:
        run_id = import_result_file(store, path)
        console().print(f"imported {path} as run {run_id}")


@app.command()
def runs(workspace: str = WORKSPACE, json_out: bool = JSON_OUT) -> None:
    """List the runs in the workspace with their scores."""
    store = open_store(workspace)
    rows = []
    for run in store.runs():
        m = store.metrics(run["id"]) or {}
        rows.append({"run": run["id"], "kind": run["kind"], "model": run["model"], "method": run["method"],
                     "status": run["status"], "created": run["created_at"], "n": m.get("n"),
                     **{k: m.get(k) for k in SCORE_KEYS}})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Runs in {store.path}")
    for col in ("run", "kind", "model", "method", "status", "N", "Cur", "KLA", "Brev", "SLC", "created"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["run"]), r["kind"], str(r["model"]), str(r["method"]), r["status"], str(r["n"] or ""),
                      *(("" if r[k] is None else f"{float(r[k]):.3f}") for k in SCORE_KEYS), r["created"])
    console().print(table)


@app.command()
def show(run: int = typer.Argument(..., help="Run id."), workspace: str = WORKSPACE, json_out: bool = JSON_OUT) -> None:
    """Print one run's summary: config, counts, scores and its Points in the Unknown."""
    from selflearn.split import split_run

    store = open_store(workspace)
    info = store.run(run)
    m = store.metrics(run) or {}
    threshold = info["config"].get("scoring", {}).get("threshold", 0.5)
    split = split_run(store, run, info["scorer"], threshold) if info["scorer"] else None
    q_h = split.questions[:split.n_hallucinated] if split else []
    data = {"run": info, "metrics": {k: v for k, v in m.items() if k != "labels"}, "points_in_the_unknown": q_h}
    if json_out:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    out = console()
    out.print(f"[bold]run {run}[/] {info['kind']} {info['method']} model={info['model']} status={info['status']} "
              f"scorer={info['scorer']} created={info['created_at']}")
    out.print({k: v for k, v in data["metrics"].items()})
    out.print(f"[bold]{len(q_h)} Points in the Unknown[/]")
    for text in q_h[:20]:
        out.print(f"  - {text}")
    if len(q_h) > 20:
        out.print(f"  ... and {len(q_h) - 20} more (selflearn export {run} -f jsonl)")
