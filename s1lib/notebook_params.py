"""Each notebook's parameters as one typed dataclass, with the names and defaults of its Jupyter ``parameters`` cell.

The Jupyter notebooks keep a plain literal ``parameters`` cell, because papermill injects its overrides after that
cell; the marimo notebooks read the same parameters from their command line (``--max-thinking-tokens 8``, dashes or
underscores) through :meth:`NotebookParams.from_cli_args`, which converts each value to the field's type and names an
unknown or ill-typed argument. A test keeps every dataclass equal to its notebook's parameters cell.
"""

from __future__ import annotations

import copy
import json
import shlex
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from s1lib.configfile import coerce, describe
from s1lib.curation.config import CurationConfig
from s1lib.eval.sweep_config import SweepConfig
from s1lib.forcing.adaptive import BOXED_OPENING, StopStrategy
from s1lib.forcing.policy import BudgetPolicy
from s1lib.paths import data_dir
from s1lib.train.config import TrainConfig

ParamsT = TypeVar("ParamsT", bound="NotebookParams")


def flag_value(value: Any) -> str:
    """``value`` as a shell gives it to :meth:`NotebookParams.from_cli_args`: lists comma-separated (JSON where an
    item is a mapping or holds a comma or a space), mappings as JSON, None as ``none``, quoted for the shell."""
    if value is None:
        text = "none"
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, dict):
        text = json.dumps(value)
    elif isinstance(value, list):
        plain = all(isinstance(v, (int, float, str)) and not any(c in str(v) for c in ", ") for v in value)
        text = ",".join(str(v) for v in value) if plain and value else json.dumps(value)
    else:
        text = str(value)
    return shlex.quote(text)


class NotebookParamsError(ValueError):
    """A command-line argument the notebook does not have, or whose value does not fit its type."""


@dataclass
class NotebookParams:
    """Base of the notebooks' parameter sets; ``NOTEBOOK`` is the notebook's name (``03_budget_forcing``)."""

    NOTEBOOK: ClassVar[str] = ""
    CONFIGS: ClassVar[tuple[type, ...]] = ()
    """The stage's configs: a parameter named like one of their fields sets that field (its help is the field's)."""
    OWN: ClassVar[dict[str, str]] = {}
    """The notebook's own parameters, which no config holds, each with what it is."""
    NOTES: ClassVar[dict[str, str]] = {}
    """What a config field's help does not say about the notebook's use of it (a value only the notebook knows)."""

    @classmethod
    def config_field(cls, name: str) -> tuple[type, str] | None:
        """The config field a parameter sets, or None for one of :attr:`OWN`."""
        return next(((c, name) for c in cls.CONFIGS if name in {f.name for f in fields(c)}), None)

    def config_values(self, config: type) -> dict[str, Any]:
        """The parameters that set fields of ``config``, by field name (copies: a config never shares a list)."""
        return {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in fields(self)
            if self.config_field(f.name) == (config, f.name)
        }

    @classmethod
    def help(cls) -> dict[str, str]:
        """Each parameter's help: its config field's, or what :attr:`OWN` says."""
        found = {}
        for f in fields(cls):
            source = cls.config_field(f.name)
            found[f.name] = (
                cls.OWN[f.name] if source is None else source[0].__dataclass_fields__[f.name].metadata["help"]
            ) + (f" ({cls.NOTES[f.name]})" if f.name in cls.NOTES else "")
        return found

    def usage(self) -> str:
        """The parameters as Markdown, for a marimo notebook to show: each one's flag, the value in effect and its
        help, so that no notebook's prose repeats them (or drifts from them)."""
        notebook = f"{self.NOTEBOOK}.py"
        lines = [
            f"Parameters (the Jupyter notebook's `parameters` cell): `python {notebook} --name VALUE` as a script, "
            f"`marimo run {notebook} -- --name VALUE` as an app.",
            "",
        ]
        for name, text in self.help().items():
            lines.append(f"- `--{name.replace('_', '-')} {flag_value(getattr(self, name))}`: {text}")
        return "\n".join(lines)

    @classmethod
    def from_cli_args(cls: type[ParamsT], args: Mapping[str, Any]) -> ParamsT:
        """The parameters from ``mo.cli_args()`` (or any mapping of ``name -> value``); the rest keep their defaults.

        Lists are comma-separated (``--budgets 8,16,32``), a JSON list, or the flag repeated; mappings are JSON
        objects; ``none`` sets an optional parameter to None.
        """
        values = args.to_dict() if hasattr(args, "to_dict") else dict(args)  # marimo's CLIArgs is no Mapping
        hints = typing.get_type_hints(cls)
        names = [f.name for f in fields(cls)]
        chosen = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in names:
                expected = ", ".join(f"--{n.replace('_', '-')}" for n in names)
                raise NotebookParamsError(f"{cls.NOTEBOOK}: unknown argument --{key}; expected one of {expected}")
            try:
                chosen[name] = coerce(value, hints[name])
            except (TypeError, ValueError) as error:
                raise NotebookParamsError(
                    f"{cls.NOTEBOOK}: --{key} expects {describe(hints[name])}, got {value!r} ({error})"
                ) from None
        return cls(**chosen)

    @classmethod
    def from_namespace(cls: type[ParamsT], namespace: Mapping[str, Any]) -> ParamsT:
        """The parameters as a Jupyter notebook holds them after its ``parameters`` cell (and papermill's
        injected one): ``Params.from_namespace(globals())``; names the dataclass does not have are ignored."""
        return cls(**{f.name: namespace[f.name] for f in fields(cls) if f.name in namespace})


