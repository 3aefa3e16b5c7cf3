"""The funnel: every input row is either kept or dropped at exactly one stage with a reason, and the sums are checked.

Also writes the output set as parquet with the s1K columns (plus domain, trace_length, trace_grade, ...) and builds
the figures (a funnel, the domain distribution, trace lengths), through ``s1lib.viz``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.curation.decontam import Drop


class FunnelError(AssertionError):
    """The per-stage counts do not add up (a row was lost or counted twice)."""


@dataclass
class Stage:
    name: str
    n_in: int
    n_out: int
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Funnel:
    """Stages in order with their counts and reasons, plus every dropped row's stage/reason/detail."""

    n_input: int = 0
    stages: list[Stage] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)

    def record(self, name: str, n_in: int, kept: int, drops: list[Drop], seconds: float = 0.0) -> Stage:
        if n_in != kept + len(drops):
            raise FunnelError(f"stage {name!r}: {n_in} in != {kept} kept + {len(drops)} dropped")
        if self.stages and self.stages[-1].n_out != n_in:
            raise FunnelError(
                f"stage {name!r} starts with {n_in} rows but the previous stage ended with {self.stages[-1].n_out}"
            )
        stage = Stage(name, n_in, kept, dict(Counter(d.reason for d in drops)), seconds)
        self.stages.append(stage)
        self.drops.extend(drops)
        return stage

    @property
    def n_output(self) -> int:
        return self.stages[-1].n_out if self.stages else self.n_input

    def check(self, kept_ids: list[str] | None = None) -> None:
        """Assert that kept + dropped = input, and that no row id is both kept and dropped or dropped twice."""
        dropped = [d.row_id for d in self.drops]
        if self.n_output + len(dropped) != self.n_input:
            raise FunnelError(f"{self.n_output} kept + {len(dropped)} dropped != {self.n_input} input rows")
        if len(set(dropped)) != len(dropped):
            twice = [k for k, v in Counter(dropped).items() if v > 1][:5]
            raise FunnelError(f"rows dropped more than once: {twice}")
        if kept_ids is not None:
            both = set(kept_ids) & set(dropped)
            if both:
                raise FunnelError(f"rows both kept and dropped: {sorted(both)[:5]}")
            if len(kept_ids) != self.n_output:
                raise FunnelError(f"{len(kept_ids)} kept ids but the funnel ends with {self.n_output}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.n_input,
            "output": self.n_output,
            "stages": [
                {
                    "stage": s.name,
                    "in": s.n_in,
                    "out": s.n_out,
                    "dropped": s.n_in - s.n_out,
                    "reasons": s.reasons,
                    "seconds": round(s.seconds, 3),
                }
                for s in self.stages
            ],
        }

    def table(self) -> str:
        lines = [f"{'stage':<14}{'in':>9}{'out':>9}  reasons"]
        for s in self.stages:
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(s.reasons.items(), key=lambda kv: -kv[1]))
            lines.append(f"{s.name:<14}{s.n_in:>9}{s.n_out:>9}  {reasons}")
        lines.append(f"{'total':<14}{self.n_input:>9}{self.n_output:>9}")
        return "\n".join(lines)

    def write_drops(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for d in self.drops:
                fh.write(
                    json.dumps({"row_id": d.row_id, "stage": d.stage, "reason": d.reason, "detail": d.detail}) + "\n"
                )


def headline(funnel: dict[str, Any]) -> str:
    """The funnel in one line, from :meth:`Funnel.to_dict` (``funnel.json``, a curation ``metrics.json``):
    ``1,000 questions in → 300 selected (quality −120, difficulty −400, diversity −180)``; stages that dropped
    nothing are left out, so the line names only where rows went."""
    dropped = [f"{s['stage']} −{s['dropped']:,}" for s in funnel.get("stages", []) if s.get("dropped")]
    text = f"{funnel['input']:,} questions in → {funnel['output']:,} selected"
    return f"{text} ({', '.join(dropped)})" if dropped else text


# ---------------------------------------------------------------- output

S1K_COLUMNS = ("solution", "question", "cot_type", "source_type", "metadata", "cot", "thinking_trajectories", "attempt")
EXTRA_COLUMNS = (
    "row_id",
    "domain",
    "trace_length",
    "trace_grade",
    "answer",
    "answer_kind",
    "chain_score",
    "chain_source",
    "attempts_json",
    "pass_counts_json",
)


def to_table(records: list[dict]):
    """A pyarrow table with the s1K columns first, then ours; ``cot`` is null as in s1K."""
    import pyarrow as pa

    rows = []
    for rec in records:
        row = {c: rec.get(c) for c in S1K_COLUMNS}
        row["cot"] = None
        row["thinking_trajectories"] = list(rec.get("thinking_trajectories") or [])
        for c in EXTRA_COLUMNS[:-2]:
            row[c] = rec.get(c)
        row["answer"] = None if rec.get("answer") is None else str(rec["answer"])
        row["attempts_json"] = json.dumps(rec.get("attempts") or {}, ensure_ascii=False)
        row["pass_counts_json"] = json.dumps(rec["pass_counts"]) if rec.get("pass_counts") else None
        rows.append(row)
    schema = pa.schema(
        [
            ("solution", pa.string()),
            ("question", pa.string()),
            ("cot_type", pa.string()),
            ("source_type", pa.string()),
            ("metadata", pa.string()),
            ("cot", pa.string()),
            ("thinking_trajectories", pa.list_(pa.string())),
            ("attempt", pa.string()),
            ("row_id", pa.string()),
            ("domain", pa.string()),
            ("trace_length", pa.int64()),
            ("trace_grade", pa.bool_()),
            ("answer", pa.string()),
            ("answer_kind", pa.string()),
            ("chain_score", pa.float64()),
            ("chain_source", pa.string()),
            ("attempts_json", pa.string()),
            ("pass_counts_json", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def write_parquet(records: list[dict], path: str | Path) -> Path:
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_table(records), path)
    return path


# ---------------------------------------------------------------- figures


def figures(funnel: Funnel, records: list[dict]) -> dict[str, Any]:
    """Plotly figures (``s1lib.viz``): the ``funnel``, and the ``domains`` and trace ``lengths`` of ``records``."""
    from s1lib import viz
    from s1lib.curation.domains import MSC2020

    stages = [("input", funnel.n_input)] + [(s.name, s.n_out) for s in funnel.stages]
    domains = Counter(f"{r.get('domain')} {MSC2020.get(str(r.get('domain')), '')}"[:40] for r in records)
    lengths = [r.get("trace_length") or 0 for r in records]
    return {
        "funnel": viz.funnel(stages),
        "domains": viz.domain_distribution(dict(domains)),
        "lengths": viz.thinking_length_histogram({"selected": lengths}, title="Trace length (tokens)"),
    }
