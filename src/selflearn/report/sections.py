"""The blocks of one run's section: linked question table, Points in the Unknown, learning, config."""

from __future__ import annotations

import json
from typing import Any

from selflearn.report.data import pivot
from selflearn.report.markup import e, num, table, when
from selflearn.report.svg import cluster_colour


def _score_colour(score: float | None) -> str:
    """Background tint of a score: transparent at 0, red at 1."""
    if score is None:
        return "transparent"
    return f"rgba(209,73,91,{0.04 + 0.36 * min(max(score, 0.0), 1.0):.2f})"


def _filter(target: str, placeholder: str) -> str:
    return (f'<input type="search" class="filter" data-target="{target}" placeholder="{e(placeholder)}" '
            f'aria-label="{e(placeholder)}"><span class="count" data-count-for="{target}"></span>')


def questions_block(run: dict) -> str:
    """All scored questions (Q_H first), linked to the embedding map: hover a row, click a point."""
    questions = run["questions"]
    if not questions:
        return ""
    rows, attrs = [], []
    for i, q in enumerate(questions):
        label = q["label"]
        swatch = f'<i class="sw" style="background:{cluster_colour(label)}"></i>{e(label)}' if label is not None else ""
        rows.append([(e(q["idx"]), q["idx"]), (swatch, label if label is not None else ""),
                     ("Q_H" if q["hallucinated"] else "Q_NH", int(q["hallucinated"])),
                     (num(q["score"]), q["score"] if q["score"] is not None else -1),
                     (e(q["topics"]), None), (e(q["text"]), None)])
        attrs.append(f'data-q="{i}" class="{"qh" if q["hallucinated"] else ""}"')
    target = f"questions-{run['id']}"
    body = table(["#", "Cluster", "Split", "Score", "Topics", "Question"], rows, cls="sortable questions",
                 attrs=attrs)
    return (f'<details class="block" open><summary>All {len(questions)} questions (linked to the map)</summary>'
            f'<div class="toolbar">{_filter(target, "filter questions")}</div>'
            f'<div class="scroll" id="{target}" data-run="{run["id"]}">{body}</div></details>')


def _point(p: dict[str, Any]) -> str:
    sentences = "".join(
        f'<span class="sent" style="background:{_score_colour(s["score"])}" title="sentence score '
        f'{num(s["score"], 3) or "-"}">{e(s["text"])}<sup>{num(s["score"], 2) or "-"}</sup></span> '
        for s in p["sentences"]) or e(p["passage"])
    samples = "".join(f"<li>{e(s)}</li>" for s in p["samples"])
    return (f'<article class="point"><header><span class="score" style="background:{_score_colour(p["score"])}">'
            f'{num(p["score"], 2)}</span><span class="q">{e(p["text"])}</span></header>'
            f'<div class="topics">topics: {e(p["topics"])} · question #{e(p["idx"])}</div>'
            f'<div class="passage"><b>passage</b> {sentences}</div>'
            f'<details><summary>{len(p["samples"])} samples</summary><ol class="samples">{samples}</ol></details>'
            f"</article>")


def points_block(run: dict) -> str:
    """The Points in the Unknown (Q_H) with passage, per-sentence scores and samples, filterable."""
    points = run["points"]
    head = f'<h3>Points in the Unknown <span class="n">{run["n_points"]}</span></h3>'
    if not run["questions"]:
        return head + '<p class="empty">No scored questions yet.</p>'
    if not points:
        return head + '<p class="empty">No question of this run scored above the threshold.</p>'
    target = f"points-{run['id']}"
    shown = "" if len(points) == run["n_points"] else \
        f'<p class="meta">showing the first {len(points)} of {run["n_points"]} (--max-points)</p>'
    return (f'{head}{shown}<div class="toolbar">{_filter(target, "search questions, topics, passages, samples")}'
            f'</div><div class="points" id="{target}">{"".join(_point(p) for p in points)}</div>')


