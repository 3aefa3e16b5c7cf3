"""``s1 batch``: grids of notebooks through papermill, with resume, failures, devices, submitit and the report.

The notebooks here are tiny (arithmetic, no model) so the tests exercise the grid machinery with the real
papermill, nbclient and ``s1`` kernel; the four real notebooks run as a grid in ``test_demo.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from s1lib.batch import GridError, LocalExecutor, SubmititExecutor, load_grid, read_status, run_grid

BODY = """\
import json, os, pathlib, time
time.sleep(sleep)
assert not fail, "asked to fail"
value = x {op}
out = pathlib.Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
(out / "metrics.json").write_text(json.dumps({{"value": value, "device": os.environ.get("CUDA_VISIBLE_DEVICES")}}))
"""


def write_notebook(path: Path, op: str) -> Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "s1", "display_name": "s1", "language": "python"}
    parameters = new_code_cell("output_dir = 'out'\nx = 2\nfail = False\nsleep = 0.0")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, new_code_cell(BODY.format(op=op))]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_notebook(tmp_path / "square.ipynb", "* x")
    write_notebook(tmp_path / "cube.ipynb", "** 3")
    return tmp_path


def write_grid(folder: Path, text: str, name: str = "grid.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


TWO_BY_TWO = """\
name: g
output_root: out
jobs:
  - notebooks: [square.ipynb, cube.ipynb]
    product: {x: [2, 3]}
"""


# ------------------------------------------------------------------------------------------ grid files (no kernel)
def test_product_cases_and_references_expand_into_runs(workdir: Path):
    grid = load_grid(
        write_grid(
            workdir,
            """\
defaults: {sleep: 0}
jobs:
  - id: base
    notebook: square.ipynb
  - id: sweep
    notebook: cube.ipynb
    parameters: {fail: false}
    product: {x: [1, 2]}
    cases: [{sleep: 0}, {sleep: 0.5}]
    after: [base]
profiles:
  small: {sweep: {fail: true}}
""",
        ),
        output_root=workdir / "out",
    )
    ids = [r.run_id for r in grid.runs]
    assert ids == ["base", "sweep--sleep=0,x=1", "sweep--sleep=0,x=2", "sweep--sleep=0.5,x=1", "sweep--sleep=0.5,x=2"]
    sweep = grid.get("sweep--sleep=0.5,x=2")
    assert sweep.after == ["base"] and sweep.parameters["x"] == 2 and sweep.parameters["sleep"] == 0.5
    assert sweep.parameters["output_dir"] == str(workdir / "out" / "grid" / sweep.run_id)
    small = load_grid(workdir / "grid.yaml", profile="small", output_root=workdir / "out")
    assert all(r.parameters["fail"] for r in small.runs if r.job == "sweep")
    assert small.get("sweep--sleep=0,x=1").parameters_hash != grid.get("sweep--sleep=0,x=1").parameters_hash


def test_run_reference_becomes_a_path_and_a_dependency(workdir: Path):
    grid = load_grid(
        write_grid(
            workdir,
            """\
jobs:
  - {id: first, notebook: square.ipynb}
  - {id: second, notebook: cube.ipynb, parameters: {output_dir: ignored}}
""",
        ),
        output_root=workdir / "out",
    )
    assert grid.get("second").after == []
    grid = load_grid(
        write_grid(
            workdir,
            """\
jobs:
  - {id: second, notebook: cube.ipynb, parameters: {x: 3}}
  - id: third
    notebook: square.ipynb
    parameters: {x: 1, fail: "{run:second}/metrics.json"}
