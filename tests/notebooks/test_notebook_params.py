"""The notebooks' parameter sets (``s1lib.notebook_params``): the Jupyter parameters cells' names and defaults,
filled from a marimo command line with type conversion and errors that name the argument."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import nbformat
import pytest

from s1lib.notebook_params import (
    NOTEBOOK_PARAMS,
    BudgetForcingParams,
    CurationParams,
    NotebookParamsError,
    ScalingParams,
    SFTParams,
)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def parameters_cell(name: str) -> dict[str, object]:
    """The names and literal values of a Jupyter notebook's ``parameters`` cell, in order."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body}


def defaults(params_type: type) -> dict[str, object]:
    return {f.name: getattr(params_type(), f.name) for f in dataclasses.fields(params_type)}


def test_every_notebook_has_a_parameter_set():
    assert sorted(NOTEBOOK_PARAMS) == sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert sorted(NOTEBOOK_PARAMS) == sorted(p.stem for p in (NOTEBOOKS / "marimo").glob("*.py"))


@pytest.mark.parametrize("name", sorted(NOTEBOOK_PARAMS))
def test_parameter_set_equals_the_jupyter_parameters_cell(name: str):
    """Same names, same order, same defaults: a marimo run without arguments is the papermill run's defaults."""
    cell = parameters_cell(name)
    params = defaults(NOTEBOOK_PARAMS[name])
    assert list(params) == list(cell)
    assert params == cell
    assert all(type(params[k]) is type(cell[k]) for k in cell), {k: (params[k], cell[k]) for k in cell}


@pytest.mark.parametrize("name", sorted(NOTEBOOK_PARAMS))
def test_marimo_notebook_reads_its_parameter_set(name: str):
    source = (NOTEBOOKS / "marimo" / f"{name}.py").read_text()
    assert f"{NOTEBOOK_PARAMS[name].__name__}.from_cli_args(mo.cli_args())" in source
    assert "args.get(" not in source  # no argument is parsed by hand


def test_demo_question_is_the_default_question():
    from s1lib.widgets import DEMO_QUESTION

    assert BudgetForcingParams().question == DEMO_QUESTION


def test_values_are_converted_to_each_field_type():
    """As marimo's ``mo.cli_args()`` hands them over: strings, numbers it parsed, lists for repeated flags."""
    params = BudgetForcingParams.from_cli_args(
        {"budgets": "4,8", "max-thinking-tokens": 8, "output_dir": "/tmp/out", "num-ignore": "2", "model": 7}
    )
    assert (params.budgets, params.max_thinking_tokens, params.output_dir) == ([4, 8], 8, "/tmp/out")
    assert (params.num_ignore, params.model, params.max_answer_tokens) == (2, "7", 12)
    assert BudgetForcingParams.from_cli_args({"budgets": 16}).budgets == [16]
    assert BudgetForcingParams.from_cli_args({"budgets": [8, 32]}).budgets == [8, 32]
    sft = SFTParams.from_cli_args({"eval-questions": '["What is 2, 3?", "Add: 1 2"]', "learning-rate": 1e-3})
    assert sft.eval_questions == ["What is 2, 3?", "Add: 1 2"] and sft.learning_rate == 1e-3
    assert SFTParams.from_cli_args({"eval-questions": ["a", "b"], "num-train-epochs": 2}).num_train_epochs == 2.0
    bf16 = [SFTParams.from_cli_args({"bf16": value}).bf16 for value in ("auto", True, "false", "yes")]
    assert bf16 == ["auto", True, False, True]
    scaling = ScalingParams.from_cli_args(
        {"fill-budget": "false", "baselines": "token_conditional", "sweep-options": '{"backend": "vllm"}'}
    )
    assert scaling.fill_budget is False and scaling.baselines == ["token_conditional"]
    assert scaling.sweep_options == {"backend": "vllm"}
    assert ScalingParams.from_cli_args({"fill-budget": ""}).fill_budget is True  # a flag without a value
    curation = CurationParams.from_cli_args({"toy-n": 150, "tokenizer": "estimate", "config-path": "none"})
    assert (curation.toy_n, curation.tokenizer, curation.config_path) == (150, "estimate", None)


def test_sft_parameters_are_the_cpu_demo_preset_with_them():
    """Both notebook 02s train from ``SFTParams.train_config``: the preset, these values, then marimo's slider."""
    from s1lib.train import TrainConfig

    params = SFTParams(output_dir="runs/x", data="sel.parquet", learning_rate=1e-4, global_batch_size=4)
    config = params.train_config(max_steps=7)
    preset = TrainConfig.from_preset("cpu-demo")
    assert (config.data, config.learning_rate, config.max_steps) == ("sel.parquet", 1e-4, 7)
    assert config.output_dir == str(Path("runs/x/model"))
    assert config.global_batch_size == config.per_device_batch_size == 4  # one packed batch per step
    assert (config.padding_free, config.keep_checkpoints, config.system_prompt) == (
        preset.padding_free, preset.keep_checkpoints, preset.system_prompt
    )  # fmt: skip
    with pytest.raises(ValueError, match="TrainConfig.learning_rate"):
        SFTParams(learning_rate=-1.0).train_config()


def test_marimo_cli_args_object_is_accepted():
    """marimo's CLIArgs is read through its ``to_dict``."""
    from marimo._runtime.params import CLIArgs

    assert BudgetForcingParams.from_cli_args(CLIArgs({"budgets": "4,8"})).budgets == [4, 8]


@pytest.mark.parametrize(
    ("params_type", "args", "message"),
    [
        (BudgetForcingParams, {"budget": "8"}, r"03_budget_forcing: unknown argument --budget; expected .*--budgets,"),
        (BudgetForcingParams, {"budgets": "8,a"}, r"--budgets expects a comma-separated list of integers, got '8,a'"),
        (BudgetForcingParams, {"num-ignore": 1.5}, r"--num-ignore expects an integer, got 1.5"),
        (BudgetForcingParams, {"max-answer-tokens": ""}, r"--max-answer-tokens expects an integer, got ''"),
        (BudgetForcingParams, {"model": ["a", "b"]}, r"--model expects a string"),
        (SFTParams, {"bf16": "maybe"}, r"02_sft: --bf16 expects 'auto' or true or false, got 'maybe'"),
        (CurationParams, {"toy-n": "many"}, r"--toy-n expects an integer or none, got 'many'"),
        (ScalingParams, {"sweep-options": "[1]"}, r"--sweep-options expects a JSON object"),
        (ScalingParams, {"fill-budget": "maybe"}, r"--fill-budget expects true or false"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(params_type, args, message):
    with pytest.raises(NotebookParamsError, match=message):
        params_type.from_cli_args(args)


def test_shared_benchmark_data(shared_data):
    """``shared`` is the workspace's benchmark data; the toy benchmark is generated when no file is given."""
    assert ScalingParams().benchmark_data() == str(shared_data)
    assert ScalingParams(benchmark="toy").benchmark_data() is None
    assert ScalingParams(benchmark="toy", data="/some/toy.jsonl").benchmark_data() == "/some/toy.jsonl"
    from s1lib.eval.sweep import load_problems

    fields = {"question_field": "problem", "answer_field": "answer", "kind": "math"}
    by_path = ScalingParams(benchmark=str(shared_data / "math500.jsonl"), sweep_options=fields, limit=2)
    assert by_path.benchmark_data() is None  # a file's path is the data itself
    assert [p.kind for p in load_problems(by_path.sweep_config())] == ["math", "math"]