def learning_block(run: dict) -> str:
    """Evaluations and learned pairs of the run's self-learning cycle, or a clear 'no training yet'."""
    parts = ["<h3>Self-learning</h3>"]
    evals, pairs, stages = run["evaluations"], run["pairs"], run["stages"]
    if stages:
        rows = [[(e(s["stage"]), s["stage"]), (e(s["status"]), s["status"]), (when(s["updated_at"]), s["updated_at"]),
                 (f'<code>{e(json.dumps(s["details"], default=str))}</code>', None)] for s in stages]
        parts.append(table(["Stage", "Status", "Updated", "Details"], rows, cls="sortable stages"))
    if not evals and not pairs:
        parts.append('<p class="empty">No training yet: no preference pairs or evaluations are stored for this '
                     'run.</p>')
        return "".join(parts)
    if evals:
        parts.append("<h4>Evaluations</h4>" + evaluations_pivot(evals))
        rows = [[(e(r["model_version"]), r["model_version"]), (e(r["measure"]), r["measure"]),
                 (num(r["value"], 4), r["value"]), (f'<code>{e(json.dumps(r["details"]))}</code>', None),
                 (when(r["created_at"]), r["created_at"])] for r in evals]
        parts.append('<details><summary>all evaluation rows</summary>'
                     + table(["Model version", "Measure", "Value", "Details", "Created"], rows) + "</details>")
    else:
        parts.append('<p class="empty">No evaluations stored for this run yet.</p>')
    parts.append(_pairs(run) if pairs else '<p class="empty">No preference pairs stored for this run.</p>')
    return "".join(parts)


def evaluations_pivot(rows: list[dict]) -> str:
    """Evaluation rows as a grid: one row per measure, one column per model version (newest value)."""
    measures, versions, cells = pivot(rows)
    head = "".join(f"<th>{e(v)}</th>" for v in versions)
    body = "".join(f"<tr><th>{e(m)}</th>" + "".join(f"<td>{num(cells.get((m, v)), 4)}</td>" for v in versions)
                   + "</tr>" for m in measures)
    return (f'<table class="grid evaluations"><thead><tr><th>measure \\ model version</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _pairs(run: dict) -> str:
    pairs = run["pairs"]
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    summary = ", ".join(f"{n} {e(k)}" for k, n in sorted(kinds.items()))
    rows = [[(e(p["kind"]), p["kind"]), (num(p["similarity"], 2), p["similarity"]),
             (f'<div class="cell">{e(p["prompt"])}</div>', None), (f'<div class="cell">{e(p["chosen"])}</div>', None),
             (f'<div class="cell">{e(p["rejected"])}</div>', None)] for p in pairs]
    target = f"pairs-{run['id']}"
    return (f'<h4>Pairs learned <span class="n">{len(pairs)}</span></h4><p class="meta">{summary}</p>'
            f'<div class="toolbar">{_filter(target, "filter pairs")}</div><div class="scroll" id="{target}">'
            + table(["Kind", "Similarity", "Prompt", "Chosen", "Rejected"], rows, cls="sortable pairs") + "</div>")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}{k}.")]
    return [(prefix.rstrip("."), value)]


def config_block(run: dict) -> str:
    """The resolved config (runs.config_json) and the versions that produced the run (runs.env_json)."""
    info = run["info"]
    env_rows = [[(f"<code>{e(k)}</code>", k), (e(v), None)] for k, v in _flatten(info["env"]) if k]
    env = table(["Key", "Value"], env_rows, cls="env") if env_rows else \
        '<p class="empty">No environment recorded (imported run).</p>'
    return (f'<details class="block"><summary>Config and environment</summary><div class="two">'
            f'<div><h4>Resolved config</h4><pre>{e(json.dumps(info["config"], indent=2, sort_keys=True))}</pre></div>'
            f'<div><h4>Model and package versions</h4><p class="meta">model <code>{e(info["model"])}</code>, version '
            f'<code>{e(info["model_version"] or "-")}</code></p>{env}</div></div></details>')