@dataclass
class CurationParams(NotebookParams):
    """notebooks/01_curation: None keeps the curation config's value; ``limo_config_path`` (relative to the repository)
    runs LIMO's recipe on the same pool for the side-by-side comparison (None skips it)."""

    NOTEBOOK: ClassVar[str] = "01_curation"
    CONFIGS: ClassVar[tuple[type, ...]] = (CurationConfig,)
    OWN: ClassVar[dict[str, str]] = {
        "config_path": "the curation config the notebook starts from (None: the toy pool's)",
        "toy_n": "the toy pool's size (CurationConfig.toy's n)",
        "curation_options": "any other CurationConfig field, by name",
        "limo_config_path": "LIMO's curation config, run on the same pool for the comparison (None skips it)",
    }

    output_dir: str = "runs/notebooks/01_curation"
    config_path: str | None = None
    toy_n: int | None = None
    total: int | None = None
    tokenizer: str | None = None
    curation_options: dict[str, Any] = field(default_factory=dict)
    limo_config_path: str | None = "env/curation/limo-toy.yaml"


@dataclass
class SFTParams(NotebookParams):
    """notebooks/02_sft."""

    NOTEBOOK: ClassVar[str] = "02_sft"
    CONFIGS: ClassVar[tuple[type, ...]] = (
        TrainConfig,
        BudgetPolicy,
    )
    OWN: ClassVar[dict[str, str]] = {
        "eval_questions": "questions the trained model answers at the end, at max_thinking_tokens",
    }

    output_dir: str = "runs/notebooks/02_sft"
    model: str = "default"
    data: str = "toy"
    toy_examples: int = 32
    max_steps: int = 20
    num_train_epochs: float = 1.0
    learning_rate: float = 3e-4
    global_batch_size: int = 8
    block_size: int = 512
    eval_questions: list[str] = field(default_factory=lambda: ["What is 23 + 45?", "What is 12 * 11?"])
    max_thinking_tokens: int = 64
    bf16: Literal["auto"] | bool = "auto"

    def train_config(self, **overrides: Any) -> Any:
        """The :class:`~s1lib.train.TrainConfig` these parameters describe: the ``cpu-demo`` preset with them (one
        packed batch per step, the final model in ``output_dir/model``); ``overrides`` win (marimo's slider)."""
        values = {
            **self.config_values(TrainConfig),
            "per_device_batch_size": self.global_batch_size,
            "output_dir": str(Path(self.output_dir) / "model"),
        }
        return TrainConfig.from_preset("cpu-demo", **{**values, **overrides})


