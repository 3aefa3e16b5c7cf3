"""The sweep runner: one benchmark over a grid of policies and baselines, graded and stored as it goes.

A :class:`SweepConfig` (YAML/JSON, one help string per field) expands to named :class:`Setting`s: budget caps
(the paper's Figure 4 sweep), "Wait" counts per ignore string (extrapolation), explicit policies, and the
baselines of Table 3. Everything that can be wrong with the grid (empty, unknown benchmark, missing file, budgets
beyond the model's context) fails with a clear error before anything is generated. Greedy budget settings share
their thinking prefix (``s1lib.forcing.sweep``); results go to a resumable :class:`~s1lib.eval.store.ResultsStore`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from s1lib.eval.benchmarks import BENCHMARKS, Problem, load_benchmark
from s1lib.eval.grading import GradingConfig, MathVerifier, grade, parse_choice, parse_integer
from s1lib.eval.metrics import chance_levels
from s1lib.eval.store import ResultsStore, summarize
from s1lib.forcing.baselines import (
    BASELINES,
    class_conditional_suffix,
    extra_kwargs,
    rejection_sample,
    sample_seed,
    step_conditional_suffix,
    token_conditional_suffix,
)
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig, Trace

logger = logging.getLogger(__name__)


@dataclass
class SweepConfig:
    """A test-time scaling sweep. Defaults follow the paper's AIME24 budget sweep (greedy, caps 500 … 16000)."""

    benchmark: str = field(default="aime24", metadata={"help": f"Benchmark name: one of {sorted(BENCHMARKS)}."})
    data: str | None = field(
        default=None, metadata={"help": "Benchmark file or folder (None = the hub data set, online only)."}
    )
    model: str = field(default="default", metadata={"help": "'default' (embedded SmolLM2-135M), a folder or hub id."})
    backend: str = field(default="transformers", metadata={"help": "'transformers' (prefix sharing) or 'vllm'."})
    engine_options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Engine options: vLLM's {tensor_parallel_size, dtype, max_model_len}; transformers' {dtype}."
        },
    )
    caps: list[int | None] = field(
        default_factory=lambda: [500, 1000, 2000, 4000, 8000, 16000],
        metadata={"help": "Thinking-token caps of the budget-forcing sweep (null = auto: bounded by the context)."},
    )
    fill_budget: bool = field(
        default=False,
        metadata={"help": "Also set min_thinking_tokens = cap, so every cap setting thinks exactly its budget."},
    )
    waits: list[int] = field(
        default_factory=list,
        metadata={"help": "Numbers of suppressed ends ('Wait's) for the extrapolation sweep (paper: 1, 2, 4, 6)."},
    )
    wait_cap: int | None = field(
        default=None, metadata={"help": "Thinking cap of the Wait settings and prompt baselines (null = auto)."}
    )
    ignore_strings: list[str | None] = field(
        default_factory=lambda: ["Wait"],
        metadata={"help": "Ignore strings; each gets its own Wait sweep (null = suppress without a string)."},
    )
    policies: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={"help": "Extra explicit settings: BudgetPolicy fields, plus optional 'label' and 'method'."},
    )
    baselines: list[str] = field(default_factory=list, metadata={"help": f"Baselines to run, from {BASELINES}."})
    token_budgets: list[int] = field(
        default_factory=lambda: [2048, 4096, 8192, 16384], metadata={"help": "Token-conditional budgets N."}
    )
    step_budgets: list[int] = field(
        default_factory=lambda: [16, 32, 64, 128, 256], metadata={"help": "Step-conditional budgets N."}
    )
    rejection_budgets: list[int] = field(
        default_factory=lambda: [3500, 4000, 5000, 8000, 16000], metadata={"help": "Rejection-sampling budgets."}
    )
    rejection_max_tries: int = field(default=16, metadata={"help": "Rejection sampling: samples per problem at most."})
    majority_k: int = field(default=64, metadata={"help": "Majority voting: samples per problem (reports maj@k)."})
    baseline_temperature: float = field(
        default=1.0, metadata={"help": "Temperature of rejection sampling and majority voting (paper: 1)."}
    )
    max_answer_tokens: int | None = field(
        default=None, metadata={"help": "Cap on answer tokens of every setting (null = until end of sequence)."}
    )
    delimiters: str = field(default="s1", metadata={"help": "Delimiter preset: 's1' or 'think-tags'."})
    system: str | None = field(
        default=None,
        metadata={"help": "System prompt (null = the one the model was trained with, else the chat template's own)."},
    )
    temperature: float = field(
        default=0.0, metadata={"help": "Sampling temperature of the budget settings (0 = greedy)."}
    )
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (sampling only)."})
    seed: int = field(default=0, metadata={"help": "Base seed; sample j of problem i uses a distinct derived seed."})
    samples: int = field(
        default=1, metadata={"help": "Samples per problem of the budget settings (> 1 needs temperature > 0)."}
    )
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N problems."})
    batch_size: int = field(default=8, metadata={"help": "Prompts decoded together."})
    output_dir: str = field(default="runs/sweep", metadata={"help": "Folder of samples.jsonl, results.json, figures."})
    share_prefix: bool = field(
        default=True, metadata={"help": "Greedy only: decode the shared thinking prefix once for all budgets."}
    )
    grading_timeout: float | None = field(default=5.0, metadata={"help": "Seconds per math-verify comparison."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow model code from the hub."})

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Errors that need no model: unknown benchmark/backend/baseline, bad numbers, an empty grid."""
        if self.benchmark not in BENCHMARKS:
            known = sorted(BENCHMARKS)
            raise ValueError(f"SweepConfig.benchmark: unknown benchmark {self.benchmark!r}; known: {known}")
        if self.backend not in ("transformers", "hf", "vllm"):
            raise ValueError(f"SweepConfig.backend must be 'transformers' or 'vllm', got {self.backend!r}")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise ValueError(f"SweepConfig.baselines: unknown {unknown}; known: {list(BASELINES)}")
        for name in ("batch_size", "samples", "rejection_max_tries", "majority_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SweepConfig.{name} must be a positive integer, got {value!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"SweepConfig.limit must be a positive integer or null, got {self.limit!r}")
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("SweepConfig.samples > 1 needs temperature > 0 (greedy samples are identical)")
        if self.data is not None and not Path(self.data).exists():
            raise FileNotFoundError(f"SweepConfig.data: {self.data} does not exist")
        SamplingConfig(temperature=self.temperature, top_p=self.top_p, seed=self.seed)
        if not (self.caps or self.waits or self.policies or self.baselines):
            raise ValueError("SweepConfig: the grid is empty (no caps, waits, policies or baselines)")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> SweepConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> SweepConfig:
        """Read a YAML (.yaml/.yml) or JSON grid file; relative ``data`` paths are taken from the file's folder."""
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"Sweep file {p} does not exist")
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                values = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"{p}: not valid YAML ({exc})") from exc
        elif p.suffix.lower() == ".json":
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        else:
            raise ValueError(f"{p}: expected a .yaml, .yml or .json file")
        if not isinstance(values, dict):
            raise ValueError(f"{p}: expected a mapping of SweepConfig fields, got {type(values).__name__}")
        if values.get("data") and not Path(values["data"]).is_absolute():
            candidate = p.parent / values["data"]
            if candidate.exists():
                values["data"] = str(candidate)
        return cls.from_dict(values, str(p))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(temperature=self.temperature, top_p=self.top_p, seed=self.seed)


