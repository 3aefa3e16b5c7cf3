"""The sweep runner: one benchmark over a grid of settings, graded and stored as it goes (resumable).

The grid comes from :mod:`s1lib.eval.sweep_config`; budgets that do not fit the model's context fail before
anything is generated. Plain settings run through :func:`s1lib.backends.prefix_sharing.iter_sweep` (greedy budgets
share their thinking prefix), rejection sampling and majority voting through :mod:`s1lib.forcing.baselines`;
records (:mod:`s1lib.eval.records`) go to a :class:`~s1lib.eval.store.ResultsStore` batch by batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.backends.prefix_sharing import SweepStats, iter_sweep
from s1lib.eval.benchmarks import Problem, load_any
from s1lib.eval.figures import results_table, sweep_figures
from s1lib.eval.grading import GradingConfig, MathVerifier
from s1lib.eval.metrics import chance_levels
from s1lib.eval.records import make_record
from s1lib.eval.store import CONFIG_FILE, SAMPLES_FILE, ResultsStore, summarize
from s1lib.eval.sweep_config import Decoding, Setting, SweepConfig, build_settings
from s1lib.forcing.baselines import rejection_sample, sample_rows, sample_seed
from s1lib.forcing.engine import Engine, Processor
from s1lib.models import model_fingerprint
from s1lib.results import StageResult
from s1lib.versions import software_versions, version_changes

RESUME_KEYS = (
    "benchmark",
    "data",
    "model",
    "backend",
    "delimiters",
    "system",
    "temperature",
    "top_p",
    "min_p",
    "temperature_thinking",
    "seed",
    "max_answer_tokens",
    "fill_budget",
    "wait_cap",
    "baseline_temperature",
    "rejection_max_tries",
    "model_fingerprint",
)
"""Config fields whose change invalidates stored samples (others, like the grid or ``limit``, may grow);
``model_fingerprint`` (:func:`s1lib.models.model_fingerprint`) tells a model trained again into the same folder."""


@dataclass
class SweepRun(StageResult):
    """What :func:`run_sweep` returns: the aggregate, where it was written, and how the work went. As a stage's
    result: ``metrics.json`` holds the methods (Control / Scaling / Performance and their points), :meth:`save`
    also writes ``scaling_summary.json``."""

    results: dict[str, Any]
    output_dir: Path
    stats: dict[str, Any]
    torn_lines: int = 0
    _figures: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def records(self) -> list[dict[str, Any]]:
        """The stored samples of this run's settings."""
        wanted = {s["setting"] for s in self.results["settings"]}
        return [r for r in ResultsStore(self.output_dir).records if r["setting"] in wanted]

    def metrics(self) -> list[dict[str, Any]]:
        return self.results["methods"]

    def figures(self) -> dict[str, Any]:
        if self._figures is None:  # the results are final: build them once for save and for showing
            self._figures = sweep_figures(self.results, self.records())
        return self._figures

    def table(self) -> str:
        from s1lib.eval.summary import headline, scaling_summary

        return results_table(self.results) + "\n\n" + headline(scaling_summary(self.results))

    def save(self, out: str | Path) -> list[Path]:
        from s1lib.eval.summary import write_scaling_summary

        return [*super().save(out), write_scaling_summary(self.results, out)]


def load_problems(config: SweepConfig) -> list[Problem]:
    problems = load_any(config.benchmark, config.data, config.limit, config.seed, config.fields())
    if not problems:
        raise ValueError(f"{config.benchmark}: no problems to evaluate")
    return problems


def check_context(engine: Engine, settings: Sequence[Setting], prompts: dict[str, list[str]]) -> None:
    """Every setting must pass the engine's one check (:meth:`~s1lib.forcing.engine.EngineBase.prepare_many`:
    compiled, fitting the context with the longest prompt of its setting) before anything is generated; a
    baseline's token budget must fit too."""
    for setting in settings:
        try:
            (request,) = engine.prepare_many(prompts[setting.suffix], [setting.policy], setting.sampling)
        except ValueError as exc:
            raise ValueError(f"setting {setting.label!r}: {exc}") from None
        longest = max(len(ids) for ids in request.prompt_ids)
        budget = setting.params.get("budget")
        if budget is not None and engine.context_length and longest + budget + 1 >= engine.context_length:
            raise ValueError(
                f"setting {setting.label!r}: budget {budget} plus the prompt ({longest} tokens) does "
                f"not fit the model's context of {engine.context_length} tokens"
            )


