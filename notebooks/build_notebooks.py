"""Writes the four Jupyter notebooks from the cell sources below: ``python notebooks/build_notebooks.py``.

The .ipynb files are committed; this script keeps them thin and consistent (kernel ``s1``, one cell tagged
``parameters`` with CPU-sized defaults for papermill, every output written under ``output_dir``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import json
from pathlib import Path

import s1lib
from s1lib import viz

REPO = Path(list(s1lib.__path__)[0]).resolve().parent  # the repository (s1lib is installed editable)
out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)"""

NOTEBOOKS: dict[str, list[tuple[str, str] | tuple[str, str, list[str]]]] = {
    "01_curation.ipynb": [
        (
            "md",
            """\
# 1 · Curation: from a question pool to an s1K-style set

The paper builds **s1K** (1,000 questions with reasoning traces) from a pool of 59K in three steps, each a
filter on a property of the question: **quality** (drop rows with missing traces or formatting problems),
**difficulty** (drop questions that Qwen2.5-7B or -32B already solves, and prefer long reasoning traces), and
**diversity** (sample uniformly over domains, then follow the AIME/GPQA domain mix). Here the same pipeline runs
on a generated *toy pool* with a simulated attempt model, in seconds on a CPU; every dropped row is accounted for
in the funnel, with its reason.""",
        ),
        (
            "code",
            """\
# Parameters (papermill overrides these); None keeps the config's value.
output_dir = "runs/notebooks/01_curation"
config_path = None  # a curation YAML; None: env/curation/toy.yaml (CPU); env/curation/s1k-paper.yaml: the paper
toy_n = None  # questions in the toy pool (toy configs only; toy.yaml: 600)
total = None  # size of the selected set (toy.yaml: 200; the paper: 1,000)
tokenizer = None  # trace lengths: a model name (exact counts), or "estimate" (about 1 % off, no model)
curation_options = {}  # any other CurationConfig field, e.g. {"attempt_models": ["hf:default"]}""",
            ["parameters"],
        ),
        ("code", SETUP),
        (
            "code",
            """\
from s1lib.curation import load_config, run_curation

config = load_config(
    config_path, toy_n=toy_n, total=total, tokenizer=tokenizer, output_dir=str(out), progress=False, **curation_options
)
result = run_curation(config)  # writes selected.parquet, funnel.json, drops.jsonl and the figures to output_dir
print(result.funnel.table())""",
        ),
        (
            "md",
            """\
The funnel: rows kept after each stage. *Decontaminate* drops near-copies of the held-out benchmark (8-gram
overlap), *missing*/*format* are the quality filters, *difficulty* drops what the attempt model solves, and
*select* is the diversity sampler.""",
        ),
        (
            "code",
            """\
(out / "metrics.json").write_text(json.dumps(result.metrics(), indent=1))
for figure in result.figures().values():  # the funnel, the selected set's domains and trace lengths
    figure.show()""",
        ),
    ],
    "02_sft.ipynb": [
        (
            "md",
            """\
# 2 · SFT: teach a model the s1 format

s1-32B is Qwen2.5-32B-Instruct fine-tuned on s1K for 5 epochs (lr 1e-5, cosine, batch 16, loss on the
thinking and answer only). The model learns to write `<|im_start|>think` … reasoning … `<|im_start|>answer`,
which is what budget forcing later controls. Here the embedded SmolLM2-135M trains for a few steps on
synthetic s1-format records (or on the selected set from notebook 1), with the same recipe scaled down
(`cpu-demo` preset).""",
        ),
        (
            "code",
            """\
# Parameters (papermill overrides these).
output_dir = "runs/notebooks/02_sft"
model = "default"  # 'default' (embedded SmolLM2-135M) or a model folder
data = "toy"  # 'toy' (synthetic s1-format records) or e.g. runs/notebooks/01_curation/selected.parquet
toy_examples = 32
max_steps = 20  # -1: train for num_train_epochs
num_train_epochs = 1.0
learning_rate = 3e-4
global_batch_size = 8
block_size = 512
eval_questions = ["What is 23 + 45?", "What is 12 * 11?"]
max_thinking_tokens = 64
bf16 = "auto"  # bf16 autocast where this machine runs it fast (measured), else float32; or True / False""",
            ["parameters"],
        ),
        ("code", SETUP),
        (
            "code",
            """\
from s1lib.train import TrainConfig, run_training

config = TrainConfig.from_preset(
    "cpu-demo", model=model, data=data, toy_examples=toy_examples, max_steps=max_steps,
    num_train_epochs=num_train_epochs, learning_rate=learning_rate, global_batch_size=global_batch_size,
    per_device_batch_size=global_batch_size, block_size=block_size, bf16=bf16, output_dir=str(out / "model"),
)
result = run_training(config)  # prints "SFT step k/n · loss · tokens/s · ETA" as it goes
print(f"{result.global_step} steps, final loss {result.final_loss}")""",
        ),
        (
            "code",
            """\
loss_fig = viz.loss_curve(result.rows)
viz.save_figure(loss_fig, out / "loss_curve.html")
(out / "metrics.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
loss_fig.show()""",
        ),
        (
            "md",
            """\
The fine-tuned model under budget forcing: forced insertions are marked `⟦WAIT⟧`, `⟦END⟧`,
`⟦FINAL ANSWER⟧`.""",
        ),
        (
            "code",
            """\
from s1lib.demo import render_marked
from s1lib.forcing import BudgetPolicy
from s1lib.forcing.hf import HFEngine

engine = HFEngine.from_name(result.model_dir)
policy = BudgetPolicy(max_thinking_tokens=max_thinking_tokens, max_answer_tokens=32)
traces = engine.generate([engine.prompt_for(q, policy) for q in eval_questions], policy)
samples = []
for question, trace in zip(eval_questions, traces):
    print(f"Q: {question}\\n{render_marked(trace, engine.tokenizer).strip()}\\n")
    samples.append({"question": question, **trace.to_dict()})
(out / "samples.json").write_text(json.dumps(samples, indent=1))""",
        ),
    ],
    "03_budget_forcing.ipynb": [
        (
            "md",
            """\
# 3 · Budget forcing

The paper's method controls how long a model thinks, at test time, with no training:
- **maximum**: once the thinking reaches the budget, force the end-of-thinking delimiter and `Final Answer:`;
- **minimum**: when the model tries to stop thinking too early, suppress the delimiter and append **"Wait"**, so it
  keeps reasoning (often re-checking its answer).

The widget below streams a generation token by token; forced "Wait"s, forced ends and "Final Answer:" are
highlighted as they happen, and the counter shows thinking tokens against the budget. Move the sliders and press
**Run** (a running generation is stopped first; **Stop** interrupts it).

The default question is a toy problem for the model fine-tuned in notebook 2 (the demo passes it in as `model`).
At 8 thinking tokens the running maximum has read only the first number when the cap forces the answer, and the
answer is wrong (47, or none); from about 32 tokens on it has read all five and answers 95. So dragging the budget
slider from 8 to 64 changes the answer. (The untrained default model does not know the procedure.)""",
        ),
        (
            "code",
            """\
# Parameters (papermill overrides these).
output_dir = "runs/notebooks/03_budget_forcing"
model = "default"
question = "Largest of: 47 83 12 95 38"  # wrong at 8 thinking tokens, right from ~32, for the notebook-2 model
max_thinking_tokens = 8
num_ignore = 0
max_answer_tokens = 12
budgets = [8, 16, 32, 64]  # the non-interactive comparison below
dtype = "auto"  # the fastest precision on this machine (measured), or "float32" or "bfloat16\"""",
            ["parameters"],
        ),
        ("code", SETUP),
        (
            "code",
            """\
from s1lib.forcing.hf import HFEngine
from s1lib.widgets import BudgetForcingWidget

engine = HFEngine.from_name(model, dtype=dtype)
widget = BudgetForcingWidget(
    engine, question=question, max_thinking_tokens=max_thinking_tokens, max_budget=max(256, max(budgets)),
    num_ignore=num_ignore, max_answer_tokens=max_answer_tokens,
)
widget""",
        ),
        (
            "md",
            """\
The same question at several budgets, each with `num_ignore` suppressed ends: thinking stops exactly at the cap
(Control = 100%), and every trace gets an answer.""",
        ),
        (
            "code",
            """\
from s1lib.demo import render_marked
from s1lib.forcing import BudgetPolicy

from s1lib.eval.grading import extract_answer

rows = []
for budget in budgets:
    policy = BudgetPolicy(max_thinking_tokens=budget, num_ignore=num_ignore, max_answer_tokens=max_answer_tokens)
    trace = engine.generate([engine.prompt_for(question, policy)], policy)[0]
    answer = extract_answer(trace.text)
    print(f"--- cap {budget}: {trace.thinking_tokens} thinking tokens, answer {answer}")
    print(render_marked(trace, engine.tokenizer))
    rows.append({"budget": budget, "answer": answer, **trace.to_dict()})
counts = {f"cap {r['budget']}": {k: sum(f["kind"] == k for f in r["forced"]) for k in ("wait", "end", "final_answer")}
          for r in rows}
insertions_fig = viz.forced_insertion_counts(counts)
lengths_fig = viz.scaling_curve({"thinking tokens": [(r["budget"], r["thinking_tokens"]) for r in rows]},
                                title="Thinking tokens vs budget", percent=False)
lengths_fig.update_xaxes(title="Budget (max thinking tokens)")
lengths_fig.update_yaxes(title="Thinking tokens used")
viz.save_figure(insertions_fig, out / "forced_insertions.html")
viz.save_figure(lengths_fig, out / "thinking_vs_budget.html")
(out / "traces.json").write_text(json.dumps(rows, indent=1))
(out / "metrics.json").write_text(json.dumps(
    {"control": sum(r["thinking_tokens"] <= r["budget"] for r in rows) / len(rows),
     "thinking_tokens": {r["budget"]: r["thinking_tokens"] for r in rows},
     "answers": {r["budget"]: r["answer"] for r in rows}}, indent=1))
insertions_fig.show()
lengths_fig.show()""",
        ),
    ],
    "04_test_time_scaling.ipynb": [
        (
            "md",
            """\
# 4 · Test-time scaling

The paper's Figure 1: accuracy rises with thinking tokens under budget forcing, both by capping (fewer tokens)
and by forcing "Wait" (more tokens). Table 3 scores a method by **Control** (share of runs inside the budget),
**Scaling** (slope of accuracy vs thinking) and **Performance** (best accuracy). This notebook runs a tiny sweep
on AIME24 with the embedded model by default: the mechanics, not the accuracy (a 135M model solves no AIME
problem). With `benchmark="toy"` and the model fine-tuned in notebook 2, the curve is a real measurement: capping
the thinking cuts the step-by-step procedure short, and a forced "Wait" can start a re-check.""",
        ),
        (
            "code",
            """\
# Parameters (papermill overrides these).
output_dir = "runs/notebooks/04_test_time_scaling"
model = "default"
benchmark = "aime24"
data = "shared"  # "shared": ../shared/data next to the repository; None: the hub; or a file or folder
caps = [16, 32, 64]
fill_budget = True  # think exactly each cap (the untrained model would stop at once); False for a trained model
waits = [0, 1, 2]
wait_cap = 64
baselines = []  # e.g. ["token_conditional"], with token_budgets
token_budgets = [32, 64]
max_answer_tokens = 24
limit = 3
batch_size = 8
dtype = "auto"  # the fastest precision on this machine (measured), or "float32" (the paper's evaluation)
sweep_options = {}  # any other SweepConfig field, e.g. {"backend": "vllm", "ignore_strings": ["Wait", "Hmm"]}""",
            ["parameters"],
        ),
        ("code", SETUP),
        (
            "code",
            """\
from s1lib.eval.summary import headline, write_scaling_summary
from s1lib.eval.sweep import SweepConfig, run_sweep
from s1lib.paths import data_dir

options = {**sweep_options, "engine_options": {"dtype": dtype, **sweep_options.get("engine_options", {})}}
config = SweepConfig(
    benchmark=benchmark, data=str(data_dir()) if data == "shared" and benchmark != "toy" else data,
    model=model, caps=list(caps), fill_budget=fill_budget, waits=list(waits), wait_cap=wait_cap,
    baselines=list(baselines), token_budgets=list(token_budgets), max_answer_tokens=max_answer_tokens, limit=limit,
    batch_size=batch_size, output_dir=str(out), **options,
)
run = run_sweep(config)  # prints its progress (settings and problems done) as it goes
for s in run.results["settings"]:
    print(f"{s['setting']:<28} accuracy {s['accuracy']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
          f"  thinking {s['avg_thinking_tokens']:.1f}")
summary_path = write_scaling_summary(run.results, out)
print(headline(json.loads(summary_path.read_text())))""",
        ),
        (
            "code",
            """\
methods, chance = run.results["methods"], run.results["chance"]
curve, table = viz.sweep_figures(methods, references={"chance (best constant answer)": chance["all"]})
viz.save_figure(curve, out / "scaling_curve.html")
viz.save_figure(table, out / "metrics_table.html")
(out / "metrics.json").write_text(json.dumps(methods, indent=1, default=str))
curve.show()
table.show()
if any(s.get("by_family") for s in run.results["settings"]):  # the toy benchmark: one panel per task family
    families = viz.family_scaling(run.results["settings"], chance)
    viz.save_figure(families, out / "scaling_by_family.html")
    families.show()""",
        ),
    ],
}


def build(folder: Path = HERE) -> list[Path]:
    written = []
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook()
        nb.metadata["kernelspec"] = {"name": "s1", "display_name": "s1 (s1lib)", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        for index, cell in enumerate(cells):
            kind, source = cell[0], cell[1]
            made = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
            if len(cell) == 3:
                made.metadata["tags"] = list(cell[2])  # type: ignore[misc]
            made["id"] = f"{Path(name).stem[:2]}-{index}"  # stable ids: rebuilding changes nothing
            nb.cells.append(made)
        nbformat.validator.normalize(nb)
        path = folder / name
        nbformat.write(nb, path)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build():
        print(path)
