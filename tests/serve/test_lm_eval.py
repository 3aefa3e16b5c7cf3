"""Upstream lm-eval on top of ``s1 serve``: the task writer, and the stock ``lm_eval`` CLI scoring the same items as
``s1 eval`` under the same budget-forcing policy (greedy, float32)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s1lib.serve.lm_eval_task import lm_eval_command, write_task

POLICY = {"max_thinking_tokens": 32, "max_answer_tokens": 32}
LIMIT = 20


def test_the_task_folder_holds_s1_evals_prompts_and_grades_as_it_does(shared_data, tmp_path, embedded_model):
    from lm_eval.tasks._yaml_loader import load_yaml

    from s1lib.backends.hf import HFEngine
    from s1lib.eval.benchmarks import load_benchmark

    task = write_task("math500", tmp_path, data=shared_data, limit=3, max_gen_toks=100)
    assert task["problems"] == 3 and task["task"] == "s1_math500"
    config = load_yaml(task["yaml"])  # lm-eval's own loader (it resolves the !function tag)
    assert config["generation_kwargs"]["max_gen_toks"] == 100 and callable(config["process_results"])
    rows = [json.loads(line) for line in Path(task["data"]).read_text().splitlines()]
    problems = load_benchmark("math500", shared_data, limit=3)
    engine = HFEngine(*embedded_model)
    assert [r["prompt"] for r in rows] == [engine.prompt_for(p.question) for p in problems]
    grade = config["process_results"]
    right = f"<|im_start|>think\nhm<|im_start|>answer\nFinal Answer: $\\boxed{{{problems[0].answer}}}$"
    assert grade(rows[0], [right]) == {"acc": 1.0}
    assert grade(rows[0], [right.replace(problems[0].answer, "17")]) == {"acc": 0.0}
    assert grade(rows[0], [""]) == {"acc": 0.0}


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.model
def test_lm_eval_through_s1_serve_scores_the_items_as_s1_eval(shared_data, default_model_dir, tmp_path):
    from s1lib.backends.vllm_request import served_xargs
    from s1lib.cli import main
    from s1lib.eval.grading import extract_answer
    from s1lib.forcing import BudgetPolicy
    from s1lib.openai_client import ApiClient
    from s1lib.serve.server import LocalServer

    task = write_task("math500", tmp_path / "task", data=shared_data, limit=LIMIT, max_gen_toks=80)
    server = LocalServer(
        default_model_dir, dtype="float32", max_model_len=1024, forcing=True, log_path=tmp_path / "serve.log"
    )
    with server:
        name = ApiClient(server.base_url).get("/v1/models")["data"][0]["id"]
        command = lm_eval_command(task, server.base_url, name, served_xargs(BudgetPolicy(**POLICY)))
        command[0] = str(Path(sys.executable).with_name("lm_eval"))
        command += ["--output_path", str(tmp_path / "lm"), "--log_samples"]
        env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    [samples_file] = (tmp_path / "lm").rglob("samples_s1_math500_*.jsonl")
    served = {s["doc"]["id"]: s for s in map(json.loads, samples_file.read_text().splitlines())}

    flags = ["--max-thinking-tokens", "32", "--max-answer-tokens", "32", "--dtype", "float32", "--no-progress"]
    args = ["eval", "math500", "--data", str(shared_data), "--limit", str(LIMIT), "--output", str(tmp_path / "s1")]
    assert main([*args, *flags]) == 0
    ours = {r["problem_id"]: r for r in map(json.loads, (tmp_path / "s1" / "samples.jsonl").read_text().splitlines())}

    assert sorted(served) == sorted(ours) and len(ours) == LIMIT
    for pid, record in ours.items():
        text = served[pid]["resps"][0][0]
        assert served[pid]["acc"] == float(record["correct"]), pid
        assert extract_answer(text, "s1") == record["extracted"], pid
        assert text == record["completion"].removeprefix("<|im_start|>think").removesuffix("<|im_end|>"), pid
    assert sum(r["thinking_end_reason"] == "cap" for r in ours.values()) > 0  # the policy did force
