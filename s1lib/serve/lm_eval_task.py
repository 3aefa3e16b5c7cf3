"""Upstream lm-evaluation-harness on top of ``s1 serve``: a local lm-eval task over one of our benchmarks.

The reference vendored a fork of lm-eval 0.4 to get budget-forced evaluation. Here the stock ``lm_eval`` CLI does
it: its ``local-completions`` model sends each prompt to ``s1 serve``, and the policy travels in the generation
arguments (``--gen_kwargs '{"vllm_xargs": {"max_thinking_tokens": 8000}}'``, which lm-eval copies into every
request). :func:`write_task` writes a task folder for ``--include_path``: the problems as JSONL with the prompt
``s1 eval`` would send (rendered with the model's own chat template and system line, so both runs score the same
token ids), a task YAML, and ``utils.py``, whose ``process_results`` grades with :func:`s1lib.eval.grading.grade`
(the same extraction and math-verify as ``s1 eval``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s1lib.eval.benchmarks import Problem, load_benchmark
from s1lib.models import SourceKind, load_tokenizer, resolve_model
from s1lib.text_format import build_prompt, get_delimiters, load_prompt_format

UTILS = '''"""Grading for an s1 lm-eval task (written by s1lib.serve.lm_eval_task): the same as ``s1 eval``."""

from s1lib.eval.benchmarks import Problem
from s1lib.eval.grading import grade


def process_results(doc, results):
    problem = Problem(doc["id"], "", doc["answer"], doc["kind"], doc["benchmark"])
    delimiters = doc["delimiters"]
    verdict = grade(problem, results[0], tuple(delimiters) if isinstance(delimiters, list) else delimiters)
    return {"acc": float(verdict.correct)}
'''


def task_name(benchmark: str) -> str:
    return f"s1_{benchmark}"


def task_yaml(name: str, data_file: Path, think_end: str, eos: str, max_gen_toks: int) -> str:
    """The lm-eval task config. Greedy by default; ``until`` is the end of the turn; special tokens are kept in
    the text, so the grader finds the end-of-thinking delimiter."""
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file.resolve())}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{answer}}",
        "process_results": "!function utils.process_results",
        "generation_kwargs": {
            "until": [eos],
            "max_gen_toks": max_gen_toks,
            "temperature": 0.0,
            "skip_special_tokens": False,
        },
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0, "think_end": think_end},
    }
    text = json.dumps(config, indent=2)  # JSON is YAML; the one tag lm-eval needs is written unquoted
    return text.replace('"!function utils.process_results"', "!function utils.process_results") + "\n"


def write_task(
    benchmark: str,
    out_dir: str | Path,
    model: str = "default",
    data: str | Path | None = None,
    limit: int | None = None,
    delimiters: str | tuple[str, str] = "s1",
    max_gen_toks: int = 32768,
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``out_dir/<task>.yaml``, ``<task>.jsonl`` and ``utils.py`` for ``lm_eval --include_path out_dir``.

    ``model`` gives the chat template and system line of the prompts (the model ``s1 serve`` serves); ``data``
    and ``limit`` select the problems as in ``s1 eval``. Returns the task name, its files and the problem count.
    """
    problems: list[Problem] = load_benchmark(benchmark, data, limit=limit, seed=seed)
    tokenizer = load_tokenizer(model)
    source = resolve_model(model)  # the system line a model trained here records (as HFEngine.from_name reads it)
    system = load_prompt_format(source.path if source.kind != SourceKind.HUB else None).get("system")
    delims = get_delimiters(delimiters)
    name = task_name(benchmark)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_file = out / f"{name}.jsonl"
    with data_file.open("w", encoding="utf-8") as fh:
        for problem in problems:
            row = {
                "id": problem.id,
                "prompt": build_prompt(tokenizer, problem.question, delims, system=system),
                "answer": problem.answer,
                "kind": problem.kind,
                "benchmark": problem.benchmark,
                "delimiters": delimiters if isinstance(delimiters, str) else list(delimiters),
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    eos = tokenizer.eos_token or "<|im_end|>"
    yaml_file = out / f"{name}.yaml"
    yaml_file.write_text(task_yaml(name, data_file, delims.think_end, eos, max_gen_toks))
    (out / "utils.py").write_text(UTILS)
    return {"task": name, "yaml": str(yaml_file), "data": str(data_file), "problems": len(problems)}


def lm_eval_command(
    task: dict[str, Any], base_url: str, model_name: str, policy_xargs: dict[str, Any], concurrent: int = 8
) -> list[str]:
    """The ``lm_eval`` command that runs ``task`` against ``s1 serve`` at ``base_url`` (without ``/v1``) with a
    policy (``served_xargs(policy)``), ``concurrent`` requests at a time (the server batches them)."""
    gen_kwargs = json.dumps({"vllm_xargs": policy_xargs}, separators=(",", ":"))
    model_args = (
        f"model={model_name},base_url={base_url}/v1/completions,num_concurrent={concurrent},"
        "tokenized_requests=False,tokenizer_backend=None"
    )
    return [
        "lm_eval", "--model", "local-completions", "--model_args", model_args, "--tasks", task["task"],
        "--include_path", str(Path(task["yaml"]).parent), "--gen_kwargs", gen_kwargs,
    ]  # fmt: skip
