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
device = "auto"  # the GPU where torch sees one, else the CPU; or "cpu", "cuda", "cuda:1"

# %%
from pathlib import Path

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)

# %%
from s1lib.backends.hf import HFEngine
from s1lib.widgets import BudgetForcingWidget

engine = HFEngine.from_name(model, dtype=dtype, device=device)
widget = BudgetForcingWidget(
    engine, question=question, max_thinking_tokens=max_thinking_tokens, max_budget=max(256, max(budgets)),
    num_ignore=num_ignore, max_answer_tokens=max_answer_tokens,
)
widget

# %% [markdown]
# The same question at several budgets, each with `num_ignore` suppressed ends: thinking stops exactly at the cap
# (Control = 100%), and every trace gets an answer.

# %%
from s1lib.eval.budgets import compare_budgets
from s1lib.forcing.trace import render_marked

comparison = compare_budgets(
    engine, question, budgets, num_ignore=num_ignore, max_answer_tokens=max_answer_tokens,
    on_run=lambda run: print(f"--- {run.headline()}\n{render_marked(run.trace, engine.tokenizer)}"),
)  # prints each cap's trace as soon as it is generated, forced insertions marked
comparison.save(out)  # traces.json, metrics.json (with control), forced_insertions.html, thinking_vs_budget.html
print(comparison.table())
for figure in comparison.figures().values():
    figure.show()
