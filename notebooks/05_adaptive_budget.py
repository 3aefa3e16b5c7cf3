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
# # 5 · Adaptive thinking budgets
#
# A fixed budget spends the same thinking on every problem; an adaptive rule stops thinking once the answer is
# already there. Both rules here are training-free and read **probes**: a branch off the context (never the sequence
# itself) that forces the end-of-thinking delimiter and the answer prefix (here also Dynasor-CoT's `\boxed{`), then
# decodes greedy answer tokens until the box closes.
# **probe_consistency** (Dynasor-CoT) probes every `probe_every` thinking tokens and stops when the last `agree`
# probes give the same answer. **answer_confidence** (DEER) probes at each end of thinking that budget forcing would
# suppress with "Wait", and stops when the probed answer's mean token probability reaches `threshold` (so it needs
# `num_ignore` > 0). Budget forcing still bounds both: no probe runs before `min_thinking_tokens`, and the cap ends
# thinking where no probe did; each rule runs at every budget below. A stop ends thinking the way the cap does. Probe
# tokens are never counted as thinking tokens: `results.json` reports them apart (`avg_probe_tokens`) and their sum
# (`avg_thinking_plus_probe_tokens`), and the figure draws every adaptive point twice, at its thinking tokens
# (filled) and at thinking + probe tokens (open), so the probes' cost is never hidden.
#
# By default the model is the one `make demo` fine-tuned (`runs/demo/sft/model`), else the embedded model, on 40
# held-out toy problems (the demo's), with 95% Wilson intervals.

# %% tags=["parameters"]
# Parameters (papermill overrides these).
output_dir = "runs/notebooks/05_adaptive_budget"
model = "demo"  # "demo": the model make demo fine-tuned, if there is one, else the embedded "default"; or a folder
benchmark = "toy"
data = None  # None: the toy benchmark's generated held-out set (the demo's); or a file or folder
limit = 40
budgets = [8, 16, 32, 64]
adaptive = [  # probes opened with Dynasor's " \\boxed{": 6 answer tokens hold "88}", and a probe stops at its "}"
    {"strategy": "probe_consistency", "probe_every": 16, "agree": 3, "probe_tokens": 6, "probe_opening": " \\boxed{"},
    {"strategy": "answer_confidence", "threshold": 0.9, "num_ignore": 2, "probe_tokens": 6,
     "probe_opening": " \\boxed{"},
]
max_answer_tokens = 10
batch_size = 40
dtype = "auto"  # the fastest precision on this machine (measured), or "float32"
device = "auto"  # the GPU where torch sees one, else the CPU; or "cpu", "cuda", "cuda:1"
sweep_options = {}  # any other SweepConfig field, e.g. {"delimiters": "think-tags", "seed": 1}

# %%
from pathlib import Path

from s1lib.eval.pareto import engine_for, run_pareto
from s1lib.notebook_params import AdaptiveParams

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)
params = AdaptiveParams.from_namespace(globals())
config = params.sweep_config()  # the parameters above, as a SweepConfig
print(f"model: {config.model}")
engine = engine_for(config)  # loaded once: the sweep and the live widget below run on it

# %%
run = run_pareto(config, engine)  # fixed caps, then each rule at every cap; prints its progress as it goes
run.save(out)  # metrics.json and pareto.html
print(run.table())  # each setting's accuracy and cost, each rule beside its nearest fixed budget

# %% [markdown]
# ## Accuracy against thinking cost
#
# The line is the fixed budgets; each labelled point is one rule at one cap. A point above the line and to its left
# reaches the same accuracy with fewer thinking tokens; read the open marker to see whether that holds once its
# probe tokens are paid for, and the error bars to see whether the difference is more than the noise of 40 problems.
# The rules above are hand-picked, after looking: a setting worth reporting is chosen before it is measured.
# `sweep_options: {calibration: {...}}` does that (Learn Then Test on problems apart from these, with a stated
# guarantee on the accuracy it may cost): the chosen setting joins the figure as "adaptive (calibrated)", and the
# lines below say how it was chosen.

# %%
run.figure.show()

# %% [markdown]
# ## Seen live
#
# The widget of notebook 3 with a rule turned on: each probe appears in the stream as a badge with its answer and
# confidence, and the moment the rule ends thinking is marked "stopped: answer settled".

# %%
from s1lib.widgets import DEMO_QUESTION, BudgetForcingWidget

BudgetForcingWidget(  # the first probe_consistency rule above, at the largest budget: press Run
    engine, question=DEMO_QUESTION, max_thinking_tokens=max(budgets), max_answer_tokens=max_answer_tokens,
    **params.live_controls("probe_consistency"),
)  # fmt: skip
