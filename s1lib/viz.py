"""Plotly figures for every stage: scaling curves, the adaptive-budget Pareto figure, Table 3, thinking lengths,
forced insertions, funnels, domains, grouped counts, loss.

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
    intervals_by_method: Mapping[str, Sequence[Sequence[float | None]]] | None = None,
    references: Mapping[str, float] | None = None,
) -> go.Figure:
    """Accuracy vs average thinking tokens, one line per method (points sorted by tokens), log x by default.

    ``points_by_method[method]`` = [(avg thinking tokens, accuracy as a fraction), ...]; ``labels_by_method``
    optionally names each point (e.g. the budget) for the hover text; ``intervals_by_method`` gives each point's
    ``[low, high]`` (95%), drawn as error bars; ``references`` are horizontal lines (e.g. chance levels).
    """
    scale = 100.0 if percent else 1.0
    fig = go.Figure()
    for method, points in points_by_method.items():
        labels = list(labels_by_method.get(method, [])) if labels_by_method else []
        intervals = list(intervals_by_method.get(method, [])) if intervals_by_method else []
        order = sorted(range(len(points)), key=lambda i: float(points[i][0]))
        xs = [float(points[i][0]) for i in order]
        ys = [float(points[i][1]) * scale for i in order]
        text = [str(labels[i]) for i in order] if len(labels) == len(points) else None
        error_y = None
        if len(intervals) == len(points) and all(iv and None not in iv for iv in intervals):
            error_y = {
                "type": "data",
                "symmetric": False,
                "array": [float(intervals[i][1]) * scale - y for i, y in zip(order, ys)],
                "arrayminus": [y - float(intervals[i][0]) * scale for i, y in zip(order, ys)],
            }
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=str(method),
                text=text,
                error_y=error_y,
                hovertemplate="%{x:.0f} tokens<br>%{y:.1f}" + ("%" if percent else "") + "<br>%{text}<extra></extra>"
                if text
                else None,
            )
        )
    for name, value in (references or {}).items():
        fig.add_hline(
            y=float(value) * scale,
            line_dash="dot",
            line_color="gray",
            annotation_text=str(name),
            annotation_position="top left",
        )
    fig.update_xaxes(title="Average thinking tokens", type="log" if log_x else "linear")
    fig.update_yaxes(title="Accuracy (%)" if percent else "Accuracy")
    return _layout(fig, title)


def family_scaling(
    settings: Sequence[Mapping[str, Any]],
    chance: Mapping[str, float],
    methods: Sequence[str] | None = None,
    title: str | None = "Test-time scaling by task family (dotted: chance, the best constant answer)",
) -> go.Figure:
    """One panel per family: accuracy (95% Wilson bars) vs average thinking tokens per method, with the family's
    chance level as a dotted line. ``settings`` are a sweep's ``results["settings"]`` with ``by_family``."""
    from plotly.subplots import make_subplots

    families = sorted({f for s in settings for f in (s.get("by_family") or {})})
    if not families:
        raise ValueError("family_scaling: the settings carry no per-family results (by_family)")
    wanted = list(methods) if methods else list(dict.fromkeys(str(s.get("method")) for s in settings))
    fig = make_subplots(rows=1, cols=len(families), subplot_titles=families, shared_yaxes=True)
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for col, family in enumerate(families, start=1):
        for m_index, method in enumerate(wanted):
            rows = [s for s in settings if str(s.get("method")) == method and family in (s.get("by_family") or {})]
            rows.sort(key=lambda s: float(s["avg_thinking_tokens"]))
            if not rows:
                continue
            stats = [s["by_family"][family] for s in rows]
            ys = [100 * float(f["accuracy"]) for f in stats]
            fig.add_trace(
                go.Scatter(
                    x=[float(s["avg_thinking_tokens"]) for s in rows],
                    y=ys,
                    mode="lines+markers",
                    name=method,
                    legendgroup=method,
                    showlegend=col == 1,
                    line={"color": palette[m_index % len(palette)]},
                    text=[s["setting"] for s in rows],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [100 * float(f["ci_high"]) - y for f, y in zip(stats, ys)],
                        "arrayminus": [y - 100 * float(f["ci_low"]) for f, y in zip(stats, ys)],
                    },
                ),
                row=1,
                col=col,
            )
        if family in chance:
            fig.add_hline(y=100 * float(chance[family]), line_dash="dot", line_color="gray", row=1, col=col)
        fig.update_xaxes(type="log", title="thinking tokens", row=1, col=col)
    fig.update_yaxes(title="Accuracy (%)", row=1, col=1)
    return _layout(fig, title, height=380)


FIXED_METHOD = "budget forcing"
"""The method whose settings draw the fixed-budget curve of :func:`pareto_figure` (the cap sweep)."""


def _error_y(rows: Sequence[Mapping[str, Any]], ys: Sequence[float], scale: float) -> dict[str, Any] | None:
    """Asymmetric error bars from each row's ``ci_low`` / ``ci_high`` (None when any is missing)."""
    if any(r.get("ci_low") is None or r.get("ci_high") is None for r in rows):
        return None
    return {
        "type": "data",
        "symmetric": False,
        "array": [float(r["ci_high"]) * scale - y for r, y in zip(rows, ys)],
        "arrayminus": [y - float(r["ci_low"]) * scale for r, y in zip(rows, ys)],
    }


