"""What ``s1 bench adaptive`` computes from a sweep (each setting's row, the matched fixed budget, the hindsight
bounds) and how it times a setting against a fixed run of its own length, side by side."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from s1lib.benches.adaptive_config import AdaptiveBenchConfig
from s1lib.eval.adaptive_summary import reaches
from s1lib.forcing.engine import Engine
from s1lib.forcing.policy import BudgetPolicy


# ------------------------------------------------------------------------------------------------- the arithmetic
def setting_rows(results: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per sweep setting: accuracy, mean thinking and probe tokens, how thinking ended."""
    by_setting: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_setting.setdefault(str(r["setting"]), []).append(r)
    rows = []
    for s in results["settings"]:
        recs = by_setting[s["setting"]]
        policy = s.get("policy") or {}
        thinking = sum(float(r["thinking_tokens"] or 0) for r in recs) / len(recs)
        probes = sum(float(r.get("probe_tokens") or 0) for r in recs) / len(recs)
        rows.append(
            {
                "setting": s["setting"],
                "kind": "adaptive" if policy.get("adaptive") else "fixed",
                "cap": policy.get("max_thinking_tokens"),
                "adaptive": policy.get("adaptive"),
                "num_ignore": policy.get("num_ignore", 0),
                "min_thinking_tokens": policy.get("min_thinking_tokens", 0),
                "problems": len(recs),
                "accuracy": s["accuracy"],
                "ci_low": s.get("ci_low"),
                "ci_high": s.get("ci_high"),
                "thinking_tokens": thinking,
                "probe_tokens": probes,
                "probes_per_problem": sum(len(r.get("probes") or []) for r in recs) / len(recs),
                "stopped_early": sum(r.get("thinking_end_reason") == "adaptive" for r in recs) / len(recs),
                "efficiency": s.get("efficiency") or {},
            }
        )
    return rows


def compare(rows: Sequence[Mapping[str, Any]], tolerance: float = 0.01) -> dict[str, Any]:
    """Match every adaptive row to a fixed budget and pick the best (see :data:`BEST_DEFINITION`)."""
    fixed = sorted((r for r in rows if r["kind"] == "fixed"), key=lambda r: r["cap"])
    if not fixed:
        raise ValueError("compare: no fixed-budget setting to compare against")
    table = []
    for row in rows:
        out = dict(row)
        if row["kind"] == "adaptive":
            reaching = [f for f in fixed if reaches(f["accuracy"], row["accuracy"], tolerance)]
            match = reaching[0] if reaching else max(fixed, key=lambda f: (f["accuracy"], -f["cap"]))
            out["matched_fixed"] = match["setting"]
            out["matched"] = bool(reaching)
            out["token_saving"] = (
                1 - row["thinking_tokens"] / match["thinking_tokens"] if match["thinking_tokens"] else None
            )
            out["accuracy_delta"] = row["accuracy"] - match["accuracy"]
            out["probe_overhead"] = row["probe_tokens"] / row["thinking_tokens"] if row["thinking_tokens"] else None
        table.append(out)
    adaptive = [r for r in table if r["kind"] == "adaptive"]
    if not adaptive:
        raise ValueError("compare: no adaptive setting")
    best = max(adaptive, key=lambda r: (r["accuracy"], -r["thinking_tokens"]))
    savings = [r for r in adaptive if r["token_saving"] is not None and r["matched"]]
    largest = max(savings, key=lambda r: r["token_saving"]) if savings else None
    return {
        "best": best["setting"],
        "matched_fixed": best["matched_fixed"],
        "matched": best["matched"],
        "token_saving": best["token_saving"],
        "probe_overhead": best["probe_overhead"],
        "accuracy_delta": best["accuracy_delta"],
        "largest_saving": None if largest is None else {"setting": largest["setting"], **_short(largest)},
        "settings": table,
    }


def _short(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "thinking_tokens", "matched_fixed", "token_saving", "accuracy_delta", "probe_overhead")
    return {k: row[k] for k in keys}


def hindsight(traces: Sequence[Any], problems: Sequence[Any]) -> dict[str, Any]:
    """The two hindsight stops of every row (see the module docstring) from traces probed densely, never stopped;
    their savings are against the same traces' mean thinking tokens."""
    from s1lib.eval.grading import compare as compare_answers
    from s1lib.eval.grading import grade

    same, first, right = [], [], 0
    for trace, problem in zip(traces, problems, strict=True):
        verdict = grade(problem, trace.text)
        final, correct = verdict.extracted, verdict.correct
        right += correct
        stop_same = trace.thinking_tokens
        for i, probe in enumerate(trace.probes):
            if all(p.answer == final for p in trace.probes[i:]):
                stop_same = probe.thinking_tokens
                break
        stop_first = trace.thinking_tokens
        if correct:
            hits = [p for p in trace.probes if compare_answers(problem.answer, p.answer, problem.kind) == "correct"]
            stop_first = hits[0].thinking_tokens if hits else trace.thinking_tokens
        same.append(stop_same)
        first.append(stop_first)
    n = len(traces)
    thinking = sum(t.thinking_tokens for t in traces) / n
    return {
        "accuracy": right / n,
        "thinking_tokens": thinking,
        "same_answers": {"thinking_tokens": sum(same) / n, "token_saving": 1 - sum(same) / n / thinking},
        "first_correct": {"thinking_tokens": sum(first) / n, "token_saving": 1 - sum(first) / n / thinking},
    }


