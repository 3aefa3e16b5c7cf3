"""A batch grid: which notebooks run with which parameters, and in what order.

A grid file (YAML or JSON) lists **jobs**; each job is one notebook (or several, ``notebooks: [...]``) and its
parameter sets, as a ``product`` (every combination), a list of ``cases``, or both (every case × every
combination). Each parameter set becomes one **run** with a stable id, executed into ``<output_root>/<grid>/<id>/``.

```yaml
name: caps                        # default: the file's stem
defaults: {model: default}        # parameters of every run (a job's own values win)
profiles: {quick: {scaling: {limit: 2}}}   # --profile quick: per-job overrides ('*' = every job), in caps-quick/
jobs:
  - id: scaling
    notebook: notebooks/04_test_time_scaling.ipynb
    parameters: {benchmark: aime24}
    product: {caps: [[16, 32], [64]], max_answer_tokens: [16, 32]}
    cases: [{limit: 2}, {limit: 4}]
    after: [curation]             # optional; '{run:ID}' references add dependencies too
```

String parameters may reference other runs: ``{run:ID}`` is that run's folder (and makes this run wait for it),
``{grid_dir}`` the grid's folder, ``{repo}`` the repository. Every run's ``output_dir`` is its own folder.
Parameters are checked against each notebook's ``parameters`` cell before anything runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s1lib.configfile import ConfigFileError, read_config

REPO = Path(__file__).resolve().parents[2]
RUN_REFERENCE = re.compile(r"\{run:([A-Za-z0-9_.=,+\-]+)\}")
_JOB_KEYS = {"id", "notebook", "notebooks", "parameters", "product", "cases", "after"}
_GRID_KEYS = {"name", "output_root", "kernel", "defaults", "profiles", "jobs", "description"}


class GridError(ValueError):
    """A grid file that cannot be run; the message names the file and the field."""


def notebook_source_digest(path: str | Path) -> str | None:
    """A digest of a notebook's cells (type and source; not outputs, ids or metadata), None when it cannot be read:
    what decides whether a finished run of it is still current."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    sources = [(cell.get("cell_type"), "".join(cell.get("source", ""))) for cell in cells if isinstance(cell, dict)]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()[:16]


@dataclass
class RunSpec:
    """One notebook execution: everything a worker needs, written to ``run.json`` in the run's folder."""

    run_id: str
    job: str
    notebook: str
    parameters: dict[str, Any]
    after: list[str] = field(default_factory=list)
    kernel: str | None = None
    cwd: str = "."

    @property
    def parameters_hash(self) -> str:
        """Identity of the work: a finished run is reused only if the notebook (its path and its cells' sources)
        and the parameters are unchanged, so an edited notebook runs again."""
        blob = json.dumps(
            {"notebook": self.notebook, "source": notebook_source_digest(self.notebook), "parameters": self.parameters},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "parameters_hash": self.parameters_hash}


@dataclass
class Grid:
    name: str
    runs: list[RunSpec]
    output_root: Path
    source: str = "<grid>"

    @property
    def directory(self) -> Path:
        return self.output_root / self.name

    def run_dir(self, run_id: str) -> Path:
        return self.directory / run_id

    def get(self, run_id: str) -> RunSpec:
        for run in self.runs:
            if run.run_id == run_id:
                return run
        raise KeyError(run_id)


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        return read_config(path, "grid", "a mapping with a 'jobs' list")
    except (ConfigFileError, FileNotFoundError) as error:
        raise GridError(str(error)) from error


def _slug(value: Any) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (list, dict)) else str(value)
    return re.sub(r"[^A-Za-z0-9_.+\-]+", "_", text).strip("_") or "_"


def _run_ids(job_id: str, parameter_sets: list[dict[str, Any]]) -> list[str]:
    """``job`` for a single run; otherwise ``job--k=v,k=v`` over the parameters that vary within the job."""
    if len(parameter_sets) == 1:
        return [job_id]
    keys = sorted({k for p in parameter_sets for k in p})
    varying = [k for k in keys if len({json.dumps(p.get(k), sort_keys=True, default=str) for p in parameter_sets}) > 1]
    ids = []
    for params in parameter_sets:
        label = ",".join(f"{k}={_slug(params.get(k))}" for k in varying)
        if len(label) > 80:
            digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
            label = f"{label[:70]}~{digest}"
        ids.append(f"{job_id}--{label}")
    return ids


