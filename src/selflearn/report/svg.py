"""The report's plots as inline SVG strings, drawn from plain numbers (no plotting library, no network)."""

from __future__ import annotations

import math
from html import escape
from typing import Any, Sequence

import numpy as np

# Colour-blind-friendly categorical palette (Okabe-Ito plus a few Tableau tones); -1 (HDBSCAN outlier) is grey.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
           "#8c564b", "#17becf", "#7f7f7f", "#bcbd22")
OUTLIER = "#b8b8b8"
LOW, HIGH = "#5b8fc7", "#d1495b"


def cluster_colour(label: int | None) -> str:
    """The colour of a cluster label (grey for outliers and unlabelled points)."""
    if label is None or label < 0:
        return OUTLIER
    return PALETTE[label % len(PALETTE)]


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def histogram(scores: Sequence[float], threshold: float, *, bins: int = 20, width: int = 520,
              height: int = 230) -> str:
    """Histogram of passage hallucination scores on [0, 1] with the Q_H threshold marked."""
    left, right, top, bottom = 44, 12, 16, 36
    pw, ph = width - left - right, height - top - bottom
    values = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    peak = max(int(counts.max()) if len(counts) else 0, 1)
    parts = [f'<svg class="plot hist" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" xmlns="http://www.w3.org/2000/svg"><title>Passage hallucination scores</title>']
    for tick in _ticks(peak):
        y = top + ph - ph * tick / peak
        parts.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{_fmt(y)}" y2="{_fmt(y)}"/>'
                     f'<text class="tick" x="{left - 6}" y="{_fmt(y + 4)}" text-anchor="end">{tick}</text>')
    bar_w = pw / bins
    for count, lo, hi in zip(counts, edges[:-1], edges[1:]):
        h = ph * count / peak
        colour = HIGH if lo >= threshold else LOW
        parts.append(f'<rect x="{_fmt(left + lo * pw + 0.5)}" y="{_fmt(top + ph - h)}" width="{_fmt(bar_w - 1)}" '
                     f'height="{_fmt(h)}" fill="{colour}"><title>{lo:.2f}-{hi:.2f}: {int(count)} passages'
                     f'</title></rect>')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * pw
        parts.append(f'<text class="tick" x="{_fmt(x)}" y="{top + ph + 15}" text-anchor="middle">{tick:g}</text>')
    tx = left + min(max(threshold, 0.0), 1.0) * pw
    parts.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>'
                 f'<line class="threshold" x1="{_fmt(tx)}" x2="{_fmt(tx)}" y1="{top - 4}" y2="{top + ph}"/>'
                 f'<text class="threshold-label" x="{_fmt(tx + 4)}" y="{top + 8}">threshold {threshold:g}</text>'
                 f'<text class="axis-label" x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">'
                 f'passage hallucination score (mean contradiction)</text></svg>')
    return "".join(parts)


def _ticks(peak: int) -> list[int]:
    """About four round tick values from 0 to peak."""
    raw = peak / 4
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = max(1, int(next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)))
    return list(range(0, peak + 1, step))


def _marker(x: float, y: float, hallucinated: bool) -> str:
    """A diamond for Q_H, a circle for Q_NH (shape, not only colour, tells them apart)."""
    if hallucinated:
        r = 5.0
        corners = ((x, y - r), (x + r, y), (x, y + r), (x - r, y))
        return '<path d="M' + "L".join(f"{_fmt(a)} {_fmt(b)}" for a, b in corners) + 'Z"'
    return f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="3.2"'


def scatter(embedding: dict[str, Any], questions: Sequence[dict[str, Any]], *, run_id: int, width: int = 560,
            height: int = 420) -> str:
    """The questions' 2-D PCA map: colour = cluster label, diamond = Q_H; hover shows the question."""
    pad = 18
    xy = np.asarray(embedding["xy"], dtype=float).reshape(-1, 2)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    px = pad + (xy[:, 0] - lo[0]) / span[0] * (width - 2 * pad)
    py = height - pad - (xy[:, 1] - lo[1]) / span[1] * (height - 2 * pad)
    ev = embedding["explained"]
    parts = [f'<svg class="plot map" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" data-run="{run_id}"><title>Question embeddings (PCA)</title>'
             f'<rect class="frame" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}"/>'
             f'<text class="axis-label" x="{width - 6}" y="{height - 5}" text-anchor="end">PC1 ({ev[0]:.0%})</text>'
             f'<text class="axis-label" x="6" y="13">PC2 ({ev[1]:.0%})</text>']
    # Q_NH first, Q_H on top: the Points in the Unknown are what the reader looks for.
    order = sorted(range(len(embedding["index"])), key=lambda k: questions[embedding["index"][k]]["hallucinated"])
    for k in order:
        i = embedding["index"][k]
        q = questions[i]
        label = "outlier" if q["label"] is not None and q["label"] < 0 else q["label"]
        tip = (f"#{q['idx']} {'Q_H' if q['hallucinated'] else 'Q_NH'} cluster {label if label is not None else '?'}"
               f" score {'-' if q['score'] is None else format(q['score'], '.2f')}: {q['text']}")
        parts.append(f'{_marker(px[k], py[k], q["hallucinated"])} class="pt{" qh" if q["hallucinated"] else ""}" '
                     f'fill="{cluster_colour(q["label"])}" data-q="{i}"><title>{escape(tip)}</title>'
                     f'{"</path>" if q["hallucinated"] else "</circle>"}')
    parts.append("</svg>")
    return "".join(parts)


def legend(labels: Sequence[int | None]) -> str:
    """HTML legend of markers and of the cluster colours that occur."""
    items = ['<span class="key"><svg width="12" height="12"><path d="M6 1L11 6L6 11L1 6Z" fill="#555"/></svg>'
             ' Q_H (Point in the Unknown)</span>',
             '<span class="key"><svg width="12" height="12"><circle cx="6" cy="6" r="3.5" fill="#555"/></svg>'
             ' Q_NH</span>']
    present = sorted({x for x in labels if x is not None})
    if not present:
        return "".join(items)
    items.append(f'<span class="key"><i style="background:{OUTLIER}"></i> outlier (-1)</span>' if -1 in present else "")
    shown = [x for x in present if x >= 0]
    for label in shown[:len(PALETTE)]:
        items.append(f'<span class="key"><i style="background:{cluster_colour(label)}"></i> {label}</span>')
    if len(shown) > len(PALETTE):
        items.append(f'<span class="key">... {len(shown)} clusters, colours repeat</span>')
    return "".join(items)
