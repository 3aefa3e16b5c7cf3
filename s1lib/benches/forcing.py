"""``s1 bench forcing``: the cost of budget forcing, measured side by side in one run on the embedded model.

1. forced ÷ plain: our single-pass forced generation against plain ``generate`` producing the same number of
   new tokens, at batch 1 and batch 8 (target ≤ 1.03).
2. reference ÷ ours: the reference's multi-call loop (a new ``generate`` per "Wait" round, re-submitting the whole
   sequence, batched over the active rows as the reference batches vLLM requests) against our single pass, for
   the same policy.
Each measurement is repeated and interleaved; the median is reported.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from s1lib.backends.hf import HFEngine
from s1lib.forcing import reference_loop
from s1lib.forcing.policy import BudgetPolicy

QUESTIONS = [
    "How many r are in the word raspberry?",
    "What is the sum of the first ten positive integers?",
    "Is 91 a prime number?",
    "Convert 3/8 to a decimal.",
    "What is 12 times 13?",
    "How many letters does the word 'budget' have?",
    "What is the square root of 144?",
    "Name the capital of France and explain how you know.",
]


def plain_generate(engine: HFEngine, prompt_ids: list[list[int]], new_tokens: int) -> None:
    """Plain greedy ``generate`` of exactly ``new_tokens`` tokens per row (end of sequence suppressed)."""
    engine.greedy_generate(prompt_ids, new_tokens, min_new_tokens=new_tokens)


def reference_multicall(engine: HFEngine, prompt_ids: list[list[int]], policy: BudgetPolicy) -> list[list[int]]:
    """The reference's loop on transformers (see ``reference_loop``): one left-padded greedy ``generate`` per round
    over the rows still thinking, re-submitting everything; returns the generated ids after each prompt."""
    compiled = engine.compile(policy)

    def greedy(rows: list[list[int]], max_new: int, stop_ids: list[int]) -> list[list[int]]:
        return engine.greedy_generate(rows, max_new, eos_token_id=stop_ids).tolist()

    def think(rows: list[list[int]], budgets: list[int], stop_ids: list[int]) -> list[tuple[list[int], bool]]:
        out = []
        for row, budget in zip(greedy(rows, max(budgets), stop_ids), budgets):
            row = row[:budget]
            stopped = next((k for k, t in enumerate(row) if t in stop_ids), None)
            out.append((row, False) if stopped is None else (row[:stopped], True))
        return out

    def answer(rows: list[list[int]]) -> list[list[int]]:
        eos = sorted(compiled.eos_token_ids)
        out = []
        for row in greedy(rows, policy.max_answer_tokens or 16, eos):
            end = next((k for k, t in enumerate(row) if t in eos), None)
            out.append(row if end is None else row[: end + 1])  # through the first end of sequence, no padding
        return out

    return reference_loop.reference_multicall(prompt_ids, compiled, think, answer)


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_bench(json_output: bool = False, thinking_tokens: int = 96, repeats: int = 3) -> dict[str, Any]:
    engine = HFEngine.from_name("default")
    torch.manual_seed(0)
    results: dict[str, Any] = {"model": "SmolLM2-135M-Instruct (embedded, float32)", "threads": torch.get_num_threads()}
    # Thinking is forced to fill the budget (min = max), so both sides decode the same number of tokens.
    forced_policy = BudgetPolicy(
        max_thinking_tokens=thinking_tokens, min_thinking_tokens=thinking_tokens, max_answer_tokens=8
    )
    wait_policy = BudgetPolicy(max_thinking_tokens=thinking_tokens, num_ignore=6, max_answer_tokens=8)
    for batch in (1, 8):
        prompts = [engine.prompt_for(q) for q in QUESTIONS[:batch]]
        prompt_ids = engine.encode_prompts(prompts)
        traces = engine.generate(prompts, forced_policy, batch_size=batch)  # warm-up and length probe
        new_tokens = max(len(t.generated_ids) for t in traces)
        forced_times, plain_times, ours_times, ref_times = [], [], [], []
        for _ in range(repeats):
            forced_times.append(_time(lambda p=prompts, b=batch: engine.generate(p, forced_policy, batch_size=b)))
            plain_times.append(_time(lambda p=prompt_ids, n=new_tokens: plain_generate(engine, p, n)))
            ours_times.append(_time(lambda p=prompts, b=batch: engine.generate(p, wait_policy, batch_size=b)))
            ref_times.append(_time(lambda p=prompt_ids: reference_multicall(engine, p, wait_policy)))
        forced, plain = statistics.median(forced_times), statistics.median(plain_times)
        ours, ref = statistics.median(ours_times), statistics.median(ref_times)
        waits = sum(t.num_waits for t in engine.generate(prompts, wait_policy, batch_size=batch))
        results[f"batch{batch}"] = {
            "new_tokens_per_row": new_tokens,
            "plain_s": round(plain, 3),
            "forced_s": round(forced, 3),
            "forced_over_plain": round(forced / plain, 3),
            "plain_tokens_per_s": round(new_tokens * batch / plain, 1),
            "waits_forced": waits,
            "ours_wait_policy_s": round(ours, 3),
            "reference_multicall_s": round(ref, 3),
            "reference_over_ours": round(ref / ours, 3),
        }
    results["target"] = "forced_over_plain <= 1.03 at batch 1 and 8"
    results["meets_target"] = all(results[f"batch{b}"]["forced_over_plain"] <= 1.03 for b in (1, 8))
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        print(f"s1 bench forcing — {results['model']}, {results['threads']} threads, median of {repeats}")
        for b in (1, 8):
            r = results[f"batch{b}"]
            print(
                f"  batch {b}: {r['new_tokens_per_row']} new tokens/row; plain {r['plain_s']}s "
                f"({r['plain_tokens_per_s']} tok/s), forced {r['forced_s']}s → forced÷plain = "
                f"{r['forced_over_plain']}"
            )
            print(
                f"           {r['waits_forced']} Waits: reference multi-call {r['reference_multicall_s']}s, "
                f"ours {r['ours_wait_policy_s']}s → reference÷ours = {r['reference_over_ours']}"
            )
        print(f"  target {results['target']}: {'met' if results['meets_target'] else 'NOT met'}")
    return results


if __name__ == "__main__":
    run_bench(json_output=True)
