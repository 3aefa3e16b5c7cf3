"""The widget's controls, declared once: each one sets a field of a config (:class:`BudgetPolicy`,
:class:`AdaptiveStop`, :class:`SamplingConfig`), whose help is its tooltip. The Jupyter widget
(:mod:`s1lib.widgets.jupyter`) and the marimo notebook (:func:`marimo_controls`) both build their elements from
:data:`CONTROLS`, and :func:`policy_from_controls` turns the values back into a policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from s1lib.forcing.adaptive import STRATEGIES, AdaptiveStop
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig

IGNORE_CHOICES: dict[str, list[str] | None] = {
    "Wait": ["Wait"],
    "Hmm": ["Hmm"],
    "Alternatively": ["Alternatively"],
    "none": None,
}
"""The ignore-string dropdown: what replaces a suppressed end of thinking (``none`` = no string, just continue)."""

ADAPTIVE_CHOICES = ("off", *STRATEGIES)
"""The adaptive-stop dropdown: no rule, or one of :data:`~s1lib.forcing.adaptive.STRATEGIES`."""

BUDGET = "budget"
"""A control's ``high`` that is the widget's ``max_budget`` (the thinking budget's slider range)."""


@dataclass(frozen=True)
class Control:
    """One control: the config field it sets, how it is shown (``kind``, range, label) and where it starts.

    ``kind`` ``fixed`` is a setting the caller passes but no element shows (the probe's shape, the answer cap)."""

    name: str
    config: type
    field: str
    label: str
    kind: Literal["int", "float", "choice", "switch", "fixed"]
    start: Any
    low: float = 0
    high: float | str = 0
    step: float = 1
    choices: tuple[str, ...] = ()

    @property
    def help(self) -> str:
        return self.config.__dataclass_fields__[self.field].metadata["help"]

    def bounds(self, max_budget: int, value: Any) -> tuple[float, float]:
        high = max_budget if self.high == BUDGET else self.high
        return self.low, max(high, value) if self.kind == "int" else high


DEER_LABEL, THINKING_T = "Also probe at the model's own Waits (DEER)", "Thinking temperature"
CONTROLS: tuple[Control, ...] = (
    Control("max_thinking_tokens", BudgetPolicy, "max_thinking_tokens", "Max thinking tokens", "int", 64, 0, BUDGET),
    Control("num_ignore", BudgetPolicy, "num_ignore", "Waits (num_ignore)", "int", 0, 0, 8),
    Control("min_thinking_tokens", BudgetPolicy, "min_thinking_tokens", "Min thinking tokens", "int", 0, 0, BUDGET),
    Control("ignore", BudgetPolicy, "ignore_strings", "Ignore string", "choice", "Wait", choices=tuple(IGNORE_CHOICES)),
    Control("adaptive", AdaptiveStop, "strategy", "Adaptive stop", "choice", "off", choices=ADAPTIVE_CHOICES),
    Control("probe_every", AdaptiveStop, "probe_every", "Probe every (tokens)", "int", 16, 1, 256),
    Control("agree", AdaptiveStop, "agree", "Agreeing probes", "int", 2, 1, 8),
    Control("threshold", AdaptiveStop, "threshold", "Confidence ≥", "float", 0.95, 0.5, 1.0, 0.01),
    Control("probe_transitions", AdaptiveStop, "probe_transitions", DEER_LABEL, "switch", False),
    Control("temperature_thinking", SamplingConfig, "temperature_thinking", THINKING_T, "float", 0.0, 0.0, 1.5, 0.05),
    Control("temperature", SamplingConfig, "temperature", "Answer temperature", "float", 0.0, 0.0, 1.5, 0.05),
    Control("max_answer_tokens", BudgetPolicy, "max_answer_tokens", "Max answer tokens", "fixed", 64),
    Control("probe_tokens", AdaptiveStop, "probe_tokens", "Probe tokens", "fixed", 20),
    Control("probe_opening", AdaptiveStop, "probe_opening", "Probe opening", "fixed", ""),
)
"""Every control, in the order the widget shows them (``fixed`` ones last: they show nothing)."""

BY_NAME = {c.name: c for c in CONTROLS}
SAMPLING = ("temperature", "temperature_thinking")
"""The controls that make the :class:`SamplingConfig`; every other one goes into the policy."""


def control_values(values: Mapping[str, Any], start: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every control's value: ``values`` by control name, else ``start``'s, else the control's own start. An unknown
    name is a TypeError listing the controls (a misspelt keyword would otherwise do nothing)."""
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise TypeError(f"unknown control(s) {unknown}; the controls are {', '.join(BY_NAME)}")
    return {c.name: values.get(c.name, (start or {}).get(c.name, c.start)) for c in CONTROLS}


def sampling_from_controls(
    temperature: float = 0.0, temperature_thinking: float = 0.0, seed: int = 0
) -> SamplingConfig:
    """The SamplingConfig of the widget's two temperature sliders: the thinking's and the answer's (both 0: greedy,
    the paper's setting). A seed makes a sampled run repeat when Run is pressed again."""
    return SamplingConfig(temperature=float(temperature), temperature_thinking=float(temperature_thinking), seed=seed)


def policy_from_controls(
    max_thinking_tokens: int, num_ignore: int = 0, ignore: str = "Wait", **values: Any
) -> BudgetPolicy:
    """The BudgetPolicy for the widget's control values (clamping min thinking to the cap instead of failing).

    ``values`` are the other policy controls by name (:data:`CONTROLS`): ``adaptive`` turns on a stop rule
    (:data:`ADAPTIVE_CHOICES`); ``probe_every`` and ``agree`` set probe_consistency, ``threshold`` and
    ``probe_transitions`` answer_confidence (which probes at suppressed ends, so it needs Waits, and with
    ``probe_transitions`` also where the model itself starts the ignore string); ``probe_tokens`` and
    ``probe_opening`` shape every probe. The temperature controls are taken and left to
    :func:`sampling_from_controls`, so one mapping of every control's value can be passed to both."""
    given = {"max_thinking_tokens": max_thinking_tokens, "num_ignore": num_ignore, "ignore": ignore, **values}
    v = control_values({k: x for k, x in given.items() if k not in SAMPLING})
    if v["ignore"] not in IGNORE_CHOICES:
        raise ValueError(f"ignore must be one of {list(IGNORE_CHOICES)}, got {v['ignore']!r}")
    if v["adaptive"] not in ADAPTIVE_CHOICES:
        raise ValueError(f"adaptive must be one of {list(ADAPTIVE_CHOICES)}, got {v['adaptive']!r}")
    cap = int(v["max_thinking_tokens"])
    rule = None
    if v["adaptive"] != "off":
        rule = AdaptiveStop(
            strategy=v["adaptive"], probe_every=int(v["probe_every"]), agree=int(v["agree"]),
            threshold=v["threshold"], probe_tokens=int(v["probe_tokens"]), probe_opening=v["probe_opening"],
            probe_transitions=bool(v["probe_transitions"]),
        )  # fmt: skip
    return BudgetPolicy(
        max_thinking_tokens=cap,
        num_ignore=int(v["num_ignore"]),
        min_thinking_tokens=min(int(v["min_thinking_tokens"]), cap),
        ignore_strings=IGNORE_CHOICES[v["ignore"]],
        max_answer_tokens=int(v["max_answer_tokens"]),
        adaptive=rule,
    )


def marimo_controls(mo: Any, max_budget: int = 256, **values: Any) -> Any:
    """marimo's elements for :data:`CONTROLS` (``mo`` is the marimo module) as one ``mo.ui.dictionary`` by control
    name (reactive as a whole), starting at ``values``; ``controls.value`` is every value by name."""
    start, elements = control_values(values), {}
    for c in CONTROLS:
        value = start[c.name]
        if c.kind in ("int", "float"):
            low, high = c.bounds(max_budget, value)
            elements[c.name] = mo.ui.slider(
                low, high, step=c.step, value=value, label=c.label, show_value=True,
                full_width=c.name == "max_thinking_tokens",
            )  # fmt: skip
        elif c.kind == "choice":
            elements[c.name] = mo.ui.dropdown(options=list(c.choices), value=value, label=c.label)
        elif c.kind == "switch":
            elements[c.name] = mo.ui.checkbox(value=value, label=c.label)
    return mo.ui.dictionary(elements)
