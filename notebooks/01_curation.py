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
# # 1 · Curation: from a question pool to an s1K-style set
#
# The paper builds **s1K** (1,000 questions with reasoning traces) from a pool of 59K in three steps, each a
# filter on a property of the question: **quality** (drop rows with missing traces or formatting problems),
# **difficulty** (drop questions that Qwen2.5-7B or -32B already solves, and prefer long reasoning traces), and
# **diversity** (sample uniformly over domains, then follow the AIME/GPQA domain mix). Here the same pipeline runs
# on a generated *toy pool* with a simulated attempt model, in seconds on a CPU; every dropped row is accounted for
# in the funnel, with its reason.

# %% tags=["parameters"]
# Parameters (papermill overrides these); None keeps the config's value.
output_dir = "runs/notebooks/01_curation"
config_path = None  # a curation YAML; None: env/curation/toy.yaml (CPU); env/curation/s1k-paper.yaml: the paper
toy_n = None  # questions in the toy pool (toy configs only; toy.yaml: 600)
total = None  # size of the selected set (toy.yaml: 200; the paper: 1,000)
tokenizer = None  # trace lengths: a model name (exact counts), or "estimate" (about 1 % off, no model)
curation_options = {}  # any other CurationConfig field, e.g. {"attempt_models": ["hf:default"]}
limo_config_path = "env/curation/limo-toy.yaml"  # LIMO's recipe on the same pool, compared below; None: skip

# %%
import json
from pathlib import Path

import s1lib

REPO = Path(next(iter(s1lib.__path__))).resolve().parent  # the repository (s1lib is installed editable)
out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)

# %%
from s1lib.curation import load_config, run_curation

config = load_config(
    config_path, toy_n=toy_n, total=total, tokenizer=tokenizer, output_dir=str(out), progress=False, **curation_options
)
result = run_curation(config)  # writes selected.parquet, funnel.json, drops.jsonl and the figures to output_dir
result.save(out)  # metrics.json and the figures
print(result.table())

# %% [markdown]
# The funnel: rows kept after each stage. *Decontaminate* drops near-copies of the held-out benchmark (8-gram
# overlap), *missing*/*format* are the quality filters, *difficulty* drops what the attempt model solves, and
# *select* is the diversity sampler.

# %%
for figure in result.figures().values():  # the funnel, the selected set's domains and trace lengths
    figure.show()

# %% [markdown]
# ## s1 and LIMO on the same pool
#
# LIMO (`env/curation/limo-toy.yaml`) curates the same toy pool its own way: pass-rate bands instead of "both models
# fail", then the best sampled chain per question by its rule-based chain score, then the top K by that score. Its
# selection runs into `limo/` (about 20 s); `compare_selections` matches the two sets by row id: the overlap, where
# the other recipe dropped each row only one kept, thinking lengths, domain and family mix, and both funnels.

# %%
if limo_config_path:
    from s1lib.curation.compare import compare_selections

    limo_config = load_config(  # the same pool (and token counts) as the s1 run above
        REPO / limo_config_path, toy=config.toy, tokenizer=config.tokenizer, output_dir=str(out / "limo"),
        progress=False,
    )  # fmt: skip
    run_curation(limo_config)
    comparison = compare_selections(out, out / "limo")
    (out / "selection_comparison.json").write_text(json.dumps(comparison.to_dict(), indent=1))
    print(comparison.table())
    for figure in comparison.figures().values():
        figure.show()

# %% [markdown]
# How to read it: each *only* line says why a row one recipe kept is missing from the other (a pass-rate band, the
# top-K cut, or s1's quality and difficulty filters), and the length histogram shows what LIMO's chain score rewards
# (long chains with verification and exploration words) next to the pool traces s1 keeps.