def _parameter_sets(job: dict[str, Any], where: str) -> list[dict[str, Any]]:
    base = job.get("parameters") or {}
    product = job.get("product") or {}
    cases = job.get("cases")
    for name, value in (("parameters", base), ("product", product)):
        if not isinstance(value, dict):
            raise GridError(f"{where}.{name}: expected a mapping of parameter names, got {type(value).__name__}")
    for key, values in product.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{where}.product.{key}: expected a non-empty list of values, got {values!r}")
    if cases is None:
        cases = [{}]
    if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
        raise GridError(f"{where}.cases: expected a non-empty list of parameter mappings")
    combos = [dict(zip(product, values)) for values in itertools.product(*product.values())] or [{}]
    return [{**base, **case, **combo} for case in cases for combo in combos]


def _substitute(value: Any, runs_dir: dict[str, Path], grid_dir: Path) -> Any:
    if isinstance(value, str):
        value = RUN_REFERENCE.sub(lambda m: str(runs_dir[m.group(1)]), value)
        return value.replace("{grid_dir}", str(grid_dir)).replace("{repo}", str(REPO))
    if isinstance(value, list):
        return [_substitute(v, runs_dir, grid_dir) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, runs_dir, grid_dir) for k, v in value.items()}
    return value


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(RUN_REFERENCE.findall(value))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return _references(list(value.values()))
    return set()


def resolve_notebook(name: str, base: Path) -> Path:
    """A notebook path relative to the grid file, the current folder, or the repository."""
    for candidate in (base / name, Path(name), REPO / name):
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(name)


def notebook_parameters(path: Path) -> set[str]:
    """Names declared in the notebook's ``parameters`` cell (papermill's own inspection)."""
    import papermill

    return set(papermill.inspect_notebook(str(path)))


