"""The results store of an evaluation run: an append-only samples JSONL plus an aggregated JSON.

``samples.jsonl`` has one line per (setting, problem, sample), in the spirit of lm-eval's per-sample logs: the
setting's label and policy, the problem id, a hash of the prompt, the completion, the extracted answer, the gold
answer, a status (correct / wrong / unparsed / timeout), thinking and answer tokens, forced insertions and the
finish reason. Lines are flushed and fsynced as they are written, so a crash loses at most the line being written;
on restart a torn last line is dropped (and reported) and finished items are skipped, keyed by
(setting, problem id, sample index). ``results.json`` is rewritten atomically from the samples at the end.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SAMPLES_FILE = "samples.jsonl"
RESULTS_FILE = "results.json"
CONFIG_FILE = "config.json"

REQUIRED_FIELDS = ("setting", "problem_id", "sample", "status")


def sample_key(setting: str, problem_id: str, sample: int) -> tuple[str, str, int]:
    return (str(setting), str(problem_id), int(sample))


class ResultsStore:
    """One run's folder. ``config`` (any JSON-able dict) is saved; resuming with a different one is an error,
    because mixing samples of two configurations would silently corrupt every aggregate."""

    def __init__(self, folder: str | Path, config: Mapping[str, Any] | None = None, resume_keys: Sequence[str] = ()):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.samples_path = self.folder / SAMPLES_FILE
        self.results_path = self.folder / RESULTS_FILE
        self.torn_lines: list[str] = []
        self.records: list[dict[str, Any]] = []
        self._done: set[tuple[str, str, int]] = set()
        if config is not None:
            self._check_config(dict(config), resume_keys)
        self._load()

    # -- config ----------------------------------------------------------------------------------------------
    def _check_config(self, config: dict[str, Any], keys: Sequence[str]) -> None:
        path = self.folder / CONFIG_FILE
        if path.exists() and self.samples_path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            check = keys or sorted(set(saved) | set(config))
            differ = [k for k in check if saved.get(k) != config.get(k)]
            if differ:
                raise ValueError(
                    f"{self.folder} holds results of a different configuration (fields {differ} differ, e.g. "
                    f"{differ[0]}={saved.get(differ[0])!r} saved vs {config.get(differ[0])!r} now); "
                    "use another output folder"
                )
        path.write_text(json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8")

    # -- reading ---------------------------------------------------------------------------------------------
    def _load(self) -> None:
        if not self.samples_path.exists():
            return
        raw = self.samples_path.read_bytes()
        lines = raw.split(b"\n")
        good_end = 0
        offset = 0
        for number, line in enumerate(lines, start=1):
            end = offset + len(line) + 1
            is_last = number == len(lines) or (number == len(lines) - 1 and lines[-1] == b"")
            if line.strip():
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict) or any(k not in record for k in REQUIRED_FIELDS):
                        raise ValueError(f"expected an object with fields {REQUIRED_FIELDS}")
                except (ValueError, UnicodeDecodeError) as exc:
                    if is_last:
                        # A crash in the middle of a write: drop the partial line, report it, keep the rest.
                        self.torn_lines.append(line.decode("utf-8", "replace"))
                        logger.warning("%s line %d is incomplete (torn write); dropped it", self.samples_path, number)
                        break
                    raise ValueError(f"{self.samples_path} line {number}: not a valid sample record ({exc})") from exc
                self.records.append(record)
                self._done.add(sample_key(record["setting"], record["problem_id"], record["sample"]))
            good_end = min(end, len(raw))
            offset = end
        if self.torn_lines:
            with self.samples_path.open("r+b") as fh:
                fh.truncate(good_end)

    def done(self, setting: str, problem_id: str, sample: int = 0) -> bool:
        return sample_key(setting, problem_id, sample) in self._done

    # -- writing ---------------------------------------------------------------------------------------------
    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append new records (already-finished keys are skipped); returns how many were written."""
        written = 0
        with self.samples_path.open("a", encoding="utf-8") as fh:
            for record in records:
                missing = [k for k in REQUIRED_FIELDS if k not in record]
                if missing:
                    raise ValueError(f"sample record lacks fields {missing}: {dict(record)!r:.200}")
                key = sample_key(record["setting"], record["problem_id"], record["sample"])
                if key in self._done:
                    continue
                fh.write(json.dumps(dict(record), ensure_ascii=False, default=str) + "\n")
                self._done.add(key)
                self.records.append(dict(record))
                written += 1
            fh.flush()
            os.fsync(fh.fileno())
        return written

    def write_results(self, results: Mapping[str, Any]) -> Path:
        """Write ``results.json`` atomically (a crash leaves the old or the new file, never half of one)."""
        tmp = self.results_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2, default=_json_default) + "\n", encoding="utf-8")
        os.replace(tmp, self.results_path)
        return self.results_path


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return str(value)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------------------
# Aggregation


