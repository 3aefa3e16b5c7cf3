"""The settings of ``s1 bench adaptive`` (:class:`AdaptiveBenchConfig`, a YAML/JSON file through ``--config``) and
the goals it reports as met or not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.configfile import config_from_dict, read_config
from s1lib.forcing.adaptive import BOXED_OPENING as BOXED
from s1lib.forcing.adaptive import StopStrategy

GOALS = {"token_saving": 0.30, "wall_clock_ratio": 1.15}
BEST_DEFINITION = (
    "best = the most accurate adaptive setting (ties: fewer thinking tokens); its matched fixed budget = the smallest "
    "cap whose accuracy >= the adaptive accuracy - tolerance (else the most accurate cap, matched=false); "
    "token_saving = 1 - adaptive mean thinking tokens / matched mean thinking tokens"
)


def _default_rules() -> list[dict[str, Any]]:
    """Hand-picked rules, for comparison with the calibrated one. The demo model re-checks its last steps after its
    answer ("Wait, let me check.", 9 traces in 10), so it ends by itself after about 40-130 tokens: probes every
    8 or 16 tokens with 2 or 3 agreeing (Dynasor-CoT's 3), opened with ``\\boxed{`` (6 probe tokens hold ``88}``),
    and once without the opening (8 tokens hold `` \\boxed{88}``) to show what it changes: an opened probe always
    names a number, and this model's number mid-thinking is its running state (a partial sum, a count so far),
    which two probes in a row often share. DEER's confidence probes where the model starts its check, as DEER does
    at its transition points."""
    return [
        {"probe_every": 8, "agree": 2, "probe_tokens": 6, "probe_opening": BOXED},
        {"probe_every": 8, "agree": 3, "probe_tokens": 6, "probe_opening": BOXED},
        {"probe_every": 16, "agree": 2, "probe_tokens": 6, "probe_opening": BOXED},
        {"probe_every": 16, "agree": 3, "probe_tokens": 6, "probe_opening": BOXED},
        {"probe_every": 16, "agree": 2, "probe_tokens": 8},
        {"strategy": "answer_confidence", "threshold": 0.9, "probe_transitions": True, "probe_tokens": 6,
         "probe_opening": BOXED},
    ]  # fmt: skip


@dataclass
class AdaptiveBenchConfig:
    """What ``s1 bench adaptive`` measures. Defaults: the demo's model, its 100 held-out problems, caps 4 … 128."""

    model: str | None = field(
        default=None,
        metadata={"help": "Model folder (null = the demo's SFT'd model under demo_root, trained first if absent)."},
    )
    data: str | None = field(
        default=None,
        metadata={"help": "Toy benchmark file (null = the demo curation's toy_benchmark.jsonl, made with the model)."},
    )
    demo_root: str = field(default="runs", metadata={"help": "Where the demo's runs are (runs/demo/...)."})
    limit: int = field(default=100, metadata={"help": "Held-out problems evaluated (the demo's 100: all of them)."})
    caps: list[int] = field(
        default_factory=lambda: [4, 8, 16, 32, 48, 64, 96, 128],
        metadata={"help": "Fixed thinking caps (budget forcing, maximum), prefix-shared in the sweep."},
    )
    adaptive: list[dict[str, Any]] = field(
        default_factory=_default_rules,
        metadata={
            "help": "Adaptive rules, as SweepConfig.adaptive entries (AdaptiveStop fields plus num_ignore and "
            "min_thinking_tokens); each runs at every cap of adaptive_caps."
        },
    )
    adaptive_caps: list[int] | None = field(
        default=None, metadata={"help": "Caps of the adaptive rules (null = the largest fixed cap only)."}
    )
    max_answer_tokens: int = field(default=10, metadata={"help": "Answer tokens ('Answer: \\boxed{88}', as the demo)."})
    batch_size: int = field(default=100, metadata={"help": "Prompts decoded together in the sweep (100: one batch)."})
    tolerance: float = field(
        default=0.01, metadata={"help": "Accuracy a matched fixed budget may lack (0.01 = one point)."}
    )
    timing_problems: int = field(
        default=20, metadata={"help": "Problems of the one-row-at-a-time wall-clock comparison (0 = skip it)."}
    )
    timing_repeats: int = field(
        default=2,
        metadata={"help": "Interleaved repeats of each wall-clock comparison (alternating which runs first)."},
    )
    oracle_stride: int = field(
        default=4,
        metadata={"help": "Thinking tokens between the probed hindsight bound's probes (0 = skip it)."},
    )
    calibration_problems: int = field(
        default=200,
        metadata={
            "help": "Toy problems apart from the held-out ones on which the stop rule's setting is chosen (Learn "
            "Then Test, s1lib.eval.calibration); the headline is that setting on the held-out problems. 0 = no "
            "calibration: the headline is the best hand-picked rule, chosen on the reported problems."
        },
    )
    calibration_data: str | None = field(
        default=None,
        metadata={"help": "Toy benchmark file of calibration problems (null = drawn apart from the held-out ones)."},
    )
    calibration_strategy: StopStrategy = field(
        default=StopStrategy.ANSWER_CONFIDENCE,
        metadata={
            "help": "The rule calibrated: answer_confidence (DEER's threshold, probed where the model starts its "
            "check, as the demo) or probe_consistency (Dynasor-CoT: calibration_probe_every x calibration_agree)."
        },
    )
    calibration_threshold: list[float] = field(
        default_factory=lambda: [0.99, 0.95, 0.9, 0.8],
        metadata={"help": "answer_confidence: the calibration grid's thresholds, each in (0, 1]."},
    )
    calibration_probe_every: list[int] = field(
        default_factory=lambda: [8, 16],
        metadata={"help": "probe_consistency: the calibration grid's probe intervals (tokens)."},
    )
    calibration_agree: list[int] = field(
        default_factory=lambda: [2, 3, 4],
        metadata={"help": "probe_consistency: the calibration grid's numbers of agreeing probes."},
    )
    max_accuracy_drop: float = field(
        default=0.05,
        metadata={"help": "The target: harm rate (full budget right, early stop wrong) at most this, in (0, 1)."},
    )
    confidence: float = field(
        default=0.9, metadata={"help": "The target's confidence over the calibration draw, in (0, 1)."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Folder of the sweep's samples (null = a fresh temporary folder)."}
    )
    threads: int | None = field(default=None, metadata={"help": "torch threads (null = the machine's default)."})

    def __post_init__(self) -> None:
        for name in ("limit", "batch_size", "timing_repeats"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"AdaptiveBenchConfig.{name} must be a positive integer, got {value!r}")
        for name in ("timing_problems", "oracle_stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"AdaptiveBenchConfig.{name} must be an integer >= 0, got {value!r}")
        if not self.caps or not self.adaptive:
            raise ValueError("AdaptiveBenchConfig: caps and adaptive must both be non-empty (nothing to compare)")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"AdaptiveBenchConfig.tolerance must be in [0, 1), got {self.tolerance!r}")
        if not isinstance(self.calibration_problems, int) or self.calibration_problems < 0:
            raise ValueError(
                f"AdaptiveBenchConfig.calibration_problems must be an integer >= 0, got {self.calibration_problems!r}"
            )
        where = "AdaptiveBenchConfig.calibration_"
        self.calibration_strategy = StopStrategy.checked(self.calibration_strategy, f"{where}strategy")
        if self.calibration_problems:
            from s1lib.eval.calibrated_stop import check_grid

            self.target()
            check_grid(self.calibration_probe_every, self.calibration_agree, self.calibration_threshold,
                       lambda name: f"{where}{name}")  # fmt: skip

    def target(self) -> Any:
        """The calibration target (its errors name this config's fields)."""
        from s1lib.eval.calibration import CalibrationTarget

        try:
            return CalibrationTarget(self.max_accuracy_drop, self.confidence)
        except ValueError as exc:
            raise ValueError(str(exc).replace("CalibrationTarget.", "AdaptiveBenchConfig.")) from None

    def calibration_grid(self) -> list[dict[str, Any]]:
        """The settings calibrated (:func:`s1lib.eval.calibrated_stop.grid_rules`)."""
        from s1lib.eval.calibrated_stop import grid_rules

        return grid_rules(self.calibration_strategy, self.calibration_probe_every, self.calibration_agree,
                          self.calibration_threshold, self.max_answer_tokens)  # fmt: skip

    @classmethod
    def from_file(cls, path: str | Path) -> AdaptiveBenchConfig:
        return config_from_dict(cls, read_config(path, "bench config"), str(path))