@dataclass
class _Sweep:
    """What the three runners share: the grid, the problems, their prompts, where records go."""

    config: SweepConfig
    engine: Engine
    problems: list[Problem]
    prompts: dict[str, list[str]]
    store: ResultsStore
    verifier: MathVerifier
    extra_processors: Sequence[Processor]
    bar: Any = None

    def record(self, setting: Setting, i: int, j: int, trace: Any, seed: int | None = None, **extra: Any) -> dict:
        prompt = self.prompts[setting.suffix][i]
        return make_record(setting, self.problems[i], j, prompt, trace, self.verifier, seed, extra or None)

    def store_records(self, records: list[dict], note: str, force: bool = False) -> None:
        written = self.store.append(records)
        if self.bar is not None:
            self.bar.update(written, note, force=force)


def _run_plain(sweep: _Sweep, settings: Sequence[Setting], stats: SweepStats) -> None:
    """Plain generation, grouped by prompt suffix and sampling so greedy budgets share their prefix."""
    store, problems, config = sweep.store, sweep.problems, sweep.config
    groups: dict[tuple[str, int, float], list[Setting]] = {}
    for s in settings:
        if s.decoding is Decoding.FORCING:
            groups.setdefault((s.suffix, s.samples, s.sampling.temperature), []).append(s)
    for group_index, ((suffix, samples, _), members) in enumerate(groups.items(), start=1):
        rows = [
            (i, j)
            for i, p in enumerate(problems)
            for j in range(samples)
            if any(not store.done(s.label, p.id, j) for s in members)
        ]
        if not rows:
            continue
        todo = [s for s in members if any(not store.done(s.label, problems[i].id, j) for i, j in rows)]
        sampling = todo[0].sampling
        seeds = [sample_seed(sampling.seed, i, j) for i, j in rows]
        batches = iter_sweep(
            sweep.engine,
            [sweep.prompts[suffix][i] for i, _ in rows],
            [s.policy for s in todo],
            sampling,
            config.batch_size,
            sweep.extra_processors,
            config.share_prefix,
            seeds=seeds,
            stats=stats,
        )
        names = f"{members[0].label}…{members[-1].label}" if len(members) > 1 else members[0].label
        problems_done = 0
        for batch in batches:
            problems_done += len(batch.indices)
            records = []
            for s_index, setting in enumerate(todo):
                for k, trace in zip(batch.indices, batch.traces[s_index]):
                    i, j = rows[k]
                    if not store.done(setting.label, problems[i].id, j):
                        records.append(sweep.record(setting, i, j, trace, seeds[k] if not sampling.greedy else None))
            note = f"group {group_index}/{len(groups)} ({names}): {problems_done}/{len(rows)} problems"
            sweep.store_records(records, note, force=True)


def _run_rejection(sweep: _Sweep, setting: Setting) -> None:
    """Rejection sampling, a chunk of problems at a time (each problem's tries are seeded by its index)."""
    batch_size, problems = sweep.config.batch_size, sweep.problems
    todo = [i for i, p in enumerate(problems) if not sweep.store.done(setting.label, p.id, 0)]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        results = rejection_sample(
            sweep.engine,
            [sweep.prompts[setting.suffix][i] for i in chunk],
            setting.params["budget"],
            setting.policy,
            setting.sampling,
            setting.params["max_tries"],
            batch_size,
            sweep.extra_processors,
            chunk,
        )
        records = [sweep.record(setting, i, 0, r.trace, tries=r.tries, fit=r.fit) for i, r in zip(chunk, results)]
        sweep.store_records(records, f"{setting.label}: {chunk[-1] + 1}/{len(problems)} problems")


def _run_majority(sweep: _Sweep, setting: Setting) -> None:
    """Majority voting: ``samples`` seeded samples per problem, stored a batch at a time."""
    batch_size, store = sweep.config.batch_size, sweep.store
    rows = [
        (i, j)
        for i, p in enumerate(sweep.problems)
        for j in range(setting.samples)
        if not store.done(setting.label, p.id, j)
    ]
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        traces = sample_rows(
            sweep.engine,
            sweep.prompts[setting.suffix],
            chunk,
            setting.policy,
            setting.sampling,
            batch_size,
            sweep.extra_processors,
        )
        records = [
            sweep.record(setting, i, j, t, sample_seed(setting.sampling.seed, i, j)) for (i, j), t in zip(chunk, traces)
        ]
        sweep.store_records(records, f"{setting.label}: {start + len(chunk)}/{len(rows)} samples")


