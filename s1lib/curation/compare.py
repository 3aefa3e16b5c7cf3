"""Two curation runs on the same pool side by side (s1's recipe and LIMO's): which rows each keeps, their lengths,
their mix and their funnels.

Each run is a curation output folder (``selected.parquet``, ``funnel.json``, ``drops.jsonl``). Rows are matched by
``row_id``, which is stable for the same pool; a row only one run kept is traced to the stage and reason at which
the other run dropped it, so the counts add up: ``only A = sum of B's drop reasons for those rows``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median
from typing import Any

MIX_KEYS = ("domain", "family")
"""Default mix columns: the row's MSC ``domain`` and, for the toy pool, the task ``family`` from its metadata."""


@dataclass
class Selection:
    """One curation output: its selected rows, the funnel (input first), and every dropped row's ``stage: reason``."""

    name: str
    folder: Path
    rows: list[dict[str, Any]]
    funnel: list[tuple[str, int]]
    drops: dict[str, str]

    @property
    def ids(self) -> set[str]:
        return {str(r["row_id"]) for r in self.rows}


def load_selection(folder: str | Path, name: str | None = None) -> Selection:
    """Read a curation output folder (what ``run_curation`` / ``s1 curate`` writes)."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    paths = {f: folder / f for f in ("selected.parquet", "funnel.json", "drops.jsonl")}
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(f"compare_selections: {path} not found; run the curation into {folder} first")
    rows = pq.read_table(paths["selected.parquet"]).to_pylist()
    funnel = json.loads(paths["funnel.json"].read_text())
    stages = [("input", int(funnel["input"]))] + [(s["stage"], int(s["out"])) for s in funnel["stages"]]
    drops = {}
    for line in paths["drops.jsonl"].read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            drops[str(d["row_id"])] = f"{d['stage']}: {d['reason']}"
    return Selection(name or folder.name, folder, rows, stages, drops)


def mix_value(row: dict[str, Any], key: str) -> str:
    """A row's value for ``key``: its own column, else its metadata's (the toy pool keeps ``family`` there)."""
    if row.get(key) is not None:
        return str(row[key])
    try:
        metadata = json.loads(row.get("metadata") or "{}")
    except (TypeError, ValueError):
        metadata = {}
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return "unknown" if value is None else str(value)


@dataclass
class SelectionComparison:
    """The comparison's tables as plain data (``to_dict`` for JSON), a text ``table`` and plotly ``figures``."""

    names: tuple[str, str]
    sizes: dict[str, int]
    overlap: dict[str, int]  # "both", "only A", "only B"
    fate: dict[str, dict[str, int]]  # "only A" -> B's "stage: reason" -> rows
    lengths: dict[str, list[int]]  # thinking tokens (trace_length) of each selection
    mix: dict[str, dict[str, dict[str, int]]]  # mix key -> selection -> value -> rows
    funnels: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def length_stats(self) -> dict[str, dict[str, float]]:
        return {
            name: {"mean": mean(v), "median": median(v), "min": min(v), "max": max(v)} if v else {}
            for name, v in self.lengths.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "sizes": self.sizes,
            "overlap": self.overlap,
            "fate": self.fate,
            "thinking_tokens": self.length_stats(),
            "mix": self.mix,
            "funnels": {name: [list(s) for s in stages] for name, stages in self.funnels.items()},
        }

    def table(self) -> str:
        a, b = self.names
        overlap = ", ".join(f"{k} {v}" for k, v in self.overlap.items())
        lines = [f"rows kept: {a} {self.sizes[a]}, {b} {self.sizes[b]}; {overlap}"]
        for only, reasons in self.fate.items():
            other = b if only == f"only {a}" else a
            text = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
            lines.append(f"  {only}, dropped by {other} at: {text or '-'}")
        for name, stats in self.length_stats().items():
            if stats:
                lines.append(
                    f"thinking tokens {name:<6} mean {stats['mean']:.0f}, median {stats['median']:.0f}, "
                    f"range {stats['min']}-{stats['max']}"
                )
        for key, by_name in self.mix.items():
            values = sorted({v for counts in by_name.values() for v in counts})
            lines.append(f"{key:<16}" + "".join(f"{v:>10}" for v in values))
            for name, counts in by_name.items():
                size = max(self.sizes[name], 1)
                lines.append(f"  {name:<14}" + "".join(f"{100 * counts.get(v, 0) / size:>9.0f}%" for v in values))
        for name, stages in self.funnels.items():
            lines.append(f"funnel {name:<6} " + " -> ".join(f"{s} {n}" for s, n in stages))
        return "\n".join(lines)

    def figures(self) -> dict[str, Any]:
        """``overlap`` (rows kept by both / one), ``lengths`` (thinking tokens), ``mix_<key>`` (shares), ``funnels``."""
        from s1lib import viz

        out = {
            "overlap": viz.grouped_counts({"rows": self.overlap}, title="Selected rows: kept by both or one"),
            "lengths": viz.thinking_length_histogram(self.lengths, title="Thinking tokens of the selected rows"),
        }
        for key, by_name in self.mix.items():
            out[f"mix_{key}"] = viz.grouped_counts(by_name, title=f"{key.capitalize()} mix (% of each set)", share=True)
        out["funnels"] = viz.funnels(self.funnels, title="Curation funnels")
        return out


def compare_selections(
    s1_dir: str | Path,
    limo_dir: str | Path,
    names: tuple[str, str] = ("s1", "LIMO"),
    mix_keys: tuple[str, ...] = MIX_KEYS,
) -> SelectionComparison:
    """Compare two curation outputs of the same pool (by default s1's and LIMO's recipes).

    Raises ValueError when the runs did not start from the same pool (different input counts, or a shared row id
    with a different question): their row ids would then not name the same rows.
    """
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"compare_selections: names must be two different labels, got {names!r}")
    a, b = load_selection(s1_dir, names[0]), load_selection(limo_dir, names[1])
    if a.funnel[0][1] != b.funnel[0][1]:
        raise ValueError(
            f"compare_selections: not the same pool: {a.folder}/funnel.json 'input' is {a.funnel[0][1]}, "
            f"{b.folder}/funnel.json 'input' is {b.funnel[0][1]}"
        )
    questions = {str(r["row_id"]): r.get("question") for r in a.rows}
    for row in b.rows:
        rid = str(row["row_id"])
        if rid in questions and questions[rid] != row.get("question"):
            raise ValueError(
                f"compare_selections: not the same pool: row_id {rid!r} is a different question in "
                f"{a.folder}/selected.parquet and {b.folder}/selected.parquet"
            )
    both = a.ids & b.ids
    fate = {
        f"only {a.name}": dict(Counter(b.drops.get(i, "not in the run") for i in a.ids - both)),
        f"only {b.name}": dict(Counter(a.drops.get(i, "not in the run") for i in b.ids - both)),
    }
    return SelectionComparison(
        names=(a.name, b.name),
        sizes={a.name: len(a.rows), b.name: len(b.rows)},
        overlap={"both": len(both), f"only {a.name}": len(a.ids - both), f"only {b.name}": len(b.ids - both)},
        fate=fate,
        lengths={s.name: [int(r.get("trace_length") or 0) for r in s.rows] for s in (a, b)},
        mix={key: {s.name: dict(Counter(mix_value(r, key) for r in s.rows)) for s in (a, b)} for key in mix_keys},
        funnels={a.name: a.funnel, b.name: b.funnel},
    )
