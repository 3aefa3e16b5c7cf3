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
# # 2 · SFT: teach a model the s1 format
#
# s1-32B is Qwen2.5-32B-Instruct fine-tuned on s1K for 5 epochs (lr 1e-5, cosine, batch 16, loss on the
# thinking and answer only). The model learns to write `<|im_start|>think` … reasoning … `<|im_start|>answer`,
# which is what budget forcing later controls. Here the embedded SmolLM2-135M trains for a few steps on
# synthetic s1-format records (or on the selected set from notebook 1), with the same recipe scaled down
# (`cpu-demo` preset).

# %% tags=["parameters"]
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
bf16 = "auto"  # bf16 autocast where this machine runs it fast (measured), else float32; or True / False

# %%
import json
from pathlib import Path

out = Path(output_dir)
out.mkdir(parents=True, exist_ok=True)

# %%
from s1lib.notebook_params import SFTParams
from s1lib.train import run_training

config = SFTParams.from_namespace(globals()).train_config()  # the parameters above, as a TrainConfig (cpu-demo)
result = run_training(config)  # prints "SFT step k/n · loss · tokens/s · ETA" as it goes
result.save(out)  # metrics.json and loss_curve.html
print(result.table())

# %%
result.figures()["loss_curve"].show()

# %% [markdown]
# The fine-tuned model under budget forcing: forced insertions are marked `⟦WAIT⟧`, `⟦END⟧`,
# `⟦FINAL ANSWER⟧`.

# %%
from s1lib.backends.hf import HFEngine
from s1lib.forcing import BudgetPolicy
from s1lib.forcing.trace import render_marked

engine = HFEngine.from_name(result.model_dir)
policy = BudgetPolicy(max_thinking_tokens=max_thinking_tokens, max_answer_tokens=32)
traces = engine.generate([engine.prompt_for(q, policy) for q in eval_questions], policy)
samples = []
for question, trace in zip(eval_questions, traces):
    print(f"Q: {question}\n{render_marked(trace, engine.tokenizer).strip()}\n")
    samples.append({"question": question, **trace.to_dict()})
(out / "samples.json").write_text(json.dumps(samples, indent=1))