def run_sweep(
    config: SweepConfig,
    engine: Engine | None = None,
    progress: bool = True,
    extra_processors: Sequence[Processor] = (),
    verifier: MathVerifier | None = None,
) -> SweepRun:
    """Run (or resume) a sweep; writes ``samples.jsonl``, ``results.json`` and ``config.json`` to the output dir."""
    settings = build_settings(config)
    problems = load_problems(config)
    versions = software_versions(config.backend)
    seen = versions_seen(Path(config.output_dir), versions)
    stored = {**config.to_dict(), "model_fingerprint": model_fingerprint(config.model), "versions_seen": seen}
    store = ResultsStore(config.output_dir, stored, resume_keys=RESUME_KEYS)
    if store.torn_lines:
        print(f"resume: dropped {len(store.torn_lines)} torn line(s) at the end of {store.samples_path}")
    if engine is None:
        from s1lib.backends import load_engine

        engine = load_engine(
            config.model,
            config.backend,
            device=config.device,
            trust_remote_code=config.trust_remote_code,
            **config.engine_options,
        )
    calibration = None
    if config.calibration is not None:  # before any reported problem is decoded; their ids only keep it apart
        from s1lib.eval.calibrated_stop import calibrated_policy_entry, sweep_calibration

        calibration = sweep_calibration(config, engine, problems)
        entry = calibrated_policy_entry(config, calibration)
        if entry is not None:
            settings = build_settings(dataclasses.replace(config, policies=[*config.policies, entry]))
    prompts = {
        s.suffix: [engine.prompt_for(p.question, s.policy, system=config.system, suffix=s.suffix) for p in problems]
        for s in settings
    }
    check_context(engine, settings, prompts)
    own_verifier = verifier is None
    verifier = verifier or MathVerifier(GradingConfig(timeout=config.grading_timeout))
    sweep = _Sweep(config, engine, problems, prompts, store, verifier, extra_processors)
    stats = SweepStats()
    started = time.perf_counter()
    pending_total = sum(
        1 for s in settings for p in problems for j in range(s.samples) if not store.done(s.label, p.id, j)
    )
    if progress and pending_total:
        from s1lib.progress import LineProgress

        sweep.bar = LineProgress(pending_total, f"sweep {config.benchmark}", unit="samples")
        print(
            f"sweep {config.benchmark}: {len(problems)} problems × {len(settings)} settings "
            f"({pending_total} samples to run); precision {(engine.precision or {}).get('dtype', '?')}",
            flush=True,
        )
    try:
        with sweep.bar.active() if sweep.bar is not None else contextlib.nullcontext():  # heartbeats while decoding
            _run_plain(sweep, settings, stats)
            for setting in settings:
                if setting.decoding is Decoding.REJECTION:
                    _run_rejection(sweep, setting)
                elif setting.decoding is Decoding.MAJORITY:
                    _run_majority(sweep, setting)
    finally:
        if own_verifier:
            verifier.close()
    wanted = {(s.label, p.id) for s in settings for p in problems}
    records = [r for r in store.records if (r["setting"], str(r["problem_id"])) in wanted]
    results = summarize(records, [s.label for s in settings])
    families = [p.metadata.get("family") for p in problems]
    results["chance"] = chance_levels([p.answer for p in problems], families if any(families) else None)
    run_stats = {**stats.to_dict(), "seconds": round(time.perf_counter() - started, 2)}
    results["run"] = {
        "benchmark": config.benchmark,
        "model": config.model,
        "backend": config.backend,
        "problems": len(problems),
        "settings": len(settings),
        "precision": engine.precision,
        "versions": versions,
        "model_fingerprint": stored["model_fingerprint"],
        "stats": run_stats,
        "torn_lines_dropped": len(store.torn_lines),
    }
    if calibration is not None:  # how the calibrated setting was chosen, beside its held-out scores
        from s1lib.eval.calibrated_stop import calibration_cap

        results["calibration"] = {**calibration.to_dict(), "cap": calibration_cap(config)}
    if len(seen) > 1:  # samples of this folder were made under other versions too: say which, beside the scores
        results["run"]["versions_seen"] = seen
    store.write_results(results)
    return SweepRun(results, store.folder, run_stats, len(store.torn_lines))


def versions_seen(folder: Path, now: dict[str, Any]) -> list[dict[str, Any]]:
    """Every set of versions this folder's samples were made under, ending with ``now``; a resume under other
    versions prints what changed (the samples stay: versions do not invalidate them, but the report names both)."""
    path = folder / CONFIG_FILE
    if not (path.exists() and (folder / SAMPLES_FILE).exists()):
        return [now]
    try:
        seen = list(json.loads(path.read_text(encoding="utf-8")).get("versions_seen") or [])
    except (OSError, ValueError):
        seen = []
    changes = version_changes(seen[-1] if seen else None, now)
    if changes:
        said = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in changes.items())
        print(f"resume: {folder} holds samples made under other versions ({said}); results.json lists both")
    return [*seen, now] if changes or not seen else seen