def hindsight_bound(engine: Engine, prompts: Sequence[str], problems: Sequence[Any], config: AdaptiveBenchConfig):
    """Run the largest cap with a never-stopping probe every ``oracle_stride`` tokens; :func:`hindsight` of it."""
    from s1lib.forcing import BudgetPolicy
    from s1lib.forcing.adaptive import AdaptiveStop

    never = AdaptiveStop(probe_every=config.oracle_stride, probe_tokens=config.max_answer_tokens, agree=10**9)
    policy = BudgetPolicy(max_thinking_tokens=max(config.caps), max_answer_tokens=config.max_answer_tokens)
    traces = engine.generate(list(prompts), policy.replace(adaptive=never), batch_size=config.batch_size)
    return {"stride": config.oracle_stride, "setting": policy.label(), **hindsight(traces, problems)}


# ------------------------------------------------------------------------------------------------------ timing
def drafts_probes(engine: Engine) -> bool:
    """Whether ``engine`` drafts its probes (``HFEngine.probe_drafts``), so drafting can be switched and counted."""
    return getattr(engine, "probe_drafts", None) is not None


@contextlib.contextmanager
def probe_drafts(engine: Engine, on: bool):
    """The engine with its probe drafts on or off (an engine without drafts is left as it is)."""
    if not drafts_probes(engine):
        yield
        return
    before, engine.probe_drafts = engine.probe_drafts, on
    try:
        yield
    finally:
        engine.probe_drafts = before


def time_side_by_side(
    engine: Engine, prompts: Sequence[str], runs: Sequence[tuple[Any, bool]], batch_size: int, repeats: int
) -> dict[str, Any]:
    """Seconds of each run (a policy, and whether the probes are drafted) on the same prompts, interleaved (the
    order reverses every other repeat, so a slow patch on a shared machine falls on all of them); each run's mean
    seconds and decoded tokens, in the order given."""
    seconds = [0.0] * len(runs)
    traces: list[Any] = [None] * len(runs)
    for repeat in range(repeats):
        order = range(len(runs)) if repeat % 2 == 0 else reversed(range(len(runs)))
        for index in order:
            policy, drafts = runs[index]
            with probe_drafts(engine, drafts):
                start = time.perf_counter()
                traces[index] = engine.generate(list(prompts), policy, batch_size=batch_size)
                seconds[index] += time.perf_counter() - start
    n = len(prompts)
    return {
        "seconds": [round(s / repeats, 3) for s in seconds],
        "thinking_tokens": [sum(t.thinking_tokens for t in ts) / n for ts in traces],
        "probe_tokens": [sum(t.probe_tokens for t in ts) / n for ts in traces],
        "decoded_tokens": [sum(len(t.generated_ids) for t in ts) / n for ts in traces],
    }


def against_own_length(
    engine: Engine, rows: Sequence[str], policy: BudgetPolicy, batch_size: int, repeats: int, undrafted: bool = False
) -> dict:
    """``policy`` against a fixed run that thinks exactly its mean thinking length on ``rows`` (``min = max =``
    that length), timed side by side: ``ratio`` = adaptive ÷ fixed seconds. With ``undrafted`` the same policy
    also runs with its probes undrafted (``ratio_undrafted``), so the drafts' saving is measured in the same run."""
    own = engine.generate(list(rows), policy, batch_size=batch_size)
    length = round(sum(t.thinking_tokens for t in own) / len(own))
    fixed = policy.replace(adaptive=None, num_ignore=0, max_thinking_tokens=length, min_thinking_tokens=length)
    runs = [(policy, True), (fixed, True), *([(policy, False)] if undrafted else [])]
    timed = time_side_by_side(engine, rows, runs, batch_size, repeats)
    seconds = timed["seconds"]
    ratios = {"ratio": seconds[0] / seconds[1], **({"ratio_undrafted": seconds[2] / seconds[1]} if undrafted else {})}
    return {"problems": len(rows), "batch_size": batch_size, "fixed_setting": fixed.label(), **ratios, **timed}


def wall_clock(
    engine: Engine, prompts: Sequence[str], policy: BudgetPolicy, config: AdaptiveBenchConfig
) -> dict[str, Any]:
    """The adaptive policy against a fixed run of its own mean thinking length: one row at a time over the first
    ``timing_problems`` prompts (drafted and undrafted probes, on an engine that drafts), and as one static batch
    of every prompt."""
    engine.generate(list(prompts[:1]), policy, batch_size=1)  # warm-up, outside the timed runs
    timing = {}
    if config.timing_problems:
        rows = list(prompts[: config.timing_problems])
        undrafted = drafts_probes(engine)
        timing["one_row"] = against_own_length(engine, rows, policy, 1, config.timing_repeats, undrafted=undrafted)
    timing["batched"] = against_own_length(engine, list(prompts), policy, config.batch_size, config.timing_repeats)
    return timing