def pareto_figure(
    settings: Sequence[Mapping[str, Any]],
    title: str | None = "Accuracy against thinking cost: fixed budgets and adaptive stops",
    fixed_method: str = FIXED_METHOD,
    log_x: bool = True,
) -> go.Figure:
    """Accuracy (95% error bars) against mean thinking tokens: the fixed budgets (``fixed_method``) as one line, each
    adaptive setting (method ``adaptive (...)``) as a labelled point.

    An adaptive point is drawn twice, so its probes are never hidden: filled at its thinking tokens, open at thinking
    plus probe tokens (what it really decoded), joined by a dotted line. ``settings`` are a sweep's
    ``results["settings"]`` (``avg_thinking_tokens``, ``avg_probe_tokens``, ``accuracy``, ``ci_low``, ``ci_high``).
    """
    fixed = sorted(
        (s for s in settings if s.get("method") == fixed_method), key=lambda s: float(s["avg_thinking_tokens"])
    )
    adaptive: dict[str, list[Mapping[str, Any]]] = {}
    for s in settings:
        if str(s.get("method") or "").startswith("adaptive"):
            adaptive.setdefault(str(s["method"]), []).append(s)
    if not fixed and not adaptive:
        raise ValueError(f"pareto_figure: no {fixed_method!r} or adaptive settings among {len(settings)}")
    fig = go.Figure()
    hover = "%{text}<br>%{customdata[0]:.1f} thinking + %{customdata[1]:.1f} probe tokens<br>%{y:.1f}%<extra></extra>"

    def costs(rows: Sequence[Mapping[str, Any]]) -> list[list[float]]:
        return [[float(r["avg_thinking_tokens"]), float(r.get("avg_probe_tokens") or 0.0)] for r in rows]

    if fixed:
        ys = [100 * float(s["accuracy"]) for s in fixed]
        fig.add_trace(
            go.Scatter(
                x=[float(s["avg_thinking_tokens"]) for s in fixed], y=ys, mode="lines+markers",
                name=f"{fixed_method} (fixed budgets)", text=[str(s["setting"]) for s in fixed],
                customdata=costs(fixed), error_y=_error_y(fixed, ys, 100), hovertemplate=hover,
                line={"color": "#1f77b4"},
            )
        )  # fmt: skip
    palette = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for index, (method, rows) in enumerate(adaptive.items()):
        color = palette[index % len(palette)]
        ys = [100 * float(s["accuracy"]) for s in rows]
        thinking = [float(s["avg_thinking_tokens"]) for s in rows]
        total = [t + float(s.get("avg_probe_tokens") or 0.0) for t, s in zip(thinking, rows)]
        labels = [str(s["setting"]) for s in rows]
        open_marker = {"color": color, "size": 10, "symbol": "circle-open"}
        for x, name, marker, text_mode in (
            (thinking, f"{method}: thinking tokens", {"color": color, "size": 10}, "markers+text"),
            (total, f"{method}: thinking + probe tokens", open_marker, "markers"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x, y=ys, mode=text_mode, name=name, legendgroup=method, text=labels, textposition="top center",
                    customdata=costs(rows), marker=marker, error_y=_error_y(rows, ys, 100), hovertemplate=hover,
                )
            )  # fmt: skip
        for x0, x1, y in zip(thinking, total, ys):
            if x1 > x0:
                fig.add_shape(type="line", x0=x0, x1=x1, y0=y, y1=y, line={"color": color, "dash": "dot", "width": 1})
    fig.update_xaxes(
        title="Mean thinking tokens per sample (open markers: + probe tokens)", type="log" if log_x else "linear"
    )
    fig.update_yaxes(title="Accuracy (%, 95% interval)")
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
    """Table-3 style: method, Control (%), Scaling (slope ×100), Performance (%) with its 95% interval if given.

    Rows are dicts or ``MethodMetrics`` with ``method``, ``control``, ``scaling``, ``performance`` as fractions, and
    optionally ``performance_interval`` ``[low, high]``.
    """
    methods = [str(_row_value(r, "method")) for r in rows]
    control = ["—" if c != c else f"{100 * c:.0f}%" for c in (float(_row_value(r, "control")) for r in rows)]
    scaling = [_fmt(100 * float(_row_value(r, "scaling")), ".3g") for r in rows]
    performance = []
    for r in rows:
        text = _fmt(100 * float(_row_value(r, "performance")), ".1f")
        interval = r.get("performance_interval") if isinstance(r, Mapping) else None
        if interval and None not in interval:
            text += f" [{100 * float(interval[0]):.1f}, {100 * float(interval[1]):.1f}]"
        performance.append(text)
    fig = go.Figure(
        go.Table(
            header={"values": ["Method", "Control", "Scaling (×100)", "Performance (95% CI)"], "align": "left"},
            cells={"values": [methods, control, scaling, performance], "align": "left"},
        )
    )
    if "—" in control:  # Control is the share of runs within an enforced thinking budget: say why a row has none
        title = f"{title or ''}<br><sup>Control —: the method sets no token budget to stay within (e.g. Waits)</sup>"
    return _layout(fig, title, height=200 + 40 * len(rows))  # tall enough for every row: no scrolling inside it