def is_censored(record: Mapping[str, Any]) -> bool:
    """A sample the budget cut off before it said an answer (it ran into a cap, ``finish_reason`` ``length``, and
    no answer can be read): scored wrong, but it says nothing about what the model would have answered."""
    return record.get("finish_reason") == "length" and record.get("extracted") is None


def censoring(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many samples the budget censored, and the accuracy with them left out beside the accuracy that counts
    them wrong (None where every sample was censored): a harness that only scores them wrong hides how much of
    a low score is the budget's (one report: 22% of answers empty at an 8,192-token budget)."""
    censored = sum(is_censored(r) for r in records)
    kept = [r for r in records if not is_censored(r)]
    uncensored = sum(r["status"] == "correct" for r in kept) / len(kept) if kept else None
    return {
        "censored": censored,
        "censored_rate": censored / len(records) if records else 0.0,
        "accuracy_uncensored": uncensored,
    }


def summarize_setting(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy with its 95% interval, thinking length, probe tokens, Control and insertion counts of one setting.

    One sample per problem: the Wilson interval of the proportion. Several: avg@n with a bootstrap interval over
    problems (the problems are the sample that limits how far the number generalises). Records that carry a
    ``family`` (the toy benchmark) also get the same numbers per family (``by_family``).
    """
    from s1lib.eval.efficiency import efficiency
    from s1lib.eval.metrics import avg_at_n, control, mean_ci, wilson_interval

    first = records[0]
    by_problem: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        by_problem[str(r["problem_id"])].append(r)
    rows = [sorted(rs, key=lambda r: int(r["sample"])) for rs in by_problem.values()]
    sizes = {len(r) for r in rows}
    correct = [[r["status"] == "correct" for r in rs] for rs in rows]
    if sizes == {1}:
        ci = wilson_interval(sum(row[0] for row in correct), len(correct))
    elif len(sizes) == 1:
        ci = avg_at_n(correct, method="bootstrap")
    else:  # unequal samples per problem (an interrupted run): per-sample interval
        ci = mean_ci([c for row in correct for c in row], method="bootstrap")
    thinking = [float(r.get("thinking_tokens") or 0) for r in records]
    probing = [float(r.get("probe_tokens") or 0) for r in records]
    forced: Counter[str] = Counter()
    for r in records:
        forced.update(r.get("forced_counts") or {})
    out: dict[str, Any] = {
        "setting": first["setting"],
        "method": first.get("method"),
        "policy": first.get("policy"),
        "n": len(records),
        "problems": len(rows),
        "samples_per_problem": max(sizes),
        "accuracy": ci.mean,
        "pass@1": ci.mean,  # the mean over samples; LIMO's script prints cov@n (any sample right) as "Acc" for n > 1
        "ci_low": ci.low,
        "ci_high": ci.high,
        "ci_method": ci.method,
        "avg_thinking_tokens": sum(thinking) / len(thinking),
        "avg_answer_tokens": sum(float(r.get("answer_tokens") or 0) for r in records) / len(records),
        # An adaptive stop's probes decode on branches of the context: their cost is reported beside thinking, and
        # the sum is the thinking compute a setting really spent (0 probe tokens for every fixed policy).
        "avg_probe_tokens": sum(probing) / len(records),
        "avg_probes": sum(len(r.get("probes") or ()) for r in records) / len(records),
        "avg_thinking_plus_probe_tokens": (sum(thinking) + sum(probing)) / len(records),
        "status": dict(Counter(r["status"] for r in records)),
        **censoring(records),
        "forced_counts": dict(forced),
        "budget": first.get("budget"),
        "efficiency": efficiency(records),  # overlong rates, where the first correct answer sits in the thinking
    }
    if any(r.get("probes") for r in records):  # how often the rule, not the cap or the model, ended thinking
        out["adaptive_stop_rate"] = sum(r.get("thinking_end_reason") == "adaptive" for r in records) / len(records)
    budget = first.get("budget")
    if budget:
        out["control"] = control(thinking, budget[0], budget[1])
    if "fit" in first:
        out["fit_rate"] = sum(bool(r.get("fit")) for r in records) / len(records)
        out["avg_tries"] = sum(int(r.get("tries") or 1) for r in records) / len(records)
    families: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        if r.get("family") is not None:
            families[str(r["family"])].append(r["status"] == "correct")
    if families:
        out["by_family"] = {}
        for family, flags in sorted(families.items()):
            fam_ci = wilson_interval(sum(flags), len(flags))
            out["by_family"][family] = {
                "accuracy": fam_ci.mean,
                "ci_low": fam_ci.low,
                "ci_high": fam_ci.high,
                "n": len(flags),
            }
    if max(sizes) > 1 and len(sizes) == 1:
        from s1lib.eval.metrics import vote_metrics

        out.update(vote_metrics([[(r.get("vote_key"), r["status"] == "correct") for r in rs] for rs in rows]))
    return out


def summarize_method(
    method: str, settings: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Control / Scaling / Performance of one method over its settings.

    Scaling is given per doubling of thinking (``scaling_log2_pp``, accuracy points; the units under which the
    paper's Table 3 values read as 15 / −24 / −35 — our headline) and per 1,000 thinking tokens
    (``scaling_per_1k_pp``); both use each setting's MEASURED average thinking tokens as its x.
    """
    from s1lib.eval.metrics import control, performance, scaling

    points = [(float(s["avg_thinking_tokens"]), float(s["accuracy"])) for s in settings]
    out: dict[str, Any] = {
        "method": method,
        "settings": [s["setting"] for s in settings],
        "points": points,
        "intervals": [[s.get("ci_low"), s.get("ci_high")] for s in settings],  # 95%, one per point
    }
    budgeted = [r for r in records if r.get("budget")]
    out["control"] = (
        control(
            [float(r.get("thinking_tokens") or 0) for r in budgeted],
            [r["budget"][0] for r in budgeted],
            [r["budget"][1] for r in budgeted],
        )
        if budgeted
        else None
    )
    positive = [(a, f) for a, f in points if a > 0]
    out["scaling_log2_pp"] = 100 * scaling(positive, x_scale="log2") if len(positive) >= 2 else None
    out["scaling_per_1k_pp"] = 100 * scaling(points, per_tokens=1000) if len(points) >= 2 else None
    out["performance"] = performance(points)
    best = max(range(len(points)), key=lambda i: points[i][1])
    out["performance_interval"] = out["intervals"][best]
    return _nan_to_none(out)


def summarize(records: Sequence[Mapping[str, Any]], setting_order: Sequence[str] | None = None) -> dict[str, Any]:
    """The aggregated results: ``{"settings": [...], "methods": [...]}`` from sample records."""
    by_setting: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        by_setting[str(r["setting"])].append(r)
    order = [s for s in (setting_order or []) if s in by_setting] + sorted(set(by_setting) - set(setting_order or []))
    settings = [_nan_to_none(summarize_setting(by_setting[s])) for s in order]
    by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in settings:
        by_method[str(s.get("method") or "custom")].append(s)
    methods = []
    for method, items in by_method.items():
        labels = {s["setting"] for s in items}
        summary = summarize_method(method, items, [r for r in records if r["setting"] in labels])
        if len(items) >= 2:
            change = paired_change(by_setting[items[0]["setting"]], by_setting[items[-1]["setting"]])
            if change is not None:
                summary["change"] = {"from": items[0]["setting"], "to": items[-1]["setting"], **change}
        methods.append(summary)
    return {"settings": settings, "methods": methods}


def paired_change(
    first: Sequence[Mapping[str, Any]], last: Sequence[Mapping[str, Any]]
) -> dict[str, float | int | str] | None:
    """Accuracy of ``last`` minus ``first`` on the problems both answered (one sample each), with Newcombe's paired
    95% interval: how much a method's largest budget gains over its smallest, beyond the noise of the problem set.
    None when the settings have several samples per problem or share no problem."""
    from s1lib.eval.metrics import paired_difference_interval

    def by_problem(records: Sequence[Mapping[str, Any]]) -> dict[str, bool] | None:
        out: dict[str, bool] = {}
        for r in records:
            if int(r["sample"]) != 0:
                return None
            out[str(r["problem_id"])] = r["status"] == "correct"
        return out

    a, b = by_problem(first), by_problem(last)
    if a is None or b is None:
        return None
    shared = sorted(set(a) & set(b))
    if not shared:
        return None
    diff = paired_difference_interval([b[p] for p in shared], [a[p] for p in shared])
    return {
        "difference": diff.difference,
        "ci_low": diff.low,
        "ci_high": diff.high,
        "n": diff.n,
        "interval": diff.method,
    }
