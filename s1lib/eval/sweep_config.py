"""What a sweep runs: its config (one help string per field) and the named settings the config expands to.

A :class:`SweepConfig` (YAML/JSON) expands to :class:`Setting`s: budget caps (the paper's Figure 4 sweep), "Wait"
counts per ignore string (extrapolation), explicit policies, and the baselines of Table 3
(:data:`BASELINE_SETTINGS`). Everything that can be wrong with the grid itself (empty, unknown benchmark or
baseline, missing file, duplicate labels) fails here, before any model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s1lib.configfile import config_from_dict, read_config
from s1lib.device import DEVICE_HELP, check_device
from s1lib.eval.benchmarks import BENCHMARKS, KINDS, AnswerKind, FieldNames
from s1lib.forcing.adaptive import AdaptiveStop
from s1lib.forcing.baselines import (
    BASELINES,
    class_conditional_suffix,
    step_conditional_suffix,
    token_conditional_suffix,
)
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig
from s1lib.named import Named


@dataclass
class SweepConfig:
    """A test-time scaling sweep. Defaults follow the paper's AIME24 budget sweep (greedy, caps 500 … 16000)."""

    benchmark: str = field(
        default="aime24",
        metadata={"help": f"Benchmark: one of {sorted(BENCHMARKS)}, or a table file's path (name its fields below)."},
    )
    data: str | None = field(
        default=None, metadata={"help": "Benchmark file or folder (None = the hub data set, online only)."}
    )
    question_field: str | None = field(
        default=None, metadata={"help": "A benchmark file by path: its question column (default 'question')."}
    )
    answer_field: str | None = field(
        default=None, metadata={"help": "A benchmark file by path: its gold-answer column (default 'answer')."}
    )
    kind: AnswerKind | None = field(
        default=None,
        metadata={
            "help": f"A benchmark file by path: how every answer is graded, one of {list(KINDS)} (default math)."
        },
    )
    kind_field: str | None = field(
        default=None, metadata={"help": "A benchmark file by path: a column holding each row's kind (instead of kind)."}
    )
    id_field: str | None = field(
        default=None, metadata={"help": "A benchmark file by path: its problem-id column (default: the row number)."}
    )
    model: str = field(default="default", metadata={"help": "'default' (embedded SmolLM2-135M), a folder or hub id."})
    backend: str = field(default="transformers", metadata={"help": "'transformers' (prefix sharing) or 'vllm'."})
    engine_options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Engine options: vLLM's {tensor_parallel_size, dtype, max_model_len}; transformers' {dtype}."
        },
    )
    device: str = field(
        default="auto", metadata={"help": f"Where transformers runs: {DEVICE_HELP}; vLLM runs where its build does."}
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
    adaptive: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "Adaptive stop rules (AdaptiveStop fields, plus the policy's num_ignore and min_thinking_tokens, "
            "e.g. {strategy: answer_confidence, threshold: 0.9, num_ignore: 4}), each run at every cap of "
            "`adaptive_caps`; probe tokens are recorded apart from thinking tokens. Both backends run them "
            "(vLLM in probe rounds)."
        },
    )
    adaptive_caps: list[int | None] | None = field(
        default=None,
        metadata={
            "help": "Thinking caps of the adaptive rules (null = every cap of `caps`); e.g. [16000] runs each rule "
            "at the largest budget only, beside (or, with caps: [], without) the fixed caps."
        },
    )
    calibration: dict[str, Any] | None = field(
        default=None,
        metadata={
            "help": "Choose a probe_consistency setting on problems apart from the reported ones (Learn Then Test, "
            "s1lib.eval.calibration) and add it to the grid as 'calibrated …': CalibrationConfig fields, e.g. "
            "{problems: 200, probe_every: [8, 16], agree: [2, 3, 4], max_accuracy_drop: 0.05, confidence: 0.9} "
            "(null = none; the rules of `adaptive` are hand-picked)."
        },
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
    min_p: float = field(
        default=0.0, metadata={"help": "Drop tokens below min_p × the most likely one's probability (0 = off)."}
    )
    temperature_thinking: float | None = field(
        default=None,
        metadata={
            "help": "Temperature of the thinking phase (the reference harness's name); null = `temperature` for both."
        },
    )
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
        by_path = Path(self.benchmark).is_file() or (self.fields().given and self.data is not None)
        if self.benchmark not in BENCHMARKS and not by_path:
            known = sorted(BENCHMARKS)
            raise ValueError(
                f"SweepConfig.benchmark: unknown benchmark {self.benchmark!r} (known: {known}) and no file; give a "
                "table's path, or data with question_field / answer_field / kind"
            )
        if self.kind is not None:
            self.kind = AnswerKind.checked(self.kind, "SweepConfig.kind")
        if self.kind is not None and self.kind_field is not None:
            raise ValueError("SweepConfig: give kind or kind_field, not both")
        self.device = check_device(self.device, "SweepConfig.device")
        if "device" in self.engine_options:
            raise ValueError("SweepConfig.engine_options.device: set SweepConfig.device (a field of its own) instead")
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
        if self.samples > 1 and self.sampling().greedy:
            raise ValueError("SweepConfig.samples > 1 needs temperature > 0 (greedy samples are identical)")
        if self.data is not None and not Path(self.data).exists():
            raise FileNotFoundError(f"SweepConfig.data: {self.data} does not exist")
        self.sampling()
        for index, rule in enumerate(self.adaptive):
            adaptive_policy(rule, None, f"SweepConfig.adaptive[{index}]")
        if self.calibration is not None:
            from s1lib.eval.calibrated_stop import CalibrationConfig

            config_from_dict(CalibrationConfig, self.calibration, "SweepConfig.calibration")
            if self.max_answer_tokens is None:
                raise ValueError("SweepConfig.calibration needs max_answer_tokens: the probe is the cap's own answer")
            if not [c for c in (self.rule_caps() or self.caps) if c is not None] and not self.calibration.get("cap"):
                raise ValueError("SweepConfig.calibration needs a cap: set calibration.cap, caps or adaptive_caps")
        if self.adaptive_caps is not None and not self.adaptive_caps:
            raise ValueError("SweepConfig.adaptive_caps is empty; null runs the adaptive rules at every cap of caps")
        if self.adaptive and not self.rule_caps():
            raise ValueError("SweepConfig.adaptive runs each rule at every cap of caps, but caps is empty")
        if not (self.caps or self.waits or self.policies or self.baselines or self.adaptive or self.calibration):
            raise ValueError("SweepConfig: the grid is empty (no caps, waits, policies, adaptive rules or baselines)")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> SweepConfig:
        return config_from_dict(cls, values, source)

    @classmethod
    def from_file(cls, path: str | Path) -> SweepConfig:
        """Read a YAML (.yaml/.yml) or JSON grid file; relative ``data`` paths are taken from the file's folder."""
        p = Path(path)
        values = read_config(p, "sweep", "a mapping of SweepConfig fields")
        if values.get("data") and not Path(values["data"]).is_absolute():
            candidate = p.parent / values["data"]
            if candidate.exists():
                values["data"] = str(candidate)
        return cls.from_dict(values, str(p))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fields(self) -> FieldNames:
        """How to read a benchmark file by path (nothing named: a preset's own adapter)."""
        return FieldNames(self.question_field, self.answer_field, self.kind, self.kind_field, self.id_field)

    def rule_caps(self) -> list[int | None]:
        """The caps every adaptive rule runs at: ``adaptive_caps``, else ``caps``."""
        return list(self.caps if self.adaptive_caps is None else self.adaptive_caps)

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(
            temperature=self.temperature, top_p=self.top_p, min_p=self.min_p,
            temperature_thinking=self.temperature_thinking, seed=self.seed,
        )  # fmt: skip


class Decoding(Named):
    """How a setting decodes its rows: once each under its policy (``forcing``), by rejection sampling until the
    thinking fits (``rejection``), or as ``samples`` votes (``majority``)."""

    FORCING = "forcing"
    REJECTION = "rejection"
    MAJORITY = "majority"


@dataclass
class Setting:
    """One point of the grid, decoded as its :class:`Decoding` says."""

    label: str
    method: str
    policy: BudgetPolicy
    suffix: str = ""
    decoding: Decoding = Decoding.FORCING
    samples: int = 1
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    budget: tuple[int, int] | None = None
    params: dict[str, Any] = field(default_factory=dict)


ADAPTIVE_POLICY_FIELDS = ("num_ignore", "min_thinking_tokens")
"""The BudgetPolicy fields an entry of ``SweepConfig.adaptive`` may set beside the AdaptiveStop fields."""


def adaptive_policy(rule: dict[str, Any], cap: int | None, where: str, **policy: Any) -> BudgetPolicy:
    """The policy of one adaptive rule at one cap; a bad entry is a ``ValueError`` naming it and the field."""
    if not isinstance(rule, dict):
        raise ValueError(f"{where} must be a mapping of AdaptiveStop fields, got {rule!r}")
    values = dict(rule)
    extra = {name: values.pop(name) for name in ADAPTIVE_POLICY_FIELDS if name in values}
    try:
        return BudgetPolicy(max_thinking_tokens=cap, adaptive=AdaptiveStop(**values), **extra, **policy)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def build_settings(config: SweepConfig) -> list[Setting]:
    """Expand a config into its settings (labels are unique; duplicates are an error)."""
    answer = config.max_answer_tokens
    delims = config.delimiters
    sampling = config.sampling()
    base = sampling.__class__(
        temperature=config.baseline_temperature, top_p=config.top_p, min_p=config.min_p, seed=config.seed
    )
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
    for index, rule in enumerate(config.adaptive):
        for cap in config.rule_caps():
            policy = adaptive_policy(
                rule,
                cap,
                f"SweepConfig.adaptive[{index}]",
                ignore_strings=first_ignore,
                max_answer_tokens=answer,
                delimiters=delims,
            )
            settings.append(
                Setting(
                    policy.label() if cap is not None else f"cap=auto {policy.label()}",
                    f"adaptive ({policy.adaptive.strategy}, hand-picked)",  # type: ignore[union-attr]
                    policy,
                    samples=config.samples,
                    sampling=sampling,
                    budget=(policy.min_thinking_tokens, cap) if cap is not None else None,
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
        settings.extend(baseline_settings(config, baseline, plain, sampling, base))
    labels = [s.label for s in settings]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"SweepConfig: settings {duplicates} appear twice; remove the duplicate grid entries")
    if not settings:
        raise ValueError("SweepConfig: the grid is empty")
    return settings


@dataclass(frozen=True)
class BaselineRow:
    """How one baseline of the paper's Table 3 expands into settings: one per value (a budget, a kind, a k)."""

    label: str  # "{v}" is the value
    method: str
    values: str | tuple[Any, ...]  # a SweepConfig field holding the values, or the values themselves
    suffix: Callable[[Any], str] | None = None  # the prompt suffix for a value (conditional length control)
    capped: bool = False  # the value is also the thinking cap (budget forcing on top of the prompt)
    budget: bool = False  # the value is the setting's token budget (Control is measured against it)
    decoding: Decoding = Decoding.FORCING


BASELINE_SETTINGS: dict[str, BaselineRow] = {
    "token_conditional": BaselineRow(
        "token-cond {v}", "token-conditional", "token_budgets", token_conditional_suffix, budget=True
    ),
    "token_conditional_bf": BaselineRow(
        "token-cond+bf {v}", "token-conditional + BF", "token_budgets", token_conditional_suffix, True, True
    ),
    "step_conditional": BaselineRow("step-cond {v}", "step-conditional", "step_budgets", step_conditional_suffix),
    "class_conditional": BaselineRow(
        "class-cond {v}", "class-conditional", ("short", "long"), class_conditional_suffix
    ),
    "rejection": BaselineRow(
        "rejection {v}", "rejection sampling", "rejection_budgets", budget=True, decoding=Decoding.REJECTION
    ),
    "majority": BaselineRow("majority@{v}", "majority voting", "majority_k", decoding=Decoding.MAJORITY),
}
"""Every name of :data:`~s1lib.forcing.baselines.BASELINES`, as a row of this table."""


def baseline_settings(
    config: SweepConfig, name: str, plain: BudgetPolicy, sampling: SamplingConfig, base: SamplingConfig
) -> list[Setting]:
    """The settings of one baseline. Prompt baselines sample like the budget settings; rejection sampling and
    majority voting sample at ``baseline_temperature`` (``base``)."""
    row = BASELINE_SETTINGS[name]
    values = getattr(config, row.values) if isinstance(row.values, str) else row.values
    out = []
    for value in values if isinstance(values, (list, tuple)) else [values]:
        forcing = row.decoding is Decoding.FORCING
        out.append(
            Setting(
                row.label.format(v=value),
                row.method,
                plain.replace(max_thinking_tokens=value) if row.capped else plain,
                row.suffix(value) if row.suffix else "",
                decoding=row.decoding,
                samples=config.samples if forcing else value if row.decoding is Decoding.MAJORITY else 1,
                sampling=sampling if forcing else base,
                budget=(0, value) if row.budget else None,
                params={"budget": value, "max_tries": config.rejection_max_tries}
                if row.decoding is Decoding.REJECTION
                else {},
            )
        )
    return out
