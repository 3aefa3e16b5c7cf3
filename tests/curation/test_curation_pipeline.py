"""End to end: the toy pool through every stage, funnel sums, noise removed where it belongs, parquet, resume, CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from s1lib.curation.answer_cache import AnswerCache
from s1lib.curation.config import CurationConfig
from s1lib.curation.difficulty import engine_attempt_fn, run_attempts
from s1lib.curation.funnel import Funnel, FunnelError
from s1lib.curation.grader import grade_text
from s1lib.curation.pipeline import run_curation
from s1lib.curation.schema import SourceSpec, load_source
from s1lib.curation.tokencount import trace_lengths
from s1lib.toy import parse_question, toy_benchmark, toy_pool, toy_solver

TOY = CurationConfig.from_file(Path(__file__).resolve().parents[2] / "env" / "curation" / "toy.yaml")


def _read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _config(tmp_path, **over) -> CurationConfig:
    cfg = CurationConfig.from_file("env/curation/toy.yaml")
    cfg.output_dir = str(tmp_path / "out")
    cfg.tokenizer = "estimate"
    cfg.progress = False
    cfg.write_figures = False
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toy")
    cfg = _config(tmp, write_figures=True)
    return cfg, run_curation(cfg)


def test_funnel_sums_and_every_stage_removes_something(toy_run):
    cfg, result = toy_run
    f = result.funnel.to_dict()
    assert f["input"] == cfg.toy["n"] and f["output"] == cfg.total == len(result.selected)
    assert f["input"] == f["output"] + sum(s["dropped"] for s in f["stages"])
    for s in f["stages"]:
        assert s["in"] - s["out"] == sum(s["reasons"].values())
        if s["stage"] != "load":
            assert s["dropped"] > 0, s
    missing = next(s for s in f["stages"] if s["stage"] == "missing")
    assert set(missing["reasons"]) == {"no_trace", "no_grade", "no_solution", "no_domain"}
    drops = _read_jsonl(result.paths["drops"])
    assert len(drops) == len({d["row_id"] for d in drops}) == f["input"] - f["output"]
    assert not {d["row_id"] for d in drops} & {r["row_id"] for r in result.selected}


def test_noise_leaves_at_its_stage(toy_run):
    _, result = toy_run
    pool = load_source(
        SourceSpec(str(result.paths["selected"]).replace("selected.parquet", "toy_pool.jsonl"), importer="toy")
    )
    noise = {r["row_id"]: json.loads(r["metadata"])["noise"] for r in pool}
    n_items = {r["row_id"]: json.loads(r["metadata"])["n_items"] for r in pool}
    drops = _read_jsonl(result.paths["drops"])
    by_stage: dict[str, list[dict]] = {}
    for d in drops:
        by_stage.setdefault(d["stage"], []).append(d)
    assert all(noise[d["row_id"]] == "benchmark_copy" for d in by_stage["decontaminate"])
    assert len(by_stage["decontaminate"]) == Counter(noise.values())["benchmark_copy"]
    assert len(by_stage["dedup"]) == Counter(noise.values())["duplicate"]
    for d in by_stage["missing"]:
        assert noise[d["row_id"]] == d["reason"]
    assert all(noise[d["row_id"]] == "format" for d in by_stage["format"])
    assert len(by_stage["format"]) == Counter(noise.values())["format"]
    solved = int(TOY.attempt_models[0].partition(":")[2])  # the simulated solver of env/curation/toy.yaml
    assert all(n_items[d["row_id"]] <= solved for d in by_stage["difficulty"])
    assert all(n_items[r["row_id"]] > solved for r in result.candidates)
    assert all(noise[r["row_id"]] in (None, "duplicate") for r in result.selected)  # a copy may precede its original


def test_outputs_load_with_datasets(toy_run, tmp_path):
    import datasets

    _, result = toy_run
    ds = datasets.Dataset.from_parquet(result.paths["selected"], cache_dir=str(tmp_path / "hf"))
    for col in (
        "solution",
        "question",
        "cot_type",
        "source_type",
        "metadata",
        "cot",
        "thinking_trajectories",
        "attempt",
        "domain",
        "trace_length",
    ):
        assert col in ds.column_names
    assert len(ds) == len(result.selected) and isinstance(ds[0]["thinking_trajectories"], list)
    assert ds[0]["cot"] is None and ds[0]["question"] == result.selected[0]["question"]
    ds2 = datasets.load_dataset(
        "parquet", data_files=result.paths["selected"], split="train", cache_dir=str(tmp_path / "hf2")
    )
    assert ds2["row_id"] == ds["row_id"]
    funnel = json.loads(Path(result.paths["funnel"]).read_text())
    assert funnel["output"] == len(ds) and funnel["config"]["seed"] == 42
    for name in ("funnel", "domains", "lengths"):
        assert "plotly" in Path(result.paths[f"figure_{name}"]).read_text()[:5000].lower()


def test_same_seed_same_set_and_resume_uses_cache(tmp_path):
    cfg = _config(tmp_path)
    first = run_curation(cfg)
    assert first.stats["attempts"]["calls"] > 0
    second = run_curation(cfg)  # same output dir: attempts come from the cache
    assert second.stats["attempts"]["calls"] == 0 and second.stats["attempts"]["cached"] > 0
    assert [r["row_id"] for r in first.selected] == [r["row_id"] for r in second.selected]
    other = run_curation(_config(tmp_path / "b", seed=7))
    assert [r["row_id"] for r in other.selected] != [r["row_id"] for r in first.selected]


def test_ablation_selectors_through_the_pipeline(tmp_path):
    sizes = {}
    for sel in ("random", "longest", "diverse", "full"):
        res = run_curation(_config(tmp_path / sel, selector=sel, total=50))
        res.funnel.check([r["row_id"] for r in res.selected])
        sizes[sel] = len(res.selected)
    assert sizes["random"] == sizes["longest"] == sizes["diverse"] == 50 and sizes["full"] > 50


def test_toy_benchmark_disjoint_and_gradable():
    bench = toy_benchmark(60, seed=5)
    pool = toy_pool(200, seed=3, benchmark=bench)
    clean = {r["question"] for r in pool if json.loads(r["metadata"])["noise"] != "benchmark_copy"}
    assert not clean & {b["question"] for b in bench}
    assert {b["kind"] for b in bench} == {"integer", "choice"}
    for b in bench:
        assert parse_question(b["question"])["answer"] == b["answer"]
    solved = [
        grade_text({"answer": b["answer"], "answer_kind": b["kind"]}, a)
        for b, a in zip(bench, toy_solver(100)([b["question"] for b in bench]))
    ]
    assert all(solved)
    traces = [r for r in pool if r["thinking_trajectories"] and "Wait" in r["thinking_trajectories"][0]]
    assert 0.05 < len(traces) / len(pool) < 0.2  # a minority re-checks (p_wait 0.04, caught slips 0.08 × 0.75)
    caught = [r for r in pool if json.loads(r["metadata"]).get("slip_caught")]
    assert caught and all(
        "I made a slip before" in r["thinking_trajectories"][0]
        for r in caught
        if json.loads(r["metadata"])["noise"] != "no_trace"
    )
    # the trace's attempt is right for every clean row whose slip was caught or absent
    ok = [grade_text(r, r["attempt"]) for r in pool if r["attempt"] and not json.loads(r["metadata"])["slip"]]
    assert all(ok)


def test_run_attempts_cache_and_adapter(tmp_path):
    recs = [
        {"row_id": str(i), "question": q, "answer": a, "answer_kind": "integer"}
        for i, (q, a) in enumerate([("Add: 1 2", "3"), ("Add: 1 2 3 4 5 6", "21")])
    ]
    cache = AnswerCache(tmp_path / "a.jsonl")
    kept, drops, _ = run_attempts(recs, {"solver": toy_solver(3)}, cache)
    assert [d.reason for d in drops] == ["solved_by:solver"] and kept[0]["row_id"] == "1"
    reloaded = AnswerCache(tmp_path / "a.jsonl")
    assert reloaded.get("solver", "Add: 1 2")["correct"] is True

    class FakeEngine:
        def prompt_for(self, q, policy=None):
            return f"<prompt>{q}"

        def generate(self, prompts, policy=None, sampling=None, *, batch_size=8):
            return [
                type("T", (), {"text": f"\\boxed{{{sum(int(x) for x in p.split(':')[1].split())}}}"})() for p in prompts
            ]

    kept, drops, _ = run_attempts(recs, {"engine": engine_attempt_fn(FakeEngine())})
    assert len(drops) == 2


def test_trace_lengths_with_real_tokenizer(smollm_tokenizer):
    texts = ["0 + 3 = 3\n3 + 5 = 8", "Wait, let me check it again."]
    assert trace_lengths(texts, smollm_tokenizer) == [len(smollm_tokenizer.encode(t)) for t in texts]


def test_funnel_rejects_lost_rows():
    f = Funnel(n_input=3)
    with pytest.raises(FunnelError):
        f.record("x", 3, 2, [])
    f.record("x", 3, 3, [])
    with pytest.raises(FunnelError):
        f.check([])


def test_cli_json(tmp_path, capsys):
    from s1lib.cli.curate import main

    cfg = _config(tmp_path)
    path = tmp_path / "c.json"
    data = {
        k: getattr(cfg, k)
        for k in (
            "toy",
            "tokenizer",
            "domain_classifier",
            "attempt_models",
            "aime_sources",
            "gpqa_sources",
            "math_sources",
            "math_min_length",
            "total",
            "uniform_until",
        )
    }
    data["write_figures"] = False
    path.write_text(json.dumps(data))
    assert main(["curate", str(path), "--json", "--output", str(tmp_path / "cli")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["funnel"]["output"] == 200 and out["paths"]["selected"].startswith(str(tmp_path / "cli"))
    with pytest.raises(ValueError, match="Unknown curation option"):
        CurationConfig.from_dict({"totl": 3})


def test_yaml_config_with_real_sources_relative_paths(tmp_path, shared_data):
    import shutil

    (tmp_path / "data").mkdir()
    shutil.copy(shared_data / "aime24.jsonl", tmp_path / "data" / "aime.jsonl")  # a temp copy, never in the repo
    (tmp_path / "cfg.yaml").write_text(
        "sources:\n  - {path: data/aime.jsonl, importer: aime}\n"
        f"benchmarks:\n  - {{name: math500, path: {shared_data / 'math500.jsonl'}, importer: math}}\n"
        "required_features: [no_solution]\ntokenizer: estimate\ngrade_traces: false\nwrite_figures: false\n"
        "progress: false\ntotal: 10\nuniform_until: 5\n"
        f"output_dir: {tmp_path / 'out'}\n"
    )
    cfg = CurationConfig.from_file(tmp_path / "cfg.yaml")
    assert cfg.sources[0]["path"] == str(tmp_path / "data" / "aime.jsonl")
    result = run_curation(cfg)
    assert len(result.selected) == 10 and result.funnel.n_input == 30
    assert all(r["domain"] for r in result.selected)  # classified offline (tfidf)


@pytest.mark.parametrize(
    "entry",
    ["vllm", "hf:", "toy-solver:x", "openai:localhost:8000|m", "openai:http://h/v1|", "qwen", 7],
)
def test_attempt_models_are_checked_when_the_config_loads(entry):
    with pytest.raises(ValueError, match="attempt_models.*toy-solver"):
        CurationConfig(attempt_models=[entry])


@pytest.mark.parametrize(
    ("option", "value"), [("attempt_max_tokens", 0), ("attempt_temperature", -1), ("attempt_engine_options", "tp=4")]
)
def test_attempt_options_are_checked(option, value):
    with pytest.raises(ValueError, match=option):
        CurationConfig(**{option: value})


@pytest.mark.model
def test_hf_attempt_model_answers_the_plain_chat_prompt(embedded_model):
    """``hf:<model>`` attempts are the reference's instruction-model attempts: the chat prompt with no thinking
    delimiter, answered directly, with the configured token limit (checked against a direct generation)."""
    from s1lib.backends.hf import HFEngine
    from s1lib.curation.pipeline import resolve_attempt_model
    from s1lib.forcing import BudgetPolicy
    from s1lib.text_format import chat_prefix

    questions = ["What is 7 + 5?", "Name a prime number larger than ten."]
    config = CurationConfig(attempt_max_tokens=24, attempt_temperature=0, attempt_engine_options={"dtype": "float32"})
    answers = resolve_attempt_model("hf:default", config)(questions)
    engine = HFEngine(*embedded_model)
    plain = [chat_prefix(engine.tokenizer, q) for q in questions]
    expected = engine.generate(plain, BudgetPolicy(thinking_phase=False, max_answer_tokens=24))
    assert answers == [t.text for t in expected]
    assert all(answers) and not any("<|im_start|>" in a for a in answers)


@pytest.mark.parametrize("path", sorted(Path("env/curation").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_check(path):
    """Every shipped config parses into valid settings (sources, benchmarks, grader, attempt models), offline."""
    from s1lib.curation.config import attempt_model_kind, parse_grader

    cfg = CurationConfig.from_file(path)
    for item in cfg.sources:
        SourceSpec.from_any(item)
    for item in cfg.benchmarks:  # each names its importer (generic only when said so)
        assert SourceSpec.from_any({"importer": "generic", **item}).importer != "generic" or "importer" in item
    parse_grader(cfg.grader)
    assert [attempt_model_kind(m) for m in cfg.attempt_models] or [attempt_model_kind(b.model) for b in cfg.bands()]
    assert cfg.ngram == 8 and cfg.total > 0
    if cfg.selector == "s1k":
        assert cfg.total >= cfg.uniform_until > 0


def test_paper_config_has_the_papers_settings():
    cfg = CurationConfig.from_file("env/curation/s1k-paper.yaml")
    assert (cfg.total, cfg.uniform_until, cfg.gpqa_scale, cfg.math_min_length, cfg.seed) == (1000, 700, 0.5, 5600, 42)
    assert (cfg.attempt_temperature, cfg.attempt_max_tokens) == (0.05, 32768)
    assert cfg.attempt_models == ["vllm:Qwen/Qwen2.5-7B-Instruct", "vllm:Qwen/Qwen2.5-32B-Instruct"]
    assert cfg.judge_for == "all" and cfg.domain_classifier == "llm" and cfg.tokenizer.startswith("Qwen/Qwen2.5")
    assert {b["name"] for b in cfg.benchmarks} == {"aime-validation", "math500", "gpqa-diamond"}


def test_runs_are_identical_across_processes_and_hash_seeds(tmp_path):
    """Two `s1 curate` processes with different PYTHONHASHSEED give the same funnel, reasons, drops and set."""
    import os
    import subprocess
    import sys

    import datasets
    import yaml

    config = yaml.safe_load(Path("env/curation/toy.yaml").read_text())
    config.update(tokenizer="estimate", write_figures=False, progress=False)
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(config))
    results = []
    for seed in (1, 2):
        out = tmp_path / f"run{seed}"
        subprocess.run(
            [sys.executable, "-m", "s1lib.cli", "curate", str(tmp_path / "toy.yaml"), "--output", str(out), "--json"],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            check=True,
            capture_output=True,
        )
        funnel = json.loads((out / "funnel.json").read_text())
        funnel["config"].pop("output_dir")
        for stage in funnel["stages"]:
            stage.pop("seconds")
        funnel["stats"].pop("annotate_seconds")
        selected = datasets.load_dataset("parquet", data_files=str(out / "selected.parquet"))["train"]["row_id"]
        results.append((json.dumps(funnel, sort_keys=False), (out / "drops.jsonl").read_text(), selected))
    assert results[0] == results[1] and len(results[0][2]) == config["total"]


def test_load_config_overrides_as_notebooks_pass_them(tmp_path):
    from s1lib.curation import load_config

    toy = load_config()
    assert (toy.toy["n"], toy.total, toy.uniform_until, toy.tokenizer) == (600, 200, 200, "default")
    same = load_config(None, toy_n=None, total=None, tokenizer=None)  # None keeps the config's value
    assert same == toy
    small = load_config(toy_n=150, total=40, tokenizer="estimate", seed=7)
    # total scales the uniform phase at the file's own share: all of it in the toy config, 70 % in the paper's
    assert (small.toy["n"], small.total, small.uniform_until, small.tokenizer, small.seed) == (
        150,
        40,
        40,
        "estimate",
        7,
    )
    assert small.toy["benchmark_n"] == toy.toy["benchmark_n"]
    # a toy override changes only the fields it names, with toy_n or without (the full profile passes both)
    rechecked = load_config(toy_n=150, toy={"p_wait": 1.0, "benchmark_n": 40})
    assert rechecked.toy == {**toy.toy, "n": 150, "p_wait": 1.0, "benchmark_n": 40}
    assert load_config(toy={"seed": 3}).toy == {**toy.toy, "seed": 3}
    with pytest.raises(ValueError, match="toy_n is 150 but the toy override's n is 1600"):
        load_config(toy_n=150, toy={"n": 1600})
    assert load_config(total=40, uniform_until=10).uniform_until == 10
    paper = load_config("env/curation/s1k-paper.yaml", total=500)
    assert (paper.total, paper.uniform_until, paper.toy) == (500, 350, None)
    with pytest.raises(ValueError, match="toy_n.*no toy pool"):
        load_config("env/curation/s1k-paper.yaml", toy_n=10)
    with pytest.raises(ValueError, match="Unknown curation option.*'totl'"):
        load_config(totl=3)
    with pytest.raises(ValueError, match="attempt_models"):
        load_config(attempt_models=["gpt"])
