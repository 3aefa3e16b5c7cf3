# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: s1 (s1lib)
#     language: python
#     name: s1
# ---

# %% [markdown]
# # 3 · Budget forcing
#
# The paper's method controls how long a model thinks, at test time, with no training:
# - **maximum**: once the thinking reaches the budget, force the end-of-thinking delimiter and `Final Answer:`;
# - **minimum**: when the model tries to stop thinking too early, suppress the delimiter and append **"Wait"**, so it
#   keeps reasoning (often re-checking its answer).
#
# The widget below streams a generation token by token; forced "Wait"s, forced ends and "Final Answer:" are
# highlighted as they happen, and the counter shows thinking tokens against the budget. Move the sliders and press
# **Run** (a running generation is stopped first; **Stop** interrupts it).
#
# The default question is a toy problem for the model fine-tuned in notebook 2 (the demo passes it in as `model`).
# At 8 thinking tokens the running maximum has read only the first number when the cap forces the answer, and the
# answer is wrong (47, or none); from about 32 tokens on it has read all five and answers 95. So dragging the budget
# slider from 8 to 64 changes the answer. (The untrained default model does not know the procedure.)

# %% tags=["parameters"]
# Parameters (papermill overrides these).
output_dir = "runs/notebooks/03_budget_forcing"
model = "default"
question = "Largest of: 47 83 12 95 38"  # wrong at 8 thinking tokens, right from ~32, for the notebook-2 model
max_thinking_tokens = 8
num_ignore = 0
max_answer_tokens = 12
budgets = [8, 16, 32, 64]  # the non-interactive comparison below
dtype = "auto"  # the fastest precision on this machine (measured), or "float32" or "bfloat16"

# %%
import json
from pathlib import Path

import s1lib
from s1lib import viz

REPO = Path(next(iter(s1lib.__path__))).resolve().parent  # the repository (s1lib is installed editable)
out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)

# %%
from s1lib.forcing.hf import HFEngine
from s1lib.widgets import BudgetForcingWidget

engine = HFEngine.from_name(model, dtype=dtype)
widget = BudgetForcingWidget(
    engine, question=question, max_thinking_tokens=max_thinking_tokens, max_budget=max(256, max(budgets)),
    num_ignore=num_ignore, max_answer_tokens=max_answer_tokens,
)
widget

# %% [markdown]
# The same question at several budgets, each with `num_ignore` suppressed ends: thinking stops exactly at the cap
# (Control = 100%), and every trace gets an answer.

# %%
from s1lib.demo import render_marked
from s1lib.eval.grading import extract_answer
from s1lib.forcing import BudgetPolicy

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
lengths_fig.show()