def sweep_figures(
    methods: Sequence[Mapping[str, Any]],
    name: Callable[[Mapping[str, Any]], str] | None = None,
    table_title: str | None = "Sequential scaling: Control / Scaling (points per doubling) / Performance",
    references: Mapping[str, float] | None = None,
) -> tuple[go.Figure, go.Figure]:
    """The scaling curve (95% intervals as error bars, ``references`` as dotted lines) and the Table-3 metrics of a
    sweep's ``results["methods"]`` (each with ``method``, ``points``, ``intervals``, ``settings``, ``control``,
    ``scaling_log2_pp``, ``performance``); ``name`` labels a method (e.g. with its run). Scaling is the slope per
    doubling of thinking, so the table reads in accuracy points/doubling."""
    name = name or (lambda m: str(m["method"]))

    def fraction(value: Any, scale: float = 1.0) -> float:
        return float("nan") if value is None else value / scale

    curve = scaling_curve(
        {name(m): [tuple(p) for p in m["points"]] for m in methods},
        labels_by_method={name(m): list(m.get("settings") or []) for m in methods},
        intervals_by_method={name(m): list(m.get("intervals") or []) for m in methods},
        references=references,
    )
    table = metrics_table(
        [
            {
                "method": name(m),
                "control": fraction(m.get("control")),
                "scaling": fraction(m.get("scaling_log2_pp"), 100),  # the table shows ×100
                "performance": fraction(m.get("performance")),
                "performance_interval": m.get("performance_interval"),
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


def overthinking(
    settings: Sequence[Mapping[str, Any]], title: str | None = "Thinking before and after the first correct answer"
) -> go.Figure:
    """Stacked bars per setting (a sweep's ``results["settings"]``): the mean thinking tokens before the first
    correct answer appears in the thinking and after it (samples whose thinking holds one; the share is in the
    hover), from each setting's ``efficiency``."""
    rows = [(str(s["setting"]), s.get("efficiency") or {}) for s in settings]
    labels = [label for label, _ in rows]
    fig = go.Figure()
    for key, name in (
        ("tokens_before_first_correct", "before"),
        ("tokens_after_first_correct", "after (overthinking)"),
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[float(e.get(key) or 0.0) for _, e in rows],
                name=name,
                customdata=[[100 * float(e.get("first_correct_in_thinking_rate") or 0.0)] for _, e in rows],
                hovertemplate="%{x}: %{y:.1f} tokens " + name + "<br>%{customdata[0]:.0f}% of samples hold a correct"
                " answer in their thinking<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="Setting", type="category")
    fig.update_yaxes(title="Mean thinking tokens")
    return _layout(fig, title)


def funnel(stages: Mapping[str, int] | Sequence[tuple[str, int]], title: str | None = "Curation funnel") -> go.Figure:
    """Rows kept after each curation stage, in order (dict order or a list of (stage, count))."""
    items = list(stages.items()) if isinstance(stages, Mapping) else [(s, c) for s, c in stages]
    fig = go.Figure(
        go.Funnel(y=[str(s) for s, _ in items], x=[int(c) for _, c in items], textinfo="value+percent initial")
    )
    return _layout(fig, title)


def funnels(
    stages_by_run: Mapping[str, Sequence[tuple[str, int]]], title: str | None = "Curation funnels"
) -> go.Figure:
    """Several funnels on one stage axis (e.g. s1's and LIMO's recipes); a stage only some runs have is placed after
    the stage it follows in its own run, so the axis keeps every run's order."""
    order: list[str] = []
    for stages in stages_by_run.values():
        previous = None
        for stage, _ in stages:
            if stage not in order:
                order.insert(order.index(previous) + 1 if previous in order else len(order), stage)
            previous = stage
    fig = go.Figure()
    for run, stages in stages_by_run.items():
        fig.add_trace(
            go.Funnel(
                name=str(run), y=[str(s) for s, _ in stages], x=[int(c) for _, c in stages],
                textinfo="value+percent initial",
            )
        )  # fmt: skip
    fig.update_yaxes(categoryorder="array", categoryarray=order)
    return _layout(fig, title)


def grouped_counts(
    counts_by_set: Mapping[str, Mapping[str, float]], title: str | None = None, share: bool = False
) -> go.Figure:
    """Grouped bars of counts per category, one colour per set; ``share`` shows each set's % (sets of unequal
    size, such as two curated selections, compare by share)."""
    categories = sorted({str(c) for counts in counts_by_set.values() for c in counts})
    fig = go.Figure()
    for name, counts in counts_by_set.items():
        total = sum(counts.values()) or 1
        values = [float(counts.get(c, 0)) * (100 / total if share else 1) for c in categories]
        fig.add_trace(go.Bar(x=categories, y=values, name=str(name)))
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(title="% of the set" if share else "Rows")
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