""",
        ),
        output_root=workdir / "out",
    )
    third = grid.get("third")
    assert third.after == ["second"]
    assert third.parameters["fail"] == str(workdir / "out" / "grid" / "second" / "metrics.json")


BAD_GRIDS = [
    ("jobs: []", "'jobs' must be a non-empty list"),
    ("jobs: [{notebook: square.ipynb, colour: red}]", "unknown keys ['colour']"),
    ("jobs: [{notebook: missing.ipynb}]", "notebook 'missing.ipynb' not found"),
    ("jobs: [{notebook: square.ipynb, parameters: {y: 1}}]", "has no parameters ['y']"),
    ("jobs: [{notebook: square.ipynb, product: {x: []}}]", "product.x: expected a non-empty list"),
    ("jobs: [{notebook: square.ipynb, after: [nothing]}]", "'nothing' names no job or run"),
    ("jobs: [{id: a, notebook: square.ipynb, after: [b]}, {id: b, notebook: cube.ipynb, after: [a]}]", "cycle"),
    ("jobs: [{id: a, notebook: square.ipynb}, {id: a, notebook: cube.ipynb}]", "not unique"),
    (
        "jobs: [{id: a, notebook: square.ipynb, product: {x: [1, 2]}}, "
        "{id: b, notebook: cube.ipynb, parameters: {fail: '{run:a}'}}]",
        "is ambiguous",
    ),
    ("jobs: {a: 1}", "'jobs' must be a non-empty list"),
    ("jobs: [unclosed", "not valid YAML"),
    ("name: 'a b'\njobs: [{notebook: square.ipynb}]", "must be letters"),
]


@pytest.mark.parametrize(("text", "message"), BAD_GRIDS, ids=[m for _, m in BAD_GRIDS])
def test_bad_grid_files_name_the_file_and_the_field(workdir: Path, text: str, message: str):
    path = write_grid(workdir, text, "bad.yaml")
    with pytest.raises(GridError, match="bad.yaml") as error:
        load_grid(path, output_root=workdir / "out")
    assert message in str(error.value)


def test_unknown_profile_and_missing_file(workdir: Path):
    path = write_grid(workdir, TWO_BY_TWO)
    with pytest.raises(GridError, match="no profile 'fast'"):
        load_grid(path, profile="fast")
    with pytest.raises(GridError, match="grid file not found"):
        load_grid(workdir / "nope.yaml")


# ------------------------------------------------------------------------------------------------ executing grids
def test_two_notebooks_by_two_parameter_sets(workdir: Path):
    grid = load_grid(write_grid(workdir, TWO_BY_TWO), output_root=workdir / "out")
    result = run_grid(grid, LocalExecutor(workers=2, devices=[]))
    assert result.ok and sorted(result.executed) == sorted(r.run_id for r in grid.runs) and len(grid.runs) == 4
    values = {}
    for run in grid.runs:
        folder = grid.run_dir(run.run_id)
        executed = nbformat.read(folder / "notebook.ipynb", as_version=4)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
        values[run.run_id] = json.loads((folder / "metrics.json").read_text())["value"]
        assert read_status(folder)["status"] == "done"
    assert values == {"square--x=2": 4, "square--x=3": 9, "cube--x=2": 8, "cube--x=3": 27}
    summary = json.loads((grid.directory / "summary.json").read_text())
    assert {r["run_id"]: r["metrics"]["value"] for r in summary["rows"]} == values
    timings = json.loads((grid.directory / "timings.json").read_text())
    assert set(timings["stages"]) == set(values) and all(t > 0 for t in timings["stages"].values())
    assert "cube--x=3" in (grid.directory / "report.html").read_text()
    assert (grid.directory / "summary.csv").read_text().count("\n") == 5
    for run in grid.runs:  # the versions each run ran under, where it ran, and the report's
        versions = json.loads((grid.run_dir(run.run_id) / "run.json").read_text())["versions"]
        assert versions["torch"] and versions["transformers"] and versions["s1lib"]
    assert summary["versions"]["torch"] and all(r["versions"] for r in summary["rows"])
    assert "Software: " in (grid.directory / "report.html").read_text()

    again = run_grid(grid, LocalExecutor(workers=1, devices=[]))
    assert sorted(again.reused) == sorted(values) and again.executed == []


def test_failing_run_is_recorded_and_the_others_finish(workdir: Path):
    path = write_grid(
        workdir,
        """\
jobs:
  - {id: good, notebook: square.ipynb, product: {x: [2, 3]}}
  - {id: bad, notebook: cube.ipynb, parameters: {fail: true}}
  - {id: downstream, notebook: square.ipynb, after: [bad]}
