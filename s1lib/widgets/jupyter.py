"""The Jupyter widget (ipywidgets): its controls built from :data:`~s1lib.widgets.controls.CONTROLS`, a question,
Run/Stop, and the live marked stream (:mod:`s1lib.widgets.view`, streamed by :mod:`s1lib.widgets.runner`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig
from s1lib.widgets.controls import CONTROLS, control_values, policy_from_controls, sampling_from_controls
from s1lib.widgets.runner import StreamRunner
from s1lib.widgets.view import StreamView, idle_html

if TYPE_CHECKING:
    from s1lib.forcing.engine import Engine

WIDGET_START = {"num_ignore": 1, "max_answer_tokens": 32}
"""Where the Jupyter widget's controls start when they differ from the controls' own start: one Wait, so the first
Run shows a forced one, and a short answer."""

CSS_CLASSES = {"max_thinking_tokens": "s1-budget", "num_ignore": "s1-num-ignore", "adaptive": "s1-adaptive"}
"""The classes a browser (and tests/widgets/test_browser.py) finds the controls by."""

ROWS = (("probe_every", "agree"), ("temperature_thinking", "temperature"))
"""Controls shown side by side."""


def ipywidget_controls(max_budget: int = 1024, **values: Any) -> dict[str, Any]:
    """ipywidgets elements for :data:`CONTROLS`, by control name, starting at ``values`` (else
    :data:`WIDGET_START`, else each control's start); each element's tooltip is its config field's help."""
    import ipywidgets as w

    start, elements = control_values(values, WIDGET_START), {}
    style, layout = {"description_width": "150px"}, {"width": "520px"}
    for c in CONTROLS:
        value, common = start[c.name], {"description": c.label, "tooltip": c.help, "style": style}
        if c.kind in ("int", "float"):
            low, high = c.bounds(max_budget, value)
            slider = w.IntSlider if c.kind == "int" else w.FloatSlider
            element = slider(value=value, min=low, max=high, step=c.step, layout=w.Layout(**layout), **common)
        elif c.kind == "choice":
            element = w.Dropdown(options=list(c.choices), value=value, **common)
        elif c.kind == "switch":
            element = w.Checkbox(value=value, **common)
        else:
            continue
        if c.name in CSS_CLASSES:
            element.add_class(CSS_CLASSES[c.name])
        elements[c.name] = element
    return elements


class BudgetForcingWidget:
    """The Jupyter widget: budget controls, an adaptive stop rule (off by default), a question, Run/Stop, and the
    live marked stream.

    ``values`` start the controls, by control name (:data:`~s1lib.widgets.controls.CONTROLS`:
    ``max_thinking_tokens=64``, ``adaptive="answer_confidence"``, ...); ``fixed`` ones (``max_answer_tokens``, the
    probe's shape) are kept as given. Display it with ``widget`` as a cell's last expression (or
    ``display(widget.box)``).
    """

    def __init__(
        self,
        engine: Engine,
        question: str = "How many r are in the word raspberry?",
        max_budget: int = 1024,
        min_interval: float = 0.05,
        **values: Any,
    ):
        import ipywidgets as w

        self.engine = engine
        self.fixed = {c.name: v for c, v in zip(CONTROLS, control_values(values, WIDGET_START).values(), strict=True)
                      if c.kind == "fixed"}  # fmt: skip
        self.controls = ipywidget_controls(max_budget, **values)
        vars(self).update(self.controls)  # widget.num_ignore, widget.agree, ...: each control by its name
        self.budget = self.controls["max_thinking_tokens"]
        self.question = w.Textarea(value=question, description="Question", layout=w.Layout(width="520px"))
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop")
        self.output = w.HTML(value=idle_html())
        for widget, cls in ((self.run_button, "s1-run"), (self.stop_button, "s1-stop"), (self.output, "s1-output")):
            widget.add_class(cls)
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.runner = StreamRunner(engine, self._update, min_interval)
        paired = {name for row in ROWS for name in row}
        rows: list[Any] = [self.question]
        for name, element in self.controls.items():
            row = next((r for r in ROWS if r[0] == name), None)
            if row:
                rows.append(w.HBox([self.controls[n] for n in row]))
            elif name not in paired:
                rows.append(element)
        self.box = w.VBox([*rows, w.HBox([self.run_button, self.stop_button]), self.output])

    def values(self) -> dict[str, Any]:
        """Every control's current value, by name (the fixed ones as given)."""
        return {**{name: element.value for name, element in self.controls.items()}, **self.fixed}

    def policy(self) -> BudgetPolicy:
        return policy_from_controls(**self.values())

    def sampling(self) -> SamplingConfig:
        values = self.values()
        return sampling_from_controls(values["temperature"], values["temperature_thinking"])

    def _update(self, view: StreamView) -> None:
        self.output.value = view.html()

    def run(self) -> StreamView:
        """Stop any running stream, then start one with the current controls (returns at once)."""
        try:
            policy = self.policy()
        except ValueError as exc:
            self.output.value = idle_html(str(exc))
            raise
        return self.runner.start(self.question.value, policy, self.sampling())

    def stop(self) -> None:
        self.runner.stop()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