@dataclass
class BudgetForcingParams(NotebookParams):
    """notebooks/03_budget_forcing (``question`` is ``s1lib.widgets.DEMO_QUESTION``)."""

    NOTEBOOK: ClassVar[str] = "03_budget_forcing"
    CONFIGS: ClassVar[tuple[type, ...]] = (
        BudgetPolicy,
        SweepConfig,
    )
    OWN: ClassVar[dict[str, str]] = {
        "question": "the question the widget and the budget comparison answer",
        "budgets": "the caps the budget comparison runs (SweepConfig.caps)",
        "dtype": "the engine's precision: auto (this device's fastest), float32 or bfloat16",
    }

    output_dir: str = "runs/notebooks/03_budget_forcing"
    model: str = "default"
    question: str = "Largest of: 47 83 12 95 38"
    max_thinking_tokens: int = 8
    num_ignore: int = 0
    max_answer_tokens: int = 12
    budgets: list[int] = field(default_factory=lambda: [8, 16, 32, 64])
    dtype: str = "auto"
    device: str = "auto"


@dataclass
class ScalingParams(NotebookParams):
    """notebooks/04_test_time_scaling."""

    NOTEBOOK: ClassVar[str] = "04_test_time_scaling"
    CONFIGS: ClassVar[tuple[type, ...]] = (SweepConfig,)
    OWN: ClassVar[dict[str, str]] = {
        "dtype": "the engine's precision: auto (this device's fastest), float32 or bfloat16",
        "sweep_options": "any other SweepConfig field, by name",
    }

    output_dir: str = "runs/notebooks/04_test_time_scaling"
    model: str = "default"
    benchmark: str = "aime24"
    data: str | None = "shared"
    caps: list[int] = field(default_factory=lambda: [16, 32, 64])
    fill_budget: bool = True
    waits: list[int] = field(default_factory=lambda: [0, 1, 2])
    wait_cap: int = 64
    baselines: list[str] = field(default_factory=list)
    token_budgets: list[int] = field(default_factory=lambda: [32, 64])
    max_answer_tokens: int = 24
    limit: int = 3
    batch_size: int = 8
    dtype: str = "auto"
    device: str = "auto"
    sweep_options: dict[str, Any] = field(default_factory=dict)

    def benchmark_data(self) -> str | None:
        """``data`` as the sweep takes it: ``shared`` is the workspace's benchmark data, except for ``toy``,
        whose held-out set is generated when no file is given, and a benchmark given as a file's path (its fields
        named in ``sweep_options``: question_field, answer_field, kind)."""
        from s1lib.eval.benchmarks import BENCHMARKS

        if self.data != "shared":
            return self.data
        return None if self.benchmark == "toy" or self.benchmark not in BENCHMARKS else str(data_dir())

    def sweep_config(self, **overrides: Any) -> Any:
        """The :class:`~s1lib.eval.sweep_config.SweepConfig` these parameters describe (``sweep_options`` holds any
        other SweepConfig field; ``dtype`` goes to the engine); ``overrides`` win (marimo's slider)."""
        engine_options = {"dtype": self.dtype, **self.sweep_options.get("engine_options", {})}
        values = {**self.config_values(SweepConfig), "data": self.benchmark_data()}
        return SweepConfig(**{**values, **self.sweep_options, "engine_options": engine_options, **overrides})


_BOXED_PROBE = {"probe_tokens": 6, "probe_opening": BOXED_OPENING}
"""Probes opened with Dynasor's ``\\boxed{``: 6 tokens hold ``88}``."""