""",
    )
    grid = load_grid(path, output_root=workdir / "out")
    result = run_grid(grid, LocalExecutor(workers=1, devices=[]))
    assert not result.ok
    assert result.counts() == {"done": 2, "failed": 1, "skipped": 1}
    bad = read_status(grid.run_dir("bad"))
    assert bad["error"]["ename"] == "AssertionError" and "asked to fail" in bad["error"]["evalue"]
    executed = nbformat.read(grid.run_dir("bad") / "notebook.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    assert read_status(grid.run_dir("downstream"))["error"]["ename"] == "DependencyFailed"
    assert not (grid.run_dir("downstream") / "notebook.ipynb").exists()
    assert "asked to fail" in (grid.directory / "report.html").read_text()

    # Retried on the next invocation (it fails again), in its folder: the same work resumes where it was;
    # --keep-failed leaves it alone.
    (grid.run_dir("bad") / "partial.jsonl").write_text("{}\n")
    retry = run_grid(grid, LocalExecutor(workers=1, devices=[]))
    assert (grid.run_dir("bad") / "partial.jsonl").exists()
    assert "bad" in retry.executed and read_status(grid.run_dir("bad"))["attempts"] == 2
    kept = run_grid(grid, LocalExecutor(workers=1, devices=[]), retry_failed=False)
    assert "bad" in kept.reused and read_status(grid.run_dir("bad"))["attempts"] == 2


def test_changed_parameters_rerun_the_run_and_what_depends_on_it(workdir: Path):
    text = """\
jobs:
  - {id: up, notebook: square.ipynb, parameters: {x: X}}
  - {id: down, notebook: cube.ipynb, after: [up]}
  - {id: other, notebook: cube.ipynb}
"""
    grid = load_grid(write_grid(workdir, text.replace("X", "2")), output_root=workdir / "out")
    run_grid(grid, LocalExecutor(workers=1, devices=[]))
    grid = load_grid(write_grid(workdir, text.replace("X", "5")), output_root=workdir / "out")
    result = run_grid(grid, LocalExecutor(workers=1, devices=[]))
    assert sorted(result.executed) == ["down", "up"] and result.reused == ["other"]
    assert json.loads((grid.run_dir("up") / "metrics.json").read_text())["value"] == 25


def test_an_edited_notebook_reruns_its_runs_and_what_depends_on_them(workdir: Path):
    """The same parameters but a changed cell: the finished run is stale (its outputs came from the old code)."""
    text = """\
jobs:
  - {id: up, notebook: square.ipynb, parameters: {x: 3}}
  - {id: down, notebook: cube.ipynb, after: [up]}
"""
    grid = load_grid(write_grid(workdir, text), output_root=workdir / "out")
    run_grid(grid, LocalExecutor(workers=1, devices=[]))
    square = workdir / "square.ipynb"
    nb = nbformat.read(square, as_version=4)
    nb.cells[0].metadata["collapsed"] = True  # metadata only: still current
    nbformat.write(nb, square)
    assert (
        run_grid(
            load_grid(workdir / "grid.yaml", output_root=workdir / "out"), LocalExecutor(workers=1, devices=[])
        ).executed
        == []
    )
    code = next(c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    code.source += "\n# edited"
    nbformat.write(nb, square)
    grid = load_grid(workdir / "grid.yaml", output_root=workdir / "out")
    for run_id in ("up", "down"):  # outputs of the old code (a sweep's samples): they must not be resumed from
        (grid.run_dir(run_id) / "samples.jsonl").write_text("{}\n")
    events = []
    result = run_grid(
        grid, LocalExecutor(workers=1, devices=[]), on_event=lambda kind, run_id, _: events.append((kind, run_id))
    )
    assert sorted(result.executed) == ["down", "up"] and result.reused == []
    assert {("cleared", "up"), ("cleared", "down")} <= set(events)  # down: what it read from up is stale too
    assert not any((grid.run_dir(r) / "samples.jsonl").exists() for r in ("up", "down"))
    assert read_status(grid.run_dir("down"))["status"] == "done"


def test_each_local_worker_owns_one_device(workdir: Path):
    grid = load_grid(
        write_grid(workdir, "jobs: [{notebook: square.ipynb, product: {x: [1, 2, 3, 4]}}]"),
        output_root=workdir / "out",
    )
    result = run_grid(grid, LocalExecutor(workers=2, devices=["3", "7"]))
    assert result.ok
    seen = [json.loads((grid.run_dir(r.run_id) / "metrics.json").read_text())["device"] for r in grid.runs]
    assert set(seen) <= {"3", "7"} and all(seen)
    assert [read_status(grid.run_dir(r.run_id))["device"] for r in grid.runs] == seen
    with pytest.raises(ValueError, match="one per worker"):
        LocalExecutor(workers=3, devices=["0", "1"])


def test_submitit_local_executor(workdir: Path):
    grid = load_grid(
        write_grid(
            workdir,
            """\
