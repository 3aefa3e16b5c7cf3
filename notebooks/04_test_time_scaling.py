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
sweep_options = {}  # any other SweepConfig field, e.g. {"backend": "vllm", "ignore_strings": ["Wait", "Hmm"]}

# %%
import json
from pathlib import Path

from s1lib import viz

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)

# %%
from s1lib.eval.summary import headline, write_scaling_summary
from s1lib.eval.sweep import run_sweep
from s1lib.notebook_params import ScalingParams

config = ScalingParams.from_namespace(globals()).sweep_config()  # the parameters above, as a SweepConfig
run = run_sweep(config)  # prints its progress (settings and problems done) as it goes
for s in run.results["settings"]:
    print(f"{s['setting']:<28} accuracy {s['accuracy']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
          f"  thinking {s['avg_thinking_tokens']:.1f}")
summary_path = write_scaling_summary(run.results, out)
print(headline(json.loads(summary_path.read_text())))

# %%
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
    families.show()
overthinking = viz.overthinking(run.results["settings"])  # thinking before and after the first right answer
viz.save_figure(overthinking, out / "overthinking.html")
overthinking.show()
