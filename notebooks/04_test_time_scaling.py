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
# # 4 · Test-time scaling
#
# The paper's Figure 1: accuracy rises with thinking tokens under budget forcing, both by capping (fewer tokens)
# and by forcing "Wait" (more tokens). Table 3 scores a method by **Control** (share of runs inside the budget),
# **Scaling** (slope of accuracy vs thinking) and **Performance** (best accuracy). This notebook runs a tiny sweep
# on AIME24 with the embedded model by default: the mechanics, not the accuracy (a 135M model solves no AIME
# problem). With `benchmark="toy"` and the model fine-tuned in notebook 2, the curve is a real measurement: capping
# the thinking cuts the step-by-step procedure short, and a forced "Wait" can start a re-check.

# %% tags=["parameters"]
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
device = "auto"  # the GPU where torch sees one, else the CPU; or "cpu", "cuda", "cuda:1"
sweep_options = {}  # any other SweepConfig field, e.g. {"backend": "vllm", "ignore_strings": ["Wait", "Hmm"]}

# %%
from pathlib import Path

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)

# %%
from s1lib.eval.sweep import run_sweep
from s1lib.notebook_params import ScalingParams

config = ScalingParams.from_namespace(globals()).sweep_config()  # the parameters above, as a SweepConfig
run = run_sweep(config)  # prints its progress (settings and problems done) as it goes
run.save(out)  # metrics.json, scaling_summary.json and the figures
print(run.table())

# %%
for figure in run.figures().values():  # the curve, Control/Scaling/Performance, lengths, overthinking, families
    figure.show()