jobs:
  - {id: a, notebook: square.ipynb, parameters: {x: 4}}
  - {id: b, notebook: cube.ipynb, parameters: {fail: true}}
""",
        ),
        output_root=workdir / "out",
    )
    executor = SubmititExecutor(grid.directory / ".submitit", cluster="local")
    result = run_grid(grid, executor, poll_seconds=0.2)
    assert result.counts() == {"done": 1, "failed": 1}
    status = read_status(grid.run_dir("a"))
    assert status["executor"] == "submitit-local" and status["job_id"]
    assert json.loads((grid.run_dir("a") / "metrics.json").read_text())["value"] == 16
    assert read_status(grid.run_dir("b"))["error"]["ename"] == "AssertionError"
    assert list((grid.directory / ".submitit").iterdir()), "submitit keeps its job logs in the grid folder"
    # the job id is the submitter's file, never merged into status.json while the job writes it
    first_b = json.loads((grid.run_dir("b") / "job.json").read_text())["job_id"]
    assert read_status(grid.run_dir("b"))["job_id"] == first_b
    again = run_grid(grid, SubmititExecutor(grid.directory / ".submitit", cluster="local"), poll_seconds=0.2)
    assert again.counts() == {"done": 1, "failed": 1}  # a reused, b retried as a new job
    assert read_status(grid.run_dir("b"))["job_id"] != first_b
    assert read_status(grid.run_dir("a"))["job_id"] == status["job_id"]


def _s1(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "s1lib.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def test_killed_grid_resumes_without_redoing_finished_runs(workdir: Path):
    write_grid(
        workdir,
        """\
name: k
output_root: out
jobs:
  - {id: fast, notebook: square.ipynb, parameters: {x: 2}}
  - {id: slow, notebook: cube.ipynb, parameters: {x: 3, sleep: 600}, after: [fast]}
  - {id: last, notebook: square.ipynb, parameters: {x: 6}, after: [slow]}
profiles:
  resumed: {slow: {sleep: 0}}   # the restarted grid need not wait ten minutes
""",
    )
    grid_dir = workdir / "out" / "k"
    process = _s1("batch", "grid.yaml", cwd=workdir)
    deadline = time.time() + 120
    while time.time() < deadline:
        status = read_status(grid_dir / "slow")
        if status and status.get("status") == "running":
            break
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"the slow run never started: {process.communicate()[0][-2000:]}")
    os.killpg(process.pid, signal.SIGKILL)  # the whole grid dies: scheduler, worker and kernel
    process.wait()
    finished = read_status(grid_dir / "fast")
    assert finished["status"] == "done" and read_status(grid_dir / "slow")["status"] == "running"

    rerun = _s1("batch", "grid.yaml", "--profile", "resumed", "--name", "k", "--json", cwd=workdir)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output[-3000:]
    summary = json.loads(output[output.index("{\n") :])
    assert summary["reused"] == ["fast"] and sorted(summary["executed"]) == ["last", "slow"]
    assert read_status(grid_dir / "fast")["started"] == finished["started"]
    assert read_status(grid_dir / "slow")["attempts"] == 2
    assert json.loads((grid_dir / "last" / "metrics.json").read_text())["value"] == 36


def test_cli_dry_run_and_errors(workdir: Path):
    write_grid(workdir, TWO_BY_TWO)
    done = subprocess.run(
        [sys.executable, "-m", "s1lib.cli", "batch", "grid.yaml", "--dry-run"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert [r["run_id"] for r in plan["runs"]] == ["square--x=2", "square--x=3", "cube--x=2", "cube--x=3"]
    assert not (workdir / "out").exists(), "a dry run executes nothing"
    bad = subprocess.run(
        [sys.executable, "-m", "s1lib.cli", "batch", "grid.yaml", "--set", "y=1"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "has no parameters ['y']" in bad.stderr


# ------------------------------------------------------------------------------------------------ the shipped grids
GRIDS = sorted((Path(__file__).resolve().parents[2] / "env" / "batch").glob("*.yaml"))


def _profiles(path: Path) -> list[str | None]:
    import yaml

    return [None, *sorted(yaml.safe_load(path.read_text()).get("profiles") or {})]


@pytest.mark.parametrize(
    ("path", "profile"), [(p, profile) for p in GRIDS for profile in _profiles(p)], ids=lambda v: getattr(v, "stem", v)
)
def test_shipped_grids_plan_and_their_sweeps_validate(path: Path, profile: str | None, tmp_path: Path):
    """Every grid in env/batch loads, and every scaling run's parameters make a valid SweepConfig with settings."""
    from s1lib.eval.sweep import SweepConfig, build_settings

    grid = load_grid(path, profile=profile, output_root=tmp_path)
    assert grid.runs
    for run in grid.runs:
        if Path(run.notebook).name == "01_curation.ipynb":  # the curation settings a run would build
            from s1lib.curation import load_config

            p = dict(run.parameters)
            config = load_config(
                p.get("config_path"), toy_n=p.get("toy_n"), total=p.get("total"), tokenizer=p.get("tokenizer"),
                **p.get("curation_options", {}),
            )  # fmt: skip
            assert config.total == (p.get("total") or config.total)
        if Path(run.notebook).name != "04_test_time_scaling.ipynb":
            continue
        p = dict(run.parameters)
        data = p.get("data")
        config = SweepConfig(
            benchmark=p.get("benchmark", "aime24"),
            data=None if data in (None, "shared") or "{" in str(data) or str(tmp_path) in str(data) else data,
            model=p.get("model", "default"),
            caps=list(p.get("caps", [16])),
            fill_budget=p.get("fill_budget", True),
            waits=list(p.get("waits", [])),
            wait_cap=p.get("wait_cap"),
            baselines=list(p.get("baselines", [])),
            token_budgets=list(p.get("token_budgets", [32])),
            max_answer_tokens=p.get("max_answer_tokens"),
            limit=p.get("limit"),
            batch_size=p.get("batch_size", 8),
            output_dir=str(tmp_path / run.run_id),
            **p.get("sweep_options", {}),
        )
        assert build_settings(config), run.run_id