@dataclass
class AdaptiveParams(NotebookParams):
    """notebooks/05_adaptive_budget: ``model="demo"`` is the model ``make demo`` fine-tuned when it exists, else the
    embedded one (:func:`s1lib.eval.pareto.resolve_model`); each ``adaptive`` rule runs at every budget."""

    NOTEBOOK: ClassVar[str] = "05_adaptive_budget"
    CONFIGS: ClassVar[tuple[type, ...]] = (SweepConfig,)
    OWN: ClassVar[dict[str, str]] = {
        "budgets": "the fixed caps the adaptive rules are compared against (SweepConfig.caps)",
        "dtype": "the engine's precision: auto (this device's fastest), float32 or bfloat16",
        "sweep_options": "any other SweepConfig field, by name",
    }
    NOTES: ClassVar[dict[str, str]] = {
        "model": "here also 'demo': the model `make demo` fine-tuned, if there is one, else the embedded model",
    }

    output_dir: str = "runs/notebooks/05_adaptive_budget"
    model: str = "demo"
    benchmark: str = "toy"
    data: str | None = None
    limit: int = 40
    budgets: list[int] = field(default_factory=lambda: [8, 16, 32, 64])
    adaptive: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"strategy": "probe_consistency", "probe_every": 16, "agree": 3, **_BOXED_PROBE},
            {"strategy": "answer_confidence", "threshold": 0.9, "num_ignore": 2, **_BOXED_PROBE},
        ]
    )
    max_answer_tokens: int = 10
    batch_size: int = 40
    dtype: str = "auto"
    device: str = "auto"
    sweep_options: dict[str, Any] = field(default_factory=dict)

    def sweep_config(self, **overrides: Any) -> Any:
        """The :class:`~s1lib.eval.sweep_config.SweepConfig`: the budgets as caps, the rules as ``adaptive``, the
        model resolved (``sweep_options`` holds any other SweepConfig field; ``overrides`` win)."""
        from s1lib.eval.pareto import resolve_model

        engine_options = {"dtype": self.dtype, **self.sweep_options.get("engine_options", {})}
        values = {**self.config_values(SweepConfig), "model": resolve_model(self.model), "caps": list(self.budgets)}
        return SweepConfig(**{**values, **self.sweep_options, "engine_options": engine_options, **overrides})

    def live_controls(self, strategy: str = "probe_consistency") -> dict[str, Any]:
        """The live widget's rule controls (``policy_from_controls`` / ``BudgetForcingWidget`` keywords) from the
        first ``adaptive`` rule of ``strategy``, so the stream shows the rule the sweep measured."""
        from s1lib.forcing.adaptive import AdaptiveStop

        rule = next((r for r in self.adaptive if r.get("strategy", "probe_consistency") == strategy), {})
        stop = AdaptiveStop(**{k: v for k, v in rule.items() if k not in ("num_ignore", "min_thinking_tokens")})
        # the rule's num_ignore, as the sweep ran it; else 0, or 2 Waits where confidence probes only at suppressed ends
        needs_waits = strategy == StopStrategy.ANSWER_CONFIDENCE and not stop.probe_transitions
        waits = rule.get("num_ignore", 2 if needs_waits else 0)
        return {
            "adaptive": strategy,
            "probe_every": stop.probe_every,
            "agree": stop.agree,
            "threshold": stop.threshold,
            "num_ignore": waits,
            "probe_tokens": stop.probe_tokens,
            "probe_opening": stop.probe_opening,
            "probe_transitions": stop.probe_transitions,
        }


NOTEBOOK_PARAMS: dict[str, type[NotebookParams]] = {
    p.NOTEBOOK: p for p in (CurationParams, SFTParams, BudgetForcingParams, ScalingParams, AdaptiveParams)
}
"""Each notebook's parameter set, by notebook name."""
