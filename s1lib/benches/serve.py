"""``s1 bench serve``: what budget forcing costs behind ``s1 serve``, measured side by side against one server.

1. forced ÷ raw: requests forced by the server (the policy in ``vllm_xargs``, single-call client) against plain
   requests for the same number of new tokens (``min_tokens`` = ``max_tokens``, end of sequence ignored), from 1
   and from 8 concurrent clients (target ≤ 1.10); and what the client's exact trace reading adds (vLLM's top-1
   logprobs, ``ServerConfig.exact_trace``) on top of the forced requests.
2. single-call ÷ multi-call: the same policy through our single-call client and through the multi-call client
   (a thinking call per "Wait" round, the sequence re-submitted each time), both against the same server; their
   greedy tokens are compared (equal in float32; in bf16 a re-submitted round may round differently).

One server serves both sides, and measurements are interleaved and repeated (median reported, with the load
average), since the machine may be shared.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.benches.forcing import QUESTIONS
from s1lib.forcing.policy import BudgetPolicy


@dataclass
class ServeBenchConfig:
    """Settings of the served-forcing benchmark."""

    model: str = field(default="default", metadata={"help": "Model name or folder (default: embedded SmolLM2)."})
    dtype: str = field(default="auto", metadata={"help": "Server dtype: 'auto' (this device's fastest) or float32."})
    max_thinking_tokens: int = field(default=128, metadata={"help": "Thinking cap of the benchmarked policy."})
    min_thinking_tokens: int = field(
        default=96, metadata={"help": "Suppress the end until this many thinking tokens (every request decodes 100+)."}
    )
    num_ignore: int = field(default=2, metadata={"help": "Forced Waits of the benchmarked policy."})
    max_answer_tokens: int = field(default=8, metadata={"help": "Answer cap of the benchmarked policy."})
    clients: list[int] = field(default_factory=lambda: [1, 8], metadata={"help": "Concurrent clients measured."})
    requests_per_client: int = field(default=2, metadata={"help": "Requests each client sends, one after another."})
    repeats: int = field(default=5, metadata={"help": "Interleaved repetitions; the median is reported."})


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def raw_request(client: Any, prompt_ids: list[int], new_tokens: int) -> int:
    """A plain served request for exactly ``new_tokens`` tokens; returns how many came back."""
    payload = {
        "model": client.model_name(),
        "prompt": prompt_ids,
        "max_tokens": new_tokens,
        "min_tokens": new_tokens,
        "ignore_eos": True,
        "temperature": 0.0,
        "return_token_ids": True,
    }
    return len(client._request("/v1/completions", payload)["choices"][0]["token_ids"])


def run_bench(json_output: bool = False, config: ServeBenchConfig | str | Path | None = None) -> dict[str, Any]:
    """Start ``s1 serve``, measure, print the numbers and return them as a dict (``config``: the settings, or a
    YAML/JSON file of their fields, ``s1 bench serve --config FILE``)."""
    from s1lib.backends.endpoint import ServerConfig, ServerForcingClient
    from s1lib.forcing.engine import eos_token_ids
    from s1lib.models import load_tokenizer, resolve_model
    from s1lib.serve.server import LocalServer
    from s1lib.text_format import build_prompt

    if not isinstance(config, ServeBenchConfig):
        from s1lib.configfile import config_from_dict, read_config

        config = (
            config_from_dict(ServeBenchConfig, read_config(config, "bench config"), str(config))
            if config
            else ServeBenchConfig()
        )
    tokenizer = load_tokenizer(config.model)
    policy = BudgetPolicy(
        max_thinking_tokens=config.max_thinking_tokens,
        min_thinking_tokens=config.min_thinking_tokens,
        num_ignore=config.num_ignore,
        max_answer_tokens=config.max_answer_tokens,
    )
    load_before = os.getloadavg()
    log = Path(tempfile.mkdtemp(prefix="s1-bench-serve-")) / "serve.log"
    server = LocalServer(resolve_model(config.model).path, dtype=config.dtype, forcing=True, log_path=log)
    startup, _ = _timed(server.start)
    results: dict[str, Any] = {
        "model": config.model,
        "dtype": config.dtype,
        "policy": policy.label(),
        "startup_s": round(startup, 1),
        "cpus": os.cpu_count(),
        "server_log": str(log),
    }
    try:
        eos = eos_token_ids(tokenizer)

        def client(mode: str, exact_trace: bool = False) -> ServerForcingClient:
            config = ServerConfig(base_url=server.base_url, mode=mode, exact_trace=exact_trace)
            return ServerForcingClient(config, tokenizer, eos)

        single, multi, exact = client("single-call"), client("multi-call"), client("single-call", exact_trace=True)
        single.generate([build_prompt(tokenizer, QUESTIONS[0])], policy)  # warm-up
        for clients in config.clients:
            count = clients * config.requests_per_client
            prompts = [build_prompt(tokenizer, QUESTIONS[i % len(QUESTIONS)]) for i in range(count)]
            ids = single.encode_prompts(prompts)
            forced_times, raw_times, exact_times, lengths = [], [], [], [0]
            for _ in range(config.repeats):
                t, traces = _timed(lambda ids=ids, c=clients: single.generate(ids, policy, batch_size=c))
                forced_times.append(t)
                lengths = [len(tr.generated_ids) for tr in traces]
                t, _ = _timed(lambda ids=ids, c=clients: exact.generate(ids, policy, batch_size=c))
                exact_times.append(t)
                with ThreadPoolExecutor(max_workers=clients) as pool:
                    t, got = _timed(
                        lambda pool=pool, ids=ids, lengths=lengths: list(
                            pool.map(lambda args: raw_request(single, *args), zip(ids, lengths))
                        )
                    )
                raw_times.append(t)
                if got != lengths:
                    raise RuntimeError(f"raw requests returned {got} tokens, expected {lengths}")
            forced, raw = statistics.median(forced_times), statistics.median(raw_times)
            exact_s = statistics.median(exact_times)
            results[f"clients{clients}"] = {
                "requests": count,
                "new_tokens": sum(lengths),
                "forced_s": round(forced, 3),
                "raw_s": round(raw, 3),
                "forced_over_raw": round(forced / raw, 3),
                "exact_trace_s": round(exact_s, 3),
                "exact_trace_over_forced": round(exact_s / forced, 3),
                "forced_tok_per_s": round(sum(lengths) / forced, 1),
                "raw_tok_per_s": round(sum(lengths) / raw, 1),
            }
        # single-call against multi-call, on the policy without a minimum (every Wait is a round for multi-call)
        rounds_policy = policy.replace(min_thinking_tokens=0)
        batch = max(config.clients)
        ids = single.encode_prompts([build_prompt(tokenizer, q) for q in QUESTIONS[:batch]])
        single_times, multi_times, same = [], [], True
        calls = {"single": 0, "multi": 0}
        for _ in range(config.repeats):
            before = single.calls
            t, ours = _timed(lambda: single.generate(ids, rounds_policy, batch_size=batch))
            single_times.append(t)
            calls["single"] = single.calls - before
            before = multi.calls
            t, theirs = _timed(lambda: multi.generate(ids, rounds_policy, batch_size=batch))
            multi_times.append(t)
            calls["multi"] = multi.calls - before
            same &= [a.generated_ids for a in ours] == [b.generated_ids for b in theirs]
        single_s, multi_s = statistics.median(single_times), statistics.median(multi_times)
        results["single_vs_multi"] = {
            "policy": rounds_policy.label(),
            "prompts": len(ids),
            "single_s": round(single_s, 3),
            "multi_s": round(multi_s, 3),
            "single_over_multi": round(single_s / multi_s, 3),
            "calls": calls,
            "same_tokens": same,  # greedy; under bf16 a re-prefilled multi-call round may round differently
        }
    finally:
        server.stop()
    results["loadavg_before"] = [round(x, 2) for x in load_before]
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        _print(results, config)
    return results


def _print(results: dict[str, Any], config: ServeBenchConfig) -> None:
    print(
        f"s1 serve budget forcing ({results['policy']}, dtype {results['dtype']}), startup {results['startup_s']} s, "
        f"load average {results['loadavg_before'][0]}"
    )
    for clients in config.clients:
        r = results[f"clients{clients}"]
        print(
            f"  {clients} client(s): forced {r['forced_tok_per_s']} tok/s vs raw {r['raw_tok_per_s']} tok/s "
            f"({r['new_tokens']} tokens) -> forced/raw time {r['forced_over_raw']} (target <= 1.10); "
            f"with the exact trace reading (top-1 logprobs) x{r['exact_trace_over_forced']}"
        )
    r = results["single_vs_multi"]
    print(
        f"  single-call {r['single_s']} s ({r['calls']['single']} calls) vs multi-call {r['multi_s']} s "
        f"({r['calls']['multi']} calls) -> single/multi {r['single_over_multi']}; same tokens: {r['same_tokens']}"
    )


if __name__ == "__main__":
    run_bench()
