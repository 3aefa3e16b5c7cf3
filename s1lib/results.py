"""What every notebook stage ends with: one result object that owns its outputs, so the Jupyter and marimo twins end
in the same two lines::

    result.save(out)       # metrics.json and each figure as <name>.html in out
    print(result.table())  # the stage's numbers as text

A stage's result says :meth:`StageResult.metrics` (what ``metrics.json`` holds, which the batch report gathers),
:meth:`StageResult.figures` (plotly figures by name) and :meth:`StageResult.table` (text).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s1lib import viz


class StageResult:
    """The outputs of one stage; a subclass says its metrics, figures and table, and may add files to :meth:`save`."""

    def metrics(self) -> Any:
        """What ``metrics.json`` holds (JSON data)."""
        raise NotImplementedError

    def figures(self) -> dict[str, Any]:
        """Plotly figures by name (each saved as ``<name>.html``)."""
        return {}

    def table(self) -> str:
        """The stage's numbers as plain text."""
        raise NotImplementedError

    def save(self, out: str | Path) -> list[Path]:
        """Write ``metrics.json`` and every figure into ``out`` (made if missing); the paths written."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        metrics = folder / "metrics.json"
        metrics.write_text(json.dumps(self.metrics(), indent=1, default=str), encoding="utf-8")
        return [metrics, *(viz.save_figure(figure, folder / f"{name}.html") for name, figure in self.figures().items())]
