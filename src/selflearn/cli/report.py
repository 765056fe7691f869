"""`selflearn report`: one self-contained HTML page of runs, read from the store only."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selflearn.cli import WORKSPACE, app, console, open_store


@app.command()
def report(
    runs: Optional[list[int]] = typer.Argument(None, help="Run ids to report (default: every run in the workspace)."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write."),
    max_points: Optional[int] = typer.Option(None, "--max-points", min=1, help="Show at most this many Points in "
                                             "the Unknown per run, with their samples (default: all)."),
    title: str = typer.Option("selflearn report", "--title", help="Title of the page."),
    workspace: str = WORKSPACE,
) -> None:
    """Write an HTML report: Table II comparison, score histograms, question maps, Points in the Unknown, training."""
    from selflearn.report import write_report

    store = open_store(workspace)
    result = write_report(store, output, runs or None, max_points=max_points, title=title)
    console().print(f"wrote {result['path']}: {len(result['runs'])} run(s), {result['bytes'] / 1e6:.1f} MB")