def load_grid(
    path: str | Path,
    profile: str | None = None,
    output_root: str | Path | None = None,
    name: str | None = None,
    overrides: dict[str, Any] | None = None,
    check_parameters: bool = True,
) -> Grid:
    """Read and validate a grid file into runs (nothing executes). ``overrides`` apply to every run."""
    source = Path(path)
    data = _load_mapping(source)
    unknown = sorted(set(data) - _GRID_KEYS)
    if unknown:
        raise GridError(f"{source}: unknown top-level keys {unknown}; expected some of {sorted(_GRID_KEYS)}")
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise GridError(f"{source}: 'jobs' must be a non-empty list")
    grid_name = name or data.get("name") or source.stem
    if profile and not name:
        grid_name = f"{grid_name}-{profile}"  # a profile's results never overwrite the full grid's
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(grid_name)):
        raise GridError(f"{source}: name {grid_name!r} must be letters, digits, '_', '.', '-' (it names a folder)")
    root = Path(output_root or data.get("output_root") or "runs").resolve()
    defaults = data.get("defaults") or {}
    profiles = data.get("profiles") or {}
    if profile is not None and profile not in profiles:
        raise GridError(f"{source}: no profile {profile!r}; known: {sorted(profiles)}")
    chosen = profiles.get(profile, {}) if profile else {}

    specs: list[tuple[dict[str, Any], list[dict[str, Any]], list[str]]] = []
    for index, job in enumerate(jobs):
        where = f"{source}: jobs[{index}]"
        if not isinstance(job, dict):
            raise GridError(f"{where}: expected a mapping with 'notebook' and parameters")
        bad = sorted(set(job) - _JOB_KEYS)
        if bad:
            raise GridError(f"{where}: unknown keys {bad}; expected some of {sorted(_JOB_KEYS)}")
        notebooks = job.get("notebooks") or ([job["notebook"]] if job.get("notebook") else [])
        if not notebooks or not all(isinstance(n, str) for n in notebooks):
            raise GridError(f"{where}: give 'notebook: PATH' or 'notebooks: [PATH, ...]'")
        for notebook in notebooks:
            job_id = str(job.get("id") or Path(notebook).stem)
            if len(notebooks) > 1:
                job_id = f"{job_id}-{Path(notebook).stem}" if job.get("id") else Path(notebook).stem
            profile_values = {**chosen.get("*", {}), **chosen.get(job_id, {}), **chosen.get(job.get("id"), {})}
            sets = [
                {**defaults, **params, **profile_values, **(overrides or {})}
                for params in _parameter_sets(job, f"{where} ({job_id})")
            ]
            after = job.get("after") or []
            if not isinstance(after, list):
                raise GridError(f"{where}.after: expected a list of run or job ids")
            specs.append(({"id": job_id, "notebook": notebook, "where": where}, sets, [str(a) for a in after]))

    unused = sorted(set(chosen) - {"*"} - {s[0]["id"] for s in specs} - {str(j.get("id")) for j in jobs})
    if unused:
        raise GridError(f"{source}: profile {profile!r} names unknown jobs {unused}")

    # Run ids first (references may point forward), then paths, dependencies and parameter checks.
    planned: list[tuple[dict[str, Any], str, dict[str, Any], list[str]]] = []
    for job, sets, after in specs:
        for run_id, params in zip(_run_ids(job["id"], sets), sets):
            planned.append((job, run_id, params, after))
    ids = [p[1] for p in planned]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise GridError(f"{source}: run ids {duplicates} are not unique; give the jobs distinct 'id's")
    by_job: dict[str, list[str]] = {}
    for job, run_id, _, _ in planned:
        by_job.setdefault(job["id"], []).append(run_id)
    grid_dir = root / str(grid_name)
    runs_dir = {run_id: grid_dir / run_id for run_id in ids}
    for job_id, run_ids in by_job.items():
        if len(run_ids) == 1:
            runs_dir.setdefault(job_id, grid_dir / run_ids[0])

    declared_cache: dict[Path, set[str]] = {}
    runs: list[RunSpec] = []
    for job, run_id, params, after in planned:
        where = f"{job['where']} ({run_id})"
        try:
            notebook = resolve_notebook(job["notebook"], source.parent)
        except FileNotFoundError:
            raise GridError(
                f"{where}: notebook {job['notebook']!r} not found (relative to the grid file, "
                f"the current folder or {REPO})"
            ) from None
        depends: list[str] = []
        for reference in [*after, *sorted(_references(params))]:
            if reference in by_job:
                depends.extend(by_job[reference])
            elif reference in runs_dir:
                depends.append(reference)
            else:
                raise GridError(f"{where}: '{reference}' names no job or run of this grid; known: {sorted(by_job)}")
            if reference == job["id"] or reference == run_id:
                raise GridError(f"{where}: a run cannot depend on itself ({reference!r})")
        for reference in _references(params):
            if reference in by_job and len(by_job[reference]) > 1:
                raise GridError(
                    f"{where}: '{{run:{reference}}}' is ambiguous: job {reference!r} has "
                    f"{len(by_job[reference])} runs; name one of {by_job[reference]}"
                )
        params = _substitute(params, runs_dir, grid_dir)
        if check_parameters:
            if notebook not in declared_cache:
                declared_cache[notebook] = notebook_parameters(notebook)
            declared = declared_cache[notebook]
            undeclared = sorted(set(params) - declared)
            if undeclared:
                raise GridError(
                    f"{where}: {notebook.name} has no parameters {undeclared}; "
                    f"its parameters cell declares {sorted(declared)}"
                )
            if "output_dir" in declared:
                params["output_dir"] = str(runs_dir[run_id])
        runs.append(
            RunSpec(run_id, job["id"], str(notebook), params, sorted(set(depends)), data.get("kernel"), str(Path.cwd()))
        )
    _check_acyclic(runs, source)
    return Grid(str(grid_name), runs, root, str(source))


def _check_acyclic(runs: list[RunSpec], source: Path) -> None:
    after = {r.run_id: set(r.after) for r in runs}
    done: set[str] = set()
    while after:
        ready = [r for r, deps in after.items() if deps <= done]
        if not ready:
            raise GridError(f"{source}: the dependencies between {sorted(after)} form a cycle")
        for run_id in ready:
            done.add(run_id)
            del after[run_id]
