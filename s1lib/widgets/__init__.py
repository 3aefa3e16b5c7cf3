"""The live thinking-budget widget: watch budget forcing happen token by token.

Jupyter and marimo share everything but the elements: the controls, declared once as config fields
(:mod:`~s1lib.widgets.controls`), the rendering of a stream to HTML (:mod:`~s1lib.widgets.view`) and the background
runner (:mod:`~s1lib.widgets.runner`); :class:`BudgetForcingWidget` (:mod:`~s1lib.widgets.jupyter`) is the
ipywidgets front, the marimo notebook builds its elements with :func:`marimo_controls`. What a user feels (first
token latency, stream rate) is measured by ``s1 bench widget``.
"""

from s1lib.widgets.controls import (
    ADAPTIVE_CHOICES,
    CONTROLS,
    IGNORE_CHOICES,
    Control,
    marimo_controls,
    policy_from_controls,
    sampling_from_controls,
)
from s1lib.widgets.jupyter import BudgetForcingWidget, ipywidget_controls
from s1lib.widgets.runner import StreamRunner
from s1lib.widgets.view import (
    DEMO_QUESTION,
    FORCED_LABELS,
    STOP_MARK,
    SUPPRESSED_MARK,
    Segment,
    SegmentKind,
    StreamView,
    counter_text,
    idle_html,
    probe_badge,
    stop_title,
)

__all__ = [
    "ADAPTIVE_CHOICES",
    "CONTROLS",
    "DEMO_QUESTION",
    "FORCED_LABELS",
    "IGNORE_CHOICES",
    "STOP_MARK",
    "SUPPRESSED_MARK",
    "BudgetForcingWidget",
    "Control",
    "Segment",
    "SegmentKind",
    "StreamRunner",
    "StreamView",
    "counter_text",
    "idle_html",
    "ipywidget_controls",
    "marimo_controls",
    "policy_from_controls",
    "probe_badge",
    "sampling_from_controls",
    "stop_title",
]
