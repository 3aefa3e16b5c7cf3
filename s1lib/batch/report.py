"""The grid's summary: one table of every run (status, wall time, parameters, metrics), a combined scaling figure
and Control/Scaling/Performance table over every run that measured one, and every figure the runs saved, in one
offline HTML page (``report.html``), plus ``summary.json``, ``summary.csv`` and ``timings.json``.

Runs report through files in their folder: ``metrics.json`` (scalars are tabulated; a list of scaling methods,
as notebook 04 writes, feeds the combined figure), a sweep's ``results.json`` (each setting's pass@1, maj@k, cov@k)
and ``*.plotly.json`` figures (written by ``viz.save_figure``). A run's row heads with its stage's headline in words
(:mod:`s1lib.batch.headlines`) so the table reads at a glance; the tabulated scalars sit one click away under it.
"""

from __future__ import annotations

import csv
import html
import json
import time
from pathlib import Path
from typing import Any

from s1lib import viz
from s1lib.batch.headlines import stage_headline
from s1lib.batch.runner import EXECUTED_NOTEBOOK, read_status, write_json_atomic
from s1lib.versions import software_versions


def flatten_metrics(data: Any, prefix: str = "", depth: int = 2) -> dict[str, Any]:
    """Scalars of a metrics record as ``a.b`` keys (lists and deep structures are left to the run's own files)."""
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        return out
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) < 60):
            out[name] = value
        elif isinstance(value, dict) and depth > 1:
            out.update(flatten_metrics(value, f"{name}.", depth - 1))
    return out


def scaling_methods(metrics: Any) -> list[dict[str, Any]]:
    """Methods with accuracy-vs-thinking points: notebook 04's ``metrics.json`` (a list) or a ``methods`` key."""
    methods = metrics.get("methods") if isinstance(metrics, dict) else metrics
    if not isinstance(methods, list):
        return []
    return [m for m in methods if isinstance(m, dict) and "method" in m and isinstance(m.get("points"), list)]


def setting_metrics(run_dir: Path) -> dict[str, Any]:
    """``SETTING.pass@1`` of every setting in a sweep's ``results.json``, and its ``maj@k`` / ``cov@k`` at the largest
    k when it sampled: the numbers that compare models across runs (``metrics.json`` holds only the per-method ones)."""
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    settings = results.get("settings") if isinstance(results, dict) else None
    out: dict[str, Any] = {}
    for setting in settings if isinstance(settings, list) else []:
        label = setting.get("setting")
        if label is None or setting.get("pass@1") is None:
            continue
        out[f"{label}.pass@1"] = setting["pass@1"]
        for kind in ("maj", "cov"):
            ks = [int(k.split("@")[1]) for k in setting if k.startswith(f"{kind}@") and k.split("@")[1].isdigit()]
            if ks:
                out[f"{label}.{kind}@{max(ks)}"] = setting[f"{kind}@{max(ks)}"]
    return out


def _varying(grid: Any) -> dict[str, list[str]]:
    """Per run, the parameters that differ between runs of the same job (what the run id encodes)."""
    by_job: dict[str, list[Any]] = {}
    for run in grid.runs:
        by_job.setdefault(run.job, []).append(run)
    out = {}
    for runs in by_job.values():
        keys = sorted({k for r in runs for k in r.parameters if k != "output_dir"})
        varying = [
            k for k in keys if len({json.dumps(r.parameters.get(k), sort_keys=True, default=str) for r in runs}) > 1
        ]
        for run in runs:
            out[run.run_id] = varying
    return out


def precision_recorded(run_dir: Path, metrics: Any) -> Any:
    """The precision record a run wrote: the trainer's resolved precision (notebook 02's ``metrics.json``) or the
    sweep engine's (``results.json``); None where it wrote neither."""
    record = None
    if isinstance(metrics, dict):
        record = metrics.get("precision") or (metrics.get("metrics") or {}).get("precision")
    if record is None and (run_dir / "results.json").is_file():
        try:
            record = (json.loads((run_dir / "results.json").read_text()).get("run") or {}).get("precision")
        except json.JSONDecodeError:
            record = None
    return record


def run_device(run_dir: Path, metrics: Any) -> str | None:
    """Where a run computed (``cpu``, ``cuda``, ``cuda:1``: ``auto`` resolved), from its precision record."""
    record = precision_recorded(run_dir, metrics)
    if not isinstance(record, dict):
        return None
    return record.get("device") or (record.get("resolution") or {}).get("device")


def run_precision(run_dir: Path, metrics: Any) -> str | None:
    """The precision a run computed in, from what it recorded (:func:`precision_recorded`)."""
    record = precision_recorded(run_dir, metrics)
    if isinstance(record, dict):
        if "bf16" in record and "model_dtype" in record:  # training: weights and autocast
            weights = "the checkpoint's dtype" if record["model_dtype"] == "auto" else record["model_dtype"]
            return ("bf16 autocast, weights in " if record["bf16"] else "weights in ") + weights
        return record.get("dtype")
    return record if isinstance(record, str) else None