@dataclass
class Setting:
    """One point of the grid. ``kind``: ``forcing`` (plain generation), ``rejection`` or ``majority``."""

    label: str
    method: str
    policy: BudgetPolicy
    suffix: str = ""
    kind: str = "forcing"
    samples: int = 1
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    budget: tuple[int, int] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def build_settings(config: SweepConfig) -> list[Setting]:
    """Expand a config into its settings (labels are unique; duplicates are an error)."""
    answer = config.max_answer_tokens
    delims = config.delimiters
    sampling = config.sampling()
    base = sampling.__class__(temperature=config.baseline_temperature, top_p=config.top_p, seed=config.seed)
    settings: list[Setting] = []
    first_ignore = config.ignore_strings[0] if config.ignore_strings else "Wait"
    for cap in config.caps:
        policy = BudgetPolicy(
            max_thinking_tokens=cap,
            min_thinking_tokens=(cap or 0) if config.fill_budget else 0,
            ignore_strings=first_ignore,
            max_answer_tokens=answer,
            delimiters=delims,
        )
        budget = (0, cap) if cap is not None else None
        settings.append(
            Setting(
                f"cap={cap if cap is not None else 'auto'}",
                "budget forcing",
                policy,
                samples=config.samples,
                sampling=sampling,
                budget=budget,
            )
        )
    for ignore in config.ignore_strings:
        name = ignore if ignore else "none"
        for waits in config.waits:
            policy = BudgetPolicy(
                max_thinking_tokens=config.wait_cap,
                num_ignore=waits,
                ignore_strings=ignore,
                max_answer_tokens=answer,
                delimiters=delims,
            )
            label = f"wait×{waits}" + ("" if ignore == "Wait" else f" ignore={name}")
            settings.append(
                Setting(label, f"extrapolation ({name})", policy, samples=config.samples, sampling=sampling)
            )
    for index, raw in enumerate(config.policies):
        values = dict(raw)
        label = values.pop("label", None)
        method = values.pop("method", "custom")
        values.setdefault("max_answer_tokens", answer)
        values.setdefault("delimiters", delims)
        try:
            policy = BudgetPolicy(**values)
        except TypeError as exc:
            raise ValueError(f"SweepConfig.policies[{index}]: {exc}") from exc
        cap = policy.max_thinking_tokens
        settings.append(
            Setting(
                label or policy.label(),
                method,
                policy,
                samples=config.samples,
                sampling=sampling,
                budget=(policy.min_thinking_tokens, cap) if cap is not None else None,
            )
        )
    plain = BudgetPolicy(max_thinking_tokens=config.wait_cap, max_answer_tokens=answer, delimiters=delims)
    for baseline in config.baselines:
        if baseline == "token_conditional":
            for n in config.token_budgets:
                settings.append(
                    Setting(
                        f"token-cond {n}",
                        "token-conditional",
                        plain,
                        token_conditional_suffix(n),
                        samples=config.samples,
                        sampling=sampling,
                        budget=(0, n),
                    )
                )
        elif baseline == "token_conditional_bf":
            for n in config.token_budgets:
                settings.append(
                    Setting(
                        f"token-cond+bf {n}",
                        "token-conditional + BF",
                        plain.replace(max_thinking_tokens=n),
                        token_conditional_suffix(n),
                        samples=config.samples,
                        sampling=sampling,
                        budget=(0, n),
                    )
                )
        elif baseline == "step_conditional":
            for n in config.step_budgets:
                settings.append(
                    Setting(
                        f"step-cond {n}",
                        "step-conditional",
                        plain,
                        step_conditional_suffix(n),
                        samples=config.samples,
                        sampling=sampling,
                    )
                )
        elif baseline == "class_conditional":
            for kind in ("short", "long"):
                settings.append(
                    Setting(
                        f"class-cond {kind}",
                        "class-conditional",
                        plain,
                        class_conditional_suffix(kind),
                        samples=config.samples,
                        sampling=sampling,
                    )
                )
        elif baseline == "rejection":
            for n in config.rejection_budgets:
                settings.append(
                    Setting(
                        f"rejection {n}",
                        "rejection sampling",
                        plain,
                        kind="rejection",
                        sampling=base,
                        budget=(0, n),
                        params={"budget": n, "max_tries": config.rejection_max_tries},
                    )
                )
        elif baseline == "majority":
            settings.append(
                Setting(
                    f"majority@{config.majority_k}",
                    "majority voting",
                    plain,
                    kind="majority",
                    samples=config.majority_k,
                    sampling=base,
                )
            )
    labels = [s.label for s in settings]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"SweepConfig: settings {duplicates} appear twice; remove the duplicate grid entries")
    if not settings:
        raise ValueError("SweepConfig: the grid is empty")
    return settings