def test_s1_vs_limo_runs_each_model_in_its_own_format(tmp_path: Path):
    """s1 and s1.1 are budget-forced (auto cap, 0 and 2 Waits, greedy); LIMO answers plainly with its system prompt,
    unforced, and samples 16 at 0.7 only on AIME24."""
    from s1lib.eval.sweep import build_settings
    from s1lib.notebook_params import ScalingParams
    from s1lib.text_format import LIMO_SYSTEM_PROMPT

    grid = load_grid(Path(__file__).resolve().parents[2] / "env/batch/s1-vs-limo.yaml", output_root=tmp_path)
    seen = set()
    for run in grid.runs:
        p = dict(run.parameters)
        config = ScalingParams(**{**p, "data": None}).sweep_config()
        seen.add((config.model, config.benchmark))
        settings = build_settings(config)
        if run.job in ("s1", "s1.1"):
            assert [s.label for s in settings] == ["wait×0", "wait×2"] and config.system is None
            assert all(s.policy.thinking_phase and s.policy.max_thinking_tokens is None for s in settings)
            assert config.temperature == 0.0 and config.samples == 1
        else:
            [setting] = settings
            assert setting.policy.thinking_phase is False and config.system == LIMO_SYSTEM_PROMPT
            sampled = config.benchmark == "aime24"
            assert (config.samples, config.temperature) == ((16, 0.7) if sampled else (1, 0.0)), run.run_id
    models = ("simplescaling/s1-32B", "simplescaling/s1.1-32B", "GAIR/LIMO")
    assert seen == {(m, b) for m in models for b in ("aime24", "math500", "gpqa_diamond")}


def test_report_lists_each_settings_pass_at_1_and_votes(tmp_path: Path):
    from s1lib.batch.report import setting_metrics

    settings = [
        {"setting": "wait×0", "pass@1": 0.5},
        {"setting": "limo", "pass@1": 0.25, "maj@1": 0.25, "maj@16": 0.4, "cov@2": 0.5, "cov@16": 0.9},
    ]
    (tmp_path / "results.json").write_text(json.dumps({"settings": settings}))
    assert setting_metrics(tmp_path) == {
        "wait×0.pass@1": 0.5, "limo.pass@1": 0.25, "limo.maj@16": 0.4, "limo.cov@16": 0.9,
    }  # fmt: skip
    assert setting_metrics(tmp_path / "missing") == {}
