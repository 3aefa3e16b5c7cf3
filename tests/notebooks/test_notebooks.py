"""Every Jupyter notebook runs under papermill (kernel ``s1``) with tiny parameters and writes its outputs.

The tiny random model stands in for the embedded one: these tests check the notebooks' plumbing, not the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def tiny_parameters(name: str, model: str, shared_data: Path) -> dict:
    return {
        "01_curation": {"toy_n": 150, "total": 40, "tokenizer": "estimate"},
        "02_sft": {
            "model": model,
            "toy_examples": 8,
            "max_steps": 2,
            "block_size": 256,
            "eval_questions": ["What is 2 + 3?"],
            "max_thinking_tokens": 8,
        },
        "03_budget_forcing": {"model": model, "max_thinking_tokens": 8, "max_answer_tokens": 4, "budgets": [4, 8]},
        "04_test_time_scaling": {
            "model": model,
            "data": str(shared_data),
            "caps": [4, 8],
            "waits": [0, 1],
            "wait_cap": 8,
            "max_answer_tokens": 4,
            "limit": 1,
        },
        "05_adaptive_budget": {
            "model": model,
            "budgets": [4, 8],
            "adaptive": TINY_ADAPTIVE,
            "max_answer_tokens": 3,
            "limit": 2,
            "batch_size": 2,
        },
    }[name]


TINY_ADAPTIVE = [
    {"probe_every": 2, "agree": 1, "probe_tokens": 3},
    {"strategy": "answer_confidence", "threshold": 0.5, "num_ignore": 1, "probe_tokens": 3},
]
"""Both rules, probing often and cheaply, so the tiny model's few thinking tokens see probes."""


EXPECTED = {
    "01_curation": [
        "selected.parquet",
        "funnel.json",
        "funnel.html",
        "domains.html",
        "metrics.json",
        "limo/selected.parquet",
        "selection_comparison.json",
    ],
    "02_sft": ["metrics.json", "loss_curve.html", "samples.json", "model/config.json"],
    "03_budget_forcing": ["traces.json", "metrics.json", "forced_insertions.html", "thinking_vs_budget.html"],
    "04_test_time_scaling": [
        "samples.jsonl",
        "results.json",
        "metrics.json",
        "scaling_curve.html",
        "scaling_summary.json",
    ],
    "05_adaptive_budget": ["samples.jsonl", "results.json", "metrics.json", "pareto.json", "pareto.html"],
}


def test_widget_question_is_the_same_in_jupyter_and_marimo():
    """Notebook 03's default question is the one the demo's model answers wrongly at 8 tokens and rightly at 64."""
    from s1lib.widgets import DEMO_QUESTION

    nb = nbformat.read(NOTEBOOKS / "03_budget_forcing.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert f"question = {DEMO_QUESTION!r}".replace("'", '"') in source
    assert "DEMO_QUESTION" in (NOTEBOOKS / "marimo" / "03_budget_forcing.py").read_text()
    demo = (NOTEBOOKS.parent / "env" / "batch" / "demo.yaml").read_text()
    assert f'question: "{DEMO_QUESTION}"' in demo


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_is_thin_and_parameterized(path: Path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "s1"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "output_dir" in tagged[0].source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    assert any(c.cell_type == "markdown" for c in nb.cells)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path: Path):
    """A parameter papermill cannot parse (e.g. a second '=' in its comment) could not be set by a grid."""
    import papermill

    nb = nbformat.read(path, as_version=4)
    source = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = {line.split("=", 1)[0].strip() for line in source.splitlines() if re.match(r"^\w+ *=", line)}
    assert set(papermill.inspect_notebook(str(path))) == assigned


def test_every_notebook_has_its_percent_source():
    """Each .ipynb is generated from notebooks/<name>.py (jupytext percent), and each source has its .ipynb."""
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(p.stem for p in NOTEBOOKS.glob("0*.py"))


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_is_in_sync_with_its_source(path: Path):
    """The committed .ipynb has exactly the cells of its source (no hand edit drifts away): `make notebooks`."""
    import jupytext

    source = jupytext.read(path.with_suffix(".py"))
    nb = nbformat.read(path, as_version=4)

    def cells(notebook) -> list[tuple[str, str, dict]]:
        return [(c.cell_type, c.source, dict(c.metadata)) for c in notebook.cells]

    assert cells(nb) == cells(source), f"{path.name} differs from {path.stem}.py: run `make notebooks`"
    assert nb.metadata.kernelspec == source.metadata.kernelspec
    assert nb.metadata.jupytext.formats == "ipynb,py:percent"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_notebook_executes_with_papermill(name: str, tmp_path: Path, tiny_model_dir: Path, shared_data: Path):
    import papermill

    out = tmp_path / "out"
    parameters = {"output_dir": str(out), **tiny_parameters(name, str(tiny_model_dir), shared_data)}
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(tmp_path / f"{name}.out.ipynb"),
        parameters=parameters,
        kernel_name="s1",
        cwd=str(tmp_path),
        progress_bar=False,
        execution_timeout=600,
    )
    for relative in EXPECTED[name]:
        assert (out / relative).exists(), f"{name} did not write {relative}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics
    if name == "03_budget_forcing":
        assert metrics["control"] == 1.0 and metrics["thinking_tokens"] == {"4": 4, "8": 8}
        executed = nbformat.read(tmp_path / f"{name}.out.ipynb", as_version=4)
        widget_outputs = [o for c in executed.cells for o in c.get("outputs", []) if "data" in o]
        assert any("application/vnd.jupyter.widget-view+json" in o["data"] for o in widget_outputs)
    if name == "05_adaptive_budget":  # every rule at every budget, its probe tokens reported apart
        rows = json.loads((out / "pareto.json").read_text())
        assert len(rows) == 2 + 2 * 2 and all(r["compute_tokens"] >= r["thinking_tokens"] for r in rows)
        assert any(r["probe_tokens"] > 0 for r in rows if "agree" in r["setting"])