# ---------------------------------------------------------------------------------------------------------------------
# Records


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def vote_key(answer: str | None, kind: str) -> str | None:
    """A canonical form of an extracted answer, so equal answers vote together."""
    if answer is None:
        return None
    if kind == "integer":
        value = parse_integer(answer)
        return str(value) if value is not None else re.sub(r"\s+", "", answer)
    if kind == "choice":
        return parse_choice(answer)
    return re.sub(r"\s+", "", answer).replace("\\left", "").replace("\\right", "").rstrip(".") or None


def make_record(
    setting: Setting,
    problem: Problem,
    sample: int,
    prompt: str,
    trace: Trace,
    verifier: MathVerifier,
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One samples.jsonl line. A grading failure is logged and stored as ``unparsed`` with the error, never raised."""
    try:
        g = grade(problem, trace.text, setting.policy.delimiters, verifier)
        extracted, status, error = g.extracted, g.status, None
    except Exception as exc:  # a finished generation must never be lost to a grading bug
        logger.warning("grading %s / %s failed: %s", setting.label, problem.id, exc)
        extracted, status, error = None, "unparsed", f"{type(exc).__name__}: {exc}"
    forced_counts: dict[str, int] = {}
    for insertion in trace.forced:
        forced_counts[insertion.kind] = forced_counts.get(insertion.kind, 0) + 1
    record: dict[str, Any] = {
        "setting": setting.label,
        "method": setting.method,
        "policy": setting.policy.to_dict(),
        "suffix": setting.suffix,
        "problem_id": problem.id,
        "sample": sample,
        "seed": seed,
        "prompt_hash": prompt_hash(prompt),
        "completion": trace.text,
        "extracted": extracted,
        "vote_key": vote_key(extracted, problem.kind),
        "gold": problem.answer,
        "status": status,
        "correct": status == "correct",
        "thinking_tokens": trace.thinking_tokens,
        "answer_tokens": trace.answer_tokens,
        "forced": [f.to_dict() for f in trace.forced],
        "forced_counts": forced_counts,
        "finish_reason": trace.finish_reason,
        "thinking_end_reason": trace.thinking_end_reason,
        "budget": list(setting.budget) if setting.budget else None,
    }
    if "permutation" in problem.metadata:
        record["gpqa_permutation"] = problem.metadata["permutation"]
    if "family" in problem.metadata:  # the toy benchmark: accuracy is also reported per family
        record["family"] = problem.metadata["family"]
    if error:
        record["error"] = error
    record.update(extra or {})
    return record


# ---------------------------------------------------------------------------------------------------------------------
# Running


RESUME_KEYS = (
    "benchmark",
    "data",
    "model",
    "backend",
    "delimiters",
    "system",
    "temperature",
    "top_p",
    "seed",
    "max_answer_tokens",
    "fill_budget",
    "wait_cap",
    "baseline_temperature",
    "rejection_max_tries",
)
"""Config fields whose change invalidates stored samples (others, like the grid or ``limit``, may grow)."""


@dataclass
class SweepRun:
    """What :func:`run_sweep` returns: the aggregate, where it was written, and how the work went."""

    results: dict[str, Any]
    output_dir: Path
    stats: dict[str, Any]
    torn_lines: int = 0


def load_problems(config: SweepConfig) -> list[Problem]:
    problems = load_benchmark(config.benchmark, config.data, limit=config.limit, seed=config.seed)
    if not problems:
        raise ValueError(f"{config.benchmark}: no problems to evaluate")
    return problems


def check_context(engine: Any, settings: Sequence[Setting], prompts: dict[str, list[str]]) -> None:
    """Every budget must fit the model's context with the longest prompt of its setting (before generating)."""
    context = getattr(engine, "context_length", None)
    if not context:
        return
    for setting in settings:
        longest = max(len(ids) for ids in engine.encode_prompts(prompts[setting.suffix]))
        try:
            setting.policy.validate(context, longest)
        except ValueError as exc:
            raise ValueError(f"setting {setting.label!r}: {exc}") from None
        budget = setting.params.get("budget")
        if budget is not None and longest + budget + 1 >= context:
            raise ValueError(
                f"setting {setting.label!r}: budget {budget} plus the prompt ({longest} tokens) does "
                f"not fit the model's context of {context} tokens"
            )


def run_sweep(
    config: SweepConfig,
    engine: Any = None,
    progress: bool = True,
    extra_processors: Sequence[Callable[..., Any]] = (),
    verifier: MathVerifier | None = None,
) -> SweepRun:
    """Run (or resume) a sweep; writes ``samples.jsonl``, ``results.json`` and ``config.json`` to the output dir."""
    from s1lib.forcing.sweep import SweepStats, iter_sweep

    settings = build_settings(config)
    problems = load_problems(config)
    store = ResultsStore(config.output_dir, config.to_dict(), resume_keys=RESUME_KEYS)
    if store.torn_lines:
        print(f"resume: dropped {len(store.torn_lines)} torn line(s) at the end of {store.samples_path}")
    if engine is None:
        from s1lib.forcing import load_engine

        engine = load_engine(
            config.model, config.backend, trust_remote_code=config.trust_remote_code, **config.engine_options
        )
    prompts = {
        s.suffix: [engine.prompt_for(p.question, s.policy, system=config.system, suffix=s.suffix) for p in problems]
        for s in settings
    }
    check_context(engine, settings, prompts)
    own_verifier = verifier is None
    verifier = verifier or MathVerifier(GradingConfig(timeout=config.grading_timeout))
    stats = SweepStats()
    started = time.perf_counter()
    bar = None
    pending_total = sum(
        1 for s in settings for p in problems for j in range(s.samples) if not store.done(s.label, p.id, j)
    )
    if progress and pending_total:
        from s1lib.progress import LineProgress

        bar = LineProgress(pending_total, f"sweep {config.benchmark}", unit="samples")
        print(
            f"sweep {config.benchmark}: {len(problems)} problems × {len(settings)} settings "
            f"({pending_total} samples to run); precision {(engine.precision or {}).get('dtype', '?')}",
            flush=True,
        )
    try:
        # Plain generation, grouped by prompt suffix and sampling so greedy budgets share their prefix.
        groups: dict[tuple[str, int, float], list[Setting]] = {}
        for s in settings:
            if s.kind == "forcing":
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
                engine,
                [prompts[suffix][i] for i, _ in rows],
                [s.policy for s in todo],
                sampling,
                config.batch_size,
                extra_processors,
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
                            records.append(
                                make_record(
                                    setting,
                                    problems[i],
                                    j,
                                    prompts[suffix][i],
                                    trace,
                                    verifier,
                                    seeds[k] if not sampling.greedy else None,
                                )
                            )
                written = store.append(records)
                if bar is not None:
                    bar.update(
                        written,
                        f"group {group_index}/{len(groups)} ({names}): {problems_done}/{len(rows)} problems",
                        force=True,
                    )
        for setting in settings:
            if setting.kind == "rejection":
                todo_idx = [i for i, p in enumerate(problems) if not store.done(setting.label, p.id, 0)]
                for start in range(0, len(todo_idx), config.batch_size):
                    chunk = todo_idx[start : start + config.batch_size]
                    results = rejection_sample(
                        engine,
                        [prompts[setting.suffix][i] for i in chunk],
                        setting.params["budget"],
                        setting.policy,
                        setting.sampling,
                        setting.params["max_tries"],
                        config.batch_size,
                        extra_processors,
                        chunk,
                    )
                    records = [
                        make_record(
                            setting,
                            problems[i],
                            0,
                            prompts[setting.suffix][i],
                            r.trace,
                            verifier,
                            extra={"tries": r.tries, "fit": r.fit},
                        )
                        for i, r in zip(chunk, results)
                    ]
                    written = store.append(records)
                    if bar is not None:
                        bar.update(written, f"{setting.label}: {chunk[-1] + 1}/{len(problems)} problems")
            elif setting.kind == "majority":
                rows = [
                    (i, j)
                    for i, p in enumerate(problems)
                    for j in range(setting.samples)
                    if not store.done(setting.label, p.id, j)
                ]
                step = max(config.batch_size, 1)
                for start in range(0, len(rows), step):
                    chunk = rows[start : start + step]
                    seeds = [sample_seed(setting.sampling.seed, i, j) for i, j in chunk]
                    traces = engine.generate(
                        [prompts[setting.suffix][i] for i, _ in chunk],
                        setting.policy,
                        setting.sampling,
                        batch_size=config.batch_size,
                        **extra_kwargs(extra_processors),
                        seeds=seeds,
                    )
                    records = [
                        make_record(setting, problems[i], j, prompts[setting.suffix][i], t, verifier, seed)
                        for (i, j), t, seed in zip(chunk, traces, seeds)
                    ]
                    written = store.append(records)
                    if bar is not None:
                        bar.update(written, f"{setting.label}: {start + len(chunk)}/{len(rows)} samples")
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
        "stats": run_stats,
        "torn_lines_dropped": len(store.torn_lines),
    }
    store.write_results(results)
    return SweepRun(results, store.folder, run_stats, len(store.torn_lines))
