"""``s1 bench vllm``: what budget forcing costs on vLLM, measured side by side in one run on the embedded model.

1. forced ÷ raw: our single-pass forced generation (the logits processor) against plain vLLM ``generate`` of the
   same number of new tokens per row, at batch 1 and batch 8 (target ≤ 1.10).
2. reference ÷ ours: the reference's multi-call loop on the same engine (a new ``generate`` per "Wait" round over
   the rows still thinking, re-submitting the whole sequence; vLLM's prefix cache avoids most re-prefill), with the
   budget counted across rounds, against our single pass, for the same policy. Its greedy ids must equal ours.
Measurements are interleaved and repeated; the median is reported with the load average, since the machine may be
shared.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s1lib.benches.forcing import QUESTIONS
from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy

if TYPE_CHECKING:
    from s1lib.backends.vllm import VLLMEngine


@dataclass
class VLLMBenchConfig:
    """Settings of the vLLM forcing benchmark."""

    model: str = field(default="default", metadata={"help": "Model name or folder (default: embedded SmolLM2)."})
    dtype: str = field(
        default="auto",
        metadata={
            "help": "vLLM dtype: 'auto' (this device's fastest, see s1lib.precision), or 'float32' as the paper."
        },
    )
    enforce_eager: bool = field(default=True, metadata={"help": "Skip torch.compile (starts in ~16 s, not ~70 s)."})
    max_thinking_tokens: int = field(default=128, metadata={"help": "Thinking cap of the benchmarked policy."})
    min_thinking_tokens: int = field(
        default=96,
        metadata={
            "help": "Suppress the end until this many thinking tokens: every row decodes ~100+ tokens, so "
            "per-step overhead is measured on more than a few tokens (SmolLM2 often ends at once)."
        },
    )
    num_ignore: int = field(default=2, metadata={"help": "Forced Waits of the benchmarked policy."})
    max_answer_tokens: int = field(default=8, metadata={"help": "Answer cap of the benchmarked policy."})
    repeats: int = field(default=3, metadata={"help": "Interleaved repetitions; the median is reported."})


def raw_generate(engine: VLLMEngine, prompt_ids: list[list[int]], new_tokens: list[int]) -> list[list[int]]:
    """Plain greedy vLLM generation of exactly ``new_tokens[i]`` tokens for row i (end of sequence ignored)."""
    from vllm import SamplingParams

    params = [
        SamplingParams(temperature=0.0, max_tokens=n, min_tokens=n, ignore_eos=True, detokenize=False)
        for n in new_tokens
    ]
    outputs = engine.llm.generate([{"prompt_token_ids": p} for p in prompt_ids], params, use_tqdm=False)
    return [list(o.outputs[0].token_ids) for o in outputs]


def reference_loop(engine: VLLMEngine, prompt_ids: list[list[int]], compiled: CompiledPolicy) -> list[list[int]]:
    """The reference's multi-call forcing on vLLM (``s1lib.forcing.reference_loop``: one ``LLM.generate`` per round
    over the rows still thinking); ids in our Trace's ``generated_ids`` form, ending with one end-of-sequence id."""
    from vllm import SamplingParams

    from s1lib.forcing.reference_loop import reference_multicall

    policy = compiled.policy
    assert policy.max_thinking_tokens is not None and policy.max_answer_tokens is not None and compiled.ignore_ids

    def greedy(rows: list[list[int]], budgets: list[int], stop_ids: list[int]) -> list[list[int]]:
        params = [
            SamplingParams(temperature=0.0, max_tokens=n, stop_token_ids=stop_ids, detokenize=False) for n in budgets
        ]
        outputs = engine.llm.generate([{"prompt_token_ids": r} for r in rows], params, use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in outputs]

    def think(rows: list[list[int]], budgets: list[int], stop_ids: list[int]) -> list[tuple[list[int], bool]]:
        out = []
        for new in greedy(rows, budgets, stop_ids):
            stopped = bool(new) and new[-1] in stop_ids
            out.append((new[:-1] if stopped else new, stopped))
        return out

    def answer(rows: list[list[int]]) -> list[list[int]]:
        eos = sorted(compiled.eos_token_ids)
        out = []
        for new in greedy(rows, [policy.max_answer_tokens] * len(rows), eos):
            out.append((new[:-1] if new and new[-1] in eos else new) + [min(eos)])
        return out

    return reference_multicall(prompt_ids, compiled, think, answer)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run_bench(json_output: bool = False, config: VLLMBenchConfig | None = None) -> dict[str, Any]:
    """Measure and print the numbers; return them as a dict."""
    from s1lib.backends.vllm import VLLMEngine

    config = config or VLLMBenchConfig()
    load_before = os.getloadavg()
    start_time, engine = _timed(
        lambda: VLLMEngine.from_name(config.model, dtype=config.dtype, enforce_eager=config.enforce_eager)
    )
    policy = BudgetPolicy(
        max_thinking_tokens=config.max_thinking_tokens,
        min_thinking_tokens=config.min_thinking_tokens,
        num_ignore=config.num_ignore,
        max_answer_tokens=config.max_answer_tokens,
    )
    engine.compile(policy)  # vocabulary and delimiter checks before any timing
    prompts = [engine.prompt_for(q, policy) for q in QUESTIONS]
    ids = engine.encode_prompts(prompts)
    results: dict[str, Any] = {
        "backend": "vllm",
        "model": config.model,
        "dtype": engine.precision.get("dtype", config.dtype),
        "precision": engine.precision,
        "enforce_eager": config.enforce_eager,
        "policy": policy.label(),
        "startup_s": round(start_time, 1),
        "cpus": os.cpu_count(),
    }
    try:
        engine.generate(ids[:1], policy)  # warm-up
        for batch in (1, 8):
            rows = ids[:batch]
            forced_times, raw_times = [], []
            lengths: list[int] = []
            for _ in range(config.repeats):
                t, traces = _timed(lambda rows=rows: engine.generate(rows, policy, batch_size=len(rows)))
                forced_times.append(t)
                lengths = [len(tr.generated_ids) for tr in traces]
                t, _ = _timed(lambda rows=rows, lengths=lengths: raw_generate(engine, rows, lengths))
                raw_times.append(t)
            forced, raw = statistics.median(forced_times), statistics.median(raw_times)
            results[f"batch{batch}"] = {
                "new_tokens": sum(lengths),
                "forced_s": round(forced, 3),
                "raw_s": round(raw, 3),
                "forced_over_raw": round(forced / raw, 3),
                "forced_tok_per_s": round(sum(lengths) / forced, 1),
            }
        # The reference loop has no minimum: compare on the policy without it, so both decode the same tokens.
        ref_policy = policy.replace(min_thinking_tokens=0)
        ref_compiled = engine.compile(ref_policy)
        ours_times, ref_times = [], []
        matches = True
        for _ in range(config.repeats):
            t, traces = _timed(lambda: engine.generate(ids, ref_policy, batch_size=len(ids)))
            ours_times.append(t)
            t, ref = _timed(lambda: reference_loop(engine, ids, ref_compiled))
            ref_times.append(t)
            matches &= [tr.generated_ids for tr in traces] == ref
        ours, ref_s = statistics.median(ours_times), statistics.median(ref_times)
        results["reference_loop"] = {
            "policy": ref_policy.label(),
            "rows": len(ids),
            "ours_s": round(ours, 3),
            "reference_s": round(ref_s, 3),
            "reference_over_ours": round(ref_s / ours, 3),
            "same_tokens": matches,
        }
    finally:
        engine.close()
    results["loadavg_before"] = [round(x, 2) for x in load_before]
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"vLLM budget forcing ({results['policy']}, {results['dtype']}, eager={config.enforce_eager}), "
            f"startup {results['startup_s']} s, load average {results['loadavg_before'][0]}"
        )
        for batch in (1, 8):
            r = results[f"batch{batch}"]
            print(
                f"  batch {batch}: forced {r['forced_s']} s vs raw {r['raw_s']} s for {r['new_tokens']} tokens "
                f"-> forced/raw {r['forced_over_raw']} (target <= 1.10)"
            )
        r = results["reference_loop"]
        print(
            f"  reference multi-call loop {r['reference_s']} s vs ours {r['ours_s']} s -> reference/ours "
            f"{r['reference_over_ours']}; same tokens: {r['same_tokens']}"
        )
    return results


if __name__ == "__main__":
    run_bench()
