"""The report as ONE self-contained HTML page: styles, script and SVG plots inline, every text escaped.

Questions, passages and samples are model output, so they are untrusted: everything from the store goes
through html.escape, and no store text is ever placed inside a <script> element.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from selflearn.report import svg
from selflearn.report.data import METRIC_KEYS
from selflearn.report.markup import e, num, table, when
from selflearn.report.sections import (config_block, evaluations_pivot, learning_block, points_block,
                                       questions_block)

ASSETS = Path(__file__).resolve().parent / "assets"
METHOD_ORDER = ("open", "induced", "oracle", "external")
METRIC_NAMES = ("Curiosity", "Knowledge-Limit Awareness", "Brevity", "SLC")
# Installed before anything else runs, so even an error in the main script is counted (the browser test reads it).
ERROR_HOOK = ("window.__reportErrors=[];window.onerror=function(m){window.__reportErrors.push(String(m));"
              "(document.body||document.documentElement).setAttribute('data-script-errors',"
              "String(window.__reportErrors.length));};")


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def render_report(data: dict[str, Any], *, title: str = "selflearn report") -> str:
    """The whole HTML page of a load_report() dict."""
    runs = data["runs"]
    body = [
        f'<header><h1>{e(title)}</h1><p class="meta">{len(runs)} run(s) from <code>{e(data["workspace"])}</code>, '
        f'generated {when(data["generated_at"])} UTC. Metrics as in Ferdinan et al., "Into the Unknown: Self-Learning '
        f'Large Language Models" (arXiv 2402.09147), Table II.</p>{_toc(runs)}</header>',
        '<section id="comparison"><h2>Comparison</h2>',
        _comparison(runs), _paper_grid(runs), "<h3>Runs</h3>", _runs_table(runs), "</section>",
        _learning_overview(data), *(_run_section(run) for run in runs),
    ]
    if not runs:
        body.insert(1, '<p class="empty">The workspace has no runs yet.</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><script>{ERROR_HOOK}</script><style>{_asset('report.css')}</style></head>"
            f"<body><main>{''.join(body)}</main><script>{_asset('report.js')}</script></body></html>\n")


def _toc(runs: Sequence[dict]) -> str:
    links = "".join(f'<a href="#run-{r["id"]}">{r["id"]}: {e(_short_model(r))} · {e(r["info"]["method"])}</a>'
                    for r in runs)
    return f'<nav>Runs: {links}</nav>' if runs else ""


def _short_model(run: dict) -> str:
    return str(run["info"]["model"] or "?").split("/")[-1]


def _metric_cells(m: dict | None) -> list[tuple[str, Any]]:
    m = m or {}
    cells = [(num(m.get(k)), m.get(k)) for k in METRIC_KEYS]
    return cells + [(e(m.get("n_hallucinated")), m.get("n_hallucinated")), (e(m.get("n")), m.get("n"))]


def _comparison(runs: Sequence[dict]) -> str:
    """Table II as one sortable row per run (model x method)."""
    ordered = sorted(runs, key=lambda r: (str(r["info"]["model"]), _method_rank(r["info"]["method"]), r["id"]))
    rows = [[(e(r["info"]["model"]), str(r["info"]["model"])), (e(r["info"]["method"]), r["info"]["method"]),
             *_metric_cells(r["metrics"]), (f'<a href="#run-{r["id"]}">{r["id"]}</a>', r["id"]),
             (e(r["scorer"]), r["scorer"])] for r in ordered]
    headers = ["Model", "Method", *METRIC_NAMES, "|Q_H|", "N", "Run", "Scorer"]
    return ('<p class="hint">Click a column header to sort. Q_H: passages scoring above the threshold.</p>'
            + table(headers, rows, cls="sortable comparison"))


def _method_rank(method: str | None) -> int:
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def _paper_grid(runs: Sequence[dict]) -> str:
    """The paper's compact layout: one row per model, one column per method, cells Cur/KLA/Brevity/SLC."""
    if not runs:
        return ""
    methods = sorted({str(r["info"]["method"]) for r in runs}, key=lambda m: (_method_rank(m), m))
    models = sorted({str(r["info"]["model"]) for r in runs})
    latest = {(str(r["info"]["model"]), str(r["info"]["method"])): r for r in sorted(runs, key=lambda r: r["id"])}
    lines = []
    for model in models:
        cells = []
        for method in methods:
            run = latest.get((model, method))
            m = (run or {}).get("metrics") or {}
            text = "/".join(_paper_num(m.get(k)) for k in METRIC_KEYS) if m else ""
            cells.append(f'<td title="run {run["id"]}">{text}</td>' if run else "<td></td>")
        lines.append(f"<tr><th>{e(model)}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th>{e(m)}</th>" for m in methods)
    return ('<h3>In the paper\'s layout (Cur / KLA / Brevity / SLC)</h3><table class="grid"><thead><tr><th>model</th>'
            f'{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>')


def _paper_num(value: Any) -> str:
    """.73 style, as the paper prints its scores (1 and 0 stay whole)."""
    if value is None:
        return "-"
    x = round(float(value), 2)
    return f"{x:g}" if x in (0.0, 1.0) else f"{x:.2f}".lstrip("0")