def run_versions(run_dir: Path) -> dict[str, Any] | None:
    """The versions a run recorded in its ``run.json`` (where it ran), or None for a run not prepared yet."""
    try:
        return json.loads((run_dir / "run.json").read_text()).get("versions")
    except (OSError, ValueError):
        return None


def collect(grid: Any, statuses: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Rows for every run of the grid (whether it ran now, earlier, or not at all) and the scaling methods."""
    rows, methods = [], []
    varying = _varying(grid)
    for run in grid.runs:
        run_dir = grid.run_dir(run.run_id)
        status = (statuses or {}).get(run.run_id) or read_status(run_dir) or {"status": "not run"}
        metrics: Any = None
        if (run_dir / "metrics.json").is_file():
            try:
                metrics = json.loads((run_dir / "metrics.json").read_text())
            except json.JSONDecodeError as error:
                metrics = {"metrics_error": f"metrics.json is not valid JSON: {error}"}
        error = status.get("error") or {}
        rows.append(
            {
                "run_id": run.run_id,
                "job": run.job,
                "notebook": Path(run.notebook).name,
                "status": status.get("status"),
                "wall_seconds": status.get("wall_seconds"),
                "attempts": status.get("attempts"),
                "device": status.get("device"),
                "error": f"{error.get('ename')}: {error.get('evalue')}" if error else None,
                "parameters": {k: run.parameters.get(k) for k in varying[run.run_id]},
                "precision": run_precision(run_dir, metrics),
                "ran_on": run_device(run_dir, metrics),
                "versions": run_versions(run_dir),
                "headline": stage_headline(run_dir, metrics),
                "metrics": {**flatten_metrics(metrics), **setting_metrics(run_dir)},
                "folder": str(run_dir),
            }
        )
        for method in scaling_methods(metrics):
            methods.append({**method, "run_id": run.run_id})
            for key in ("control", "scaling_log2_pp", "performance"):
                if method.get(key) is not None:
                    rows[-1]["metrics"][f"{method['method']}.{key}"] = method[key]
    return {"grid": grid.name, "rows": rows, "methods": methods}


def combined_scaling(methods: list[dict[str, Any]]) -> tuple[Any, Any] | None:
    """One scaling figure and one Table-3 over every run's methods (named ``run · method`` across runs)."""
    if not methods:
        return None
    several = len({m["run_id"] for m in methods}) > 1

    def name(m: dict[str, Any]) -> str:
        return f"{m['run_id']} · {m['method']}" if several else str(m["method"])

    curve, table = viz.sweep_figures(methods, name)
    return curve, table


def _figures(run_dir: Path) -> list[tuple[str, Any]]:
    import plotly.io as pio

    paths = sorted(run_dir.glob(f"*{viz.FIGURE_JSON_SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))
    return [(p.name[: -len(viz.FIGURE_JSON_SUFFIX)], pio.from_json(p.read_text())) for p in paths]


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}th{background:#f4f4f4}
.done{color:#1a7f37}.failed,.skipped{color:#cf222e}.error{color:#cf222e;font-size:12px}h2{margin-top:2em}
.scroll{overflow-x:auto;max-width:100%}.headline{margin:0 0 2px}summary{color:#57606a;font-size:12px;cursor:pointer}
table.raw{margin:4px 0}table.raw td{font-size:12px;padding:1px 6px}"""


def _headline_cell(row: dict[str, Any]) -> str:
    """A stage's headline in words, and its raw figures (every flattened key, as summary.csv has them) one click
    away in a ``<details>``, so the row reads at a glance and hides nothing."""
    lines = "".join(f"<div class='headline'>{html.escape(line)}</div>" for line in row.get("headline") or [])
    raw = row["metrics"]
    if not raw:
        return lines
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_short(v))}</td></tr>" for k, v in raw.items())
    return f"{lines}<details><summary>{len(raw)} raw figures</summary><table class='raw'>{table}</table></details>"


def render_html(summary: dict[str, Any], grid: Any, title: str | None = None) -> str:
    """The report page: runs table, stage timings, combined scaling, then each run's figures."""
    import plotly.io as pio

    parts: list[str] = []
    plotly_js = [True]

    def figure_html(fig: Any) -> str:
        include = plotly_js[0]
        plotly_js[0] = False
        return pio.to_html(fig, include_plotlyjs=include, full_html=False)

    title = title or f"s1 batch report: {grid.name}"
    rows = summary["rows"]
    parts.append(f"<h1>{html.escape(title)}</h1>")
    counts = {s: sum(r["status"] == s for r in rows) for s in sorted({str(r["status"]) for r in rows})}
    total = sum((r["wall_seconds"] or 0) for r in rows)
    parts.append(
        f"<p>{len(rows)} runs: {html.escape(', '.join(f'{v} {k}' for k, v in counts.items()))}. "
        f"Sum of run wall times {total:.0f} s; grid wall time {summary.get('wall_seconds') or 0:.0f} s. "
        f"Folder: <code>{html.escape(str(grid.directory))}</code></p>"
    )
    machine = summary.get("machine") or {}
    if machine:
        cpu = (machine.get("machine") or {}).get("cpu") or {}
        parts.append(
            f"<p>Machine: {html.escape(str(cpu.get('model')))} ({html.escape(str(cpu.get('isa')))}, "
            f"{cpu.get('physical_cores')} cores); precision <code>auto</code> → "
            f"<b>{html.escape(str(machine.get('dtype')))}</b> ({html.escape(str(machine.get('reason')))}).</p>"
        )
    versions = summary.get("versions") or {}
    if versions:
        named = ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None)
        others = {json.dumps(r.get("versions"), sort_keys=True) for r in rows if r.get("versions")}
        note = f" Runs recorded {len(others)} different sets of versions (see summary.json)." if len(others) > 1 else ""
        parts.append(f"<p>Software: {html.escape(named)}.{html.escape(note)}</p>")
    head = ["run", "status", "wall s", "precision", "parameters", "headline"]
    parts.append(
        "<h2>Runs and wall time per stage</h2><div class='scroll'><table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
    )
    for r in rows:
        params = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in r["parameters"].items())
        cells = [
            f"<a href='{html.escape(r['run_id'])}/{EXECUTED_NOTEBOOK}'>{html.escape(r['run_id'])}</a>",
            f"<span class='{html.escape(str(r['status']))}'>{html.escape(str(r['status']))}</span>"
            + (f"<div class='error'>{html.escape(str(r['error']))[:300]}</div>" if r["error"] else ""),
            "" if r["wall_seconds"] is None else f"{r['wall_seconds']:.1f}",
            html.escape(str(r.get("precision") or "") + (f" on {r['ran_on']}" if r.get("ran_on") else "")),
            html.escape(params),
            _headline_cell(r),
        ]
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table></div>")
    combined = combined_scaling(summary["methods"])
    if combined:
        parts.append("<h2>Test-time scaling (all runs)</h2>")
        parts.extend(figure_html(fig) for fig in combined)
    for run in grid.runs:
        figures = _figures(grid.run_dir(run.run_id))
        if figures:
            parts.append(f"<h2>{html.escape(run.run_id)}</h2>")
            parts.extend(figure_html(fig) for _, fig in figures)
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>"
    )


def _short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(grid: Any, result: Any = None, title: str | None = None) -> dict[str, Any]:
    """Write ``summary.json``, ``summary.csv``, ``timings.json`` and ``report.html`` into the grid's folder."""
    from s1lib.machine import default_device
    from s1lib.precision import precision_record

    summary = collect(grid, getattr(result, "statuses", None))
    summary["machine"] = precision_record("auto", default_device())  # what auto means where the grid ran
    summary["versions"] = software_versions()
    summary["wall_seconds"] = getattr(result, "wall_seconds", None)
    summary["reused"] = list(getattr(result, "reused", []))
    summary["written"] = time.time()
    folder = grid.directory
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "summary.json", summary)
    timings = {
        "grid_wall_seconds": summary["wall_seconds"],
        "stages": {r["run_id"]: r["wall_seconds"] for r in summary["rows"]},
        "precision": {r["run_id"]: r.get("precision") for r in summary["rows"]},
        "device": {r["run_id"]: r.get("ran_on") for r in summary["rows"]},
        "machine": summary["machine"],
        "versions": summary["versions"],
        "reused": summary["reused"],
    }
    write_json_atomic(folder / "timings.json", timings)
    with open(folder / "summary.csv", "w", newline="") as handle:
        metric_keys = sorted({k for r in summary["rows"] for k in r["metrics"]})
        writer = csv.writer(handle)
        writer.writerow(["run_id", "job", "status", "wall_seconds", "parameters", *metric_keys])
        for r in summary["rows"]:
            writer.writerow(
                [
                    r["run_id"],
                    r["job"],
                    r["status"],
                    r["wall_seconds"],
                    json.dumps(r["parameters"], default=str),
                    *[r["metrics"].get(k) for k in metric_keys],
                ]
            )
    (folder / "report.html").write_text(render_html(summary, grid, title))
    return {
        "report": str(folder / "report.html"),
        "summary": str(folder / "summary.json"),
        "timings": str(folder / "timings.json"),
        "csv": str(folder / "summary.csv"),
    }
