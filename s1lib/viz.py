"""Plotly figures for every stage: scaling curves, Table 3, thinking lengths, forced insertions, funnel, domains, loss.

Inputs are plain lists and dicts of numbers, so notebooks, the CLI and batch grids can call these without
building intermediate objects. Every function returns a ``go.Figure``; ``save_figure`` writes standalone HTML
(plotly.js embedded, so it opens offline).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

TEMPLATE = "plotly_white"


def _layout(fig: go.Figure, title: str | None, **kwargs: Any) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, legend={"orientation": "h", "y": -0.2}, **kwargs)
    return fig


def scaling_curve(
    points_by_method: Mapping[str, Sequence[tuple[float, float]]],
    title: str | None = "Test-time scaling",
    percent: bool = True,
    log_x: bool = True,
    labels_by_method: Mapping[str, Sequence[str]] | None = None,
) -> go.Figure:
    """Accuracy vs average thinking tokens, one line per method (points sorted by tokens), log x by default.

    ``points_by_method[method]`` = [(avg thinking tokens, accuracy as a fraction), ...]; ``labels_by_method``
    optionally names each point (e.g. the budget) for the hover text.
    """
    fig = go.Figure()
    for method, points in points_by_method.items():
        labels = list(labels_by_method.get(method, [])) if labels_by_method else []
        order = sorted(range(len(points)), key=lambda i: float(points[i][0]))
        xs = [float(points[i][0]) for i in order]
        ys = [float(points[i][1]) * (100.0 if percent else 1.0) for i in order]
        text = [str(labels[i]) for i in order] if len(labels) == len(points) else None
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=str(method),
                text=text,
                hovertemplate="%{x:.0f} tokens<br>%{y:.1f}" + ("%" if percent else "") + "<br>%{text}<extra></extra>"
                if text
                else None,
            )
        )
    fig.update_xaxes(title="Average thinking tokens", type="log" if log_x else "linear")
    fig.update_yaxes(title="Accuracy (%)" if percent else "Accuracy")
    return _layout(fig, title)


def _row_value(row: Any, key: str) -> Any:
    if isinstance(row, Mapping):
        return row[key]
    return getattr(row, key)


def _fmt(value: float, spec: str) -> str:
    return "n/a" if value != value else format(value, spec)  # NaN check without importing math


def metrics_table(
    rows: Sequence[Any], title: str | None = "Sequential scaling: Control / Scaling / Performance"
) -> go.Figure:
    """Table-3 style: method, Control (%), Scaling (slope ×100), Performance (%).

    Rows are dicts or ``MethodMetrics`` with ``method``, ``control``, ``scaling``, ``performance`` as fractions.
    """
    methods = [str(_row_value(r, "method")) for r in rows]
    control = [_fmt(100 * float(_row_value(r, "control")), ".0f") + "%" for r in rows]
    scaling = [_fmt(100 * float(_row_value(r, "scaling")), ".3g") for r in rows]
    performance = [_fmt(100 * float(_row_value(r, "performance")), ".1f") for r in rows]
    fig = go.Figure(
        go.Table(
            header={"values": ["Method", "Control", "Scaling (×100)", "Performance"], "align": "left"},
            cells={"values": [methods, control, scaling, performance], "align": "left"},
        )
    )
    return _layout(fig, title)


def sweep_figures(
    methods: Sequence[Mapping[str, Any]],
    name: Callable[[Mapping[str, Any]], str] | None = None,
    table_title: str | None = "Sequential scaling: Control / Scaling (points per doubling) / Performance",
) -> tuple[go.Figure, go.Figure]:
    """The scaling curve and the Table-3 metrics of a sweep's ``results["methods"]`` (each with ``method``,
    ``points``, ``settings``, ``control``, ``scaling_log2_pp``, ``performance``); ``name`` labels a method (e.g.
    with its run). Scaling is the slope per doubling of thinking, so the table reads in accuracy points/doubling."""
    name = name or (lambda m: str(m["method"]))

    def fraction(value: Any, scale: float = 1.0) -> float:
        return float("nan") if value is None else value / scale

    curve = scaling_curve(
        {name(m): [tuple(p) for p in m["points"]] for m in methods},
        labels_by_method={name(m): list(m.get("settings") or []) for m in methods},
    )
    table = metrics_table(
        [
            {
                "method": name(m),
                "control": fraction(m.get("control")),
                "scaling": fraction(m.get("scaling_log2_pp"), 100),  # the table shows ×100
                "performance": fraction(m.get("performance")),
            }
            for m in methods
        ],
        title=table_title,
    )
    return curve, table


def thinking_length_histogram(
    lengths_by_setting: Mapping[str, Sequence[float]], title: str | None = "Thinking length", nbins: int = 30
) -> go.Figure:
    """Overlaid histograms of thinking tokens per setting (e.g. per budget)."""
    fig = go.Figure()
    for setting, lengths in lengths_by_setting.items():
        fig.add_trace(go.Histogram(x=[float(v) for v in lengths], name=str(setting), opacity=0.6, nbinsx=nbins))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="Thinking tokens")
    fig.update_yaxes(title="Count")
    return _layout(fig, title)


def forced_insertion_counts(
    counts_by_setting: Mapping[str, Mapping[str, float] | float], title: str | None = "Forced insertions"
) -> go.Figure:
    """Grouped bars: per setting, how often each insertion kind was forced ("Wait", end of thinking, ...).

    ``counts_by_setting[setting]`` is ``{kind: count}``, or a single number (one unnamed kind).
    """
    normalised = {s: (c if isinstance(c, Mapping) else {"forced": c}) for s, c in counts_by_setting.items()}
    kinds: list[str] = []
    for counts in normalised.values():
        kinds.extend(k for k in counts if k not in kinds)
    settings = [str(s) for s in normalised]
    fig = go.Figure()
    for kind in kinds:
        fig.add_trace(go.Bar(x=settings, y=[float(c.get(kind, 0)) for c in normalised.values()], name=str(kind)))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="Setting", type="category")
    fig.update_yaxes(title="Insertions")
    return _layout(fig, title)


def funnel(stages: Mapping[str, int] | Sequence[tuple[str, int]], title: str | None = "Curation funnel") -> go.Figure:
    """Rows kept after each curation stage, in order (dict order or a list of (stage, count))."""
    items = list(stages.items()) if isinstance(stages, Mapping) else [(s, c) for s, c in stages]
    fig = go.Figure(
        go.Funnel(y=[str(s) for s, _ in items], x=[int(c) for _, c in items], textinfo="value+percent initial")
    )
    return _layout(fig, title)


def domain_distribution(counts: Mapping[str, int], title: str | None = "Domains", top: int | None = None) -> go.Figure:
    """Horizontal bars of questions per domain, largest first (``top`` keeps the N largest)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    if top is not None:
        items = items[:top]
    items = items[::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure(go.Bar(x=[c for _, c in items], y=[str(d) for d, _ in items], orientation="h"))
    fig.update_xaxes(title="Questions")
    return _layout(fig, title, height=max(300, 22 * len(items) + 120))


def loss_curve(
    log_rows: Sequence[Mapping[str, Any]],
    title: str | None = "Training loss",
    keys: Sequence[str] = ("loss", "eval_loss"),
    x_key: str = "step",
) -> go.Figure:
    """Loss vs step from trainer log rows (``trainer.state.log_history``); one line per key present."""
    fig = go.Figure()
    for key in keys:
        rows = [r for r in log_rows if key in r and r[key] is not None and x_key in r]
        if rows:
            fig.add_trace(
                go.Scatter(x=[r[x_key] for r in rows], y=[float(r[key]) for r in rows], mode="lines+markers", name=key)
            )
    fig.update_xaxes(title=x_key.replace("_", " ").capitalize())
    fig.update_yaxes(title="Loss")
    return _layout(fig, title)


def save_figure(fig: go.Figure, path: str | Path) -> Path:
    """Write standalone HTML with plotly.js embedded (works offline); creates the folder. Returns the path.

    A ``<name>.plotly.json`` copy is written next to it, so reports (``s1lib.batch.report``) can gather many
    figures into one page with plotly.js embedded once.
    """
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"save_figure: {target} must end in .html (standalone HTML is written)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(target, include_plotlyjs=True, full_html=True)
    target.with_suffix(FIGURE_JSON_SUFFIX).write_text(fig.to_json())
    return target


FIGURE_JSON_SUFFIX = ".plotly.json"