def _runs_table(runs: Sequence[dict]) -> str:
    rows = []
    for r in runs:
        i = r["info"]
        rows.append([(f'<a href="#run-{r["id"]}">{r["id"]}</a>', r["id"]), (e(i["kind"]), i["kind"]),
                     (e(i["label"]), i["label"]), (e(i["model_version"]), i["model_version"]),
                     (e(i["status"]), i["status"]), (e(r["n_questions"]), r["n_questions"]),
                     (e(i["n_target"]), i["n_target"]), (e(i["seed"]), i["seed"]),
                     (e(i["parent_run_id"]), i["parent_run_id"]), (e(i["cycle"]), i["cycle"]),
                     (when(i["created_at"]), i["created_at"]), (when(i["finished_at"]), i["finished_at"])])
    headers = ["Run", "Kind", "Label", "Model version", "Status", "Questions", "Target", "Seed", "Parent", "Cycle",
               "Created", "Finished"]
    return table(headers, rows, cls="sortable runs")


def _learning_overview(data: dict) -> str:
    """Model versions produced by training and every evaluation of them, across the reported runs."""
    versions = data["model_versions"]
    evals = data["evaluations"]
    if not versions and not evals:
        return ('<section id="learning"><h2>Self-learning cycles</h2><p class="empty">No training yet: the store '
                'holds no model versions and no evaluations.</p></section>')
    rows = [[(e(v["name"]), v["name"]), (e(v["parent"]), v["parent"]), (e(v["base_model"]), v["base_model"]),
             (e(v["run_id"]), v["run_id"]), (e(v["status"]), v["status"]), (when(v["created_at"]), v["created_at"]),
             (f'<code>{e(json.dumps(v["metrics"]))}</code>', None), (f'<code class="path">{e(v["path"])}</code>', None)]
            for v in versions]
    parts = ['<section id="learning"><h2>Self-learning cycles</h2>', "<h3>Model versions</h3>"]
    parts.append(table(["Name", "Parent", "Base model", "Run", "Status", "Created", "Metrics", "Path"], rows)
                 if versions else '<p class="empty">No model versions stored.</p>')
    parts.append("<h3>Evaluations (newest value per measure and version)</h3>")
    parts.append(evaluations_pivot(evals) if evals else '<p class="empty">No evaluations stored.</p>')
    return "".join(parts) + "</section>"


def _run_section(run: dict) -> str:
    i = run["info"]
    head = (f'<section class="run" id="run-{run["id"]}"><h2>Run {run["id"]}: {e(i["model"])} · {e(i["method"])} '
            f'<span class="badge">{e(i["kind"])}</span><span class="badge">{e(i["status"])}</span></h2>'
            f'<p class="meta">label {e(i["label"] or "-")} · scorer <code>{e(run["scorer"] or "-")}</code> · '
            f'threshold {run["threshold"]:g} · created {when(i["created_at"])}{_lineage(i)}</p>')
    return "".join([head, _cards(run), _plots(run), questions_block(run), points_block(run), learning_block(run),
                    config_block(run), "</section>"])


def _lineage(info: dict) -> str:
    parts = []
    if info.get("cycle") is not None:
        parts.append(f" · cycle {e(info['cycle'])}")
    if info.get("parent_run_id") is not None:
        parts.append(f' · after run <a href="#run-{e(info["parent_run_id"])}">{e(info["parent_run_id"])}</a>')
    return "".join(parts)


def _cards(run: dict) -> str:
    m = run["metrics"] or {}
    if not m:
        return '<p class="empty">No metrics stored for this run yet (run <code>selflearn metrics</code>).</p>'
    values = [(name, num(m.get(k))) for name, k in zip(METRIC_NAMES, METRIC_KEYS)]
    values += [("|Q_H|", e(m.get("n_hallucinated"))), ("N", e(m.get("n")))]
    cards = "".join(f'<div class="card"><div class="v">{v}</div><div class="k">{e(k)}</div></div>' for k, v in values)
    return f'<div class="cards">{cards}</div><p class="meta">metrics of scorer <code>{e(m.get("scorer"))}</code>, ' \
           f'clusters from <code>{e(m.get("embedder"))}</code></p>'


def _plots(run: dict) -> str:
    scores = run["scores"]
    if scores:
        mean = sum(scores) / len(scores)
        hist = svg.histogram(scores, run["threshold"])
        caption = (f"{len(scores)} scored passages, mean {mean:.3f}; "
                   f"{sum(s > run['threshold'] for s in scores)} above the threshold"
                   + (f"; {run['n_nan']} without a scorable sentence (not shown)" if run["n_nan"] else ""))
    else:
        hist, caption = '<p class="empty">No scores stored for this run.</p>', ""
    fig1 = f'<figure><figcaption>Passage hallucination scores</figcaption>{hist}<p class="caption">{e(caption)}</p>' \
           f'</figure>'
    emb = run["embedding"]
    if emb is None:
        fig2 = ('<figure><figcaption>Question embeddings</figcaption><p class="empty">This run has no stored question '
                'embeddings, so there is no map (they are stored by <code>selflearn metrics</code>).</p></figure>')
    else:
        note = f" {run['labels_note']}." if run.get("labels_note") else ""
        fig2 = (f'<figure><figcaption>Question embeddings: PCA of {emb["dim"]}-d <code>{e(emb["embedder"])}</code> '
                f'vectors, {len(emb["index"])} questions</figcaption>'
                f'{svg.scatter(emb, run["questions"], run_id=run["id"])}'
                f'<div class="legend">{svg.legend([q["label"] for q in run["questions"]])}</div>'
                f'<p class="caption">Colour: HDBSCAN cluster (stored labels); hover a point for its question, click '
                f'it to find it in the table below.{e(note)}</p></figure>')
    return f'<div class="figures">{fig1}{fig2}</div>'
