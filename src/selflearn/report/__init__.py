"""The HTML report of runs: computed only from the run store (no stage imports it).

    data = load_report(store, [1, 2])          # plain dicts, read-only
    html = render_report(data)                 # one self-contained page
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from selflearn.errors import UserError
from selflearn.report.data import load_report
from selflearn.report.render import render_report
from selflearn.store import Store

__all__ = ["load_report", "render_report", "write_report"]


def write_report(store: Store, path: str | Path, run_ids: Sequence[int] | None = None, *,
                 max_points: int | None = None, title: str = "selflearn report") -> dict:
    """Render the report of these runs (all when none) to path; returns {"path", "runs", "bytes"}."""
    data = load_report(store, run_ids, max_points=max_points)
    html = render_report(data, title=title)
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write the report to {out}: {exc}") from None
    return {"path": str(out), "runs": [r["id"] for r in data["runs"]], "bytes": len(html.encode("utf-8"))}
