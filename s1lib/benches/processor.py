"""``s1 bench processor``: what the budget-forcing logits processor costs vLLM a step, on synthetic logits.

vLLM calls the processor inside its sampler, after the forward pass of a step. Its cost is host time (the
decisions of every forced row) and, on a GPU, the calls that make the host wait for the device: each one waits
for the forward pass queued before it and so undoes async scheduling's overlap. This drives both runners'
processor classes as vLLM does (the legacy one with ``BatchUpdate``; Model Runner V2's with vLLM's own
``LogitsContext``, rows in another order than slots), every row forced, on random logits of SmolLM2's vocabulary
(49,152, float32), at batch 1, 64 and 256, greedy and sampled, and reports per step:

- ``processor_us``: host time of ``apply`` (on CUDA, ``step_us`` adds the wait for the device to finish);
- ``us_per_row``: that per forced row (goal: under 5 µs at batch 256 on the CPU, greedy). On a CPU most of it is
  the vocabulary-wide work any forcing does (each row's argmax, every other logit masked: ``tensor_floor_us``,
  about two passes over 196 KB a row); ``decisions_us_per_row`` is the rest, the policy's decisions per row;
- ``syncs_per_step``: the calls that would block on a GPU (:mod:`s1lib.benches.syncs`; goal: at most 2), the most
  of any measured step after the first (a request's first step reads its prompt once);
- ``unforced_us``: the same batch without forcing, as vLLM picks it (the argmax; sampled: vLLM's own top-p, softmax
  and exponential race), and ``forced_over_unforced``: the sampler's step with forcing (the processor, then vLLM's
  argmax: a forced request runs greedy in vLLM, the processor samples) against without (the forward pass is not
  included: it is the same with or without forcing).

Without vLLM installed (the transformers-only GPU machine) the runner classes cannot be built; the bench then times
``LiveRows.force`` (:func:`~s1lib.backends.vllm_rows.force_rows`, where both classes end) on the same logits,
as runner ``rows``. ``env/gpu_check.py`` runs that on CUDA.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from s1lib.backends.vllm_request import EXTRA_KEY, request_config
from s1lib.backends.vllm_rows import REGISTRY, LiveRows
from s1lib.backends.vllm_step import mask_rows
from s1lib.benches.syncs import count_syncs
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig
from s1lib.machine import cpu_info

VOCAB = 49_152
BATCHES = (1, 64, 256)
MODES = {"greedy": SamplingConfig(), "sampled": SamplingConfig(temperature=0.6, top_p=0.95, seed=0)}
GOAL_SYNCS = 2
GOAL_US_PER_ROW = 5.0
PROMPT = [11, 12, 13, 14]


class _Ids:
    """A tokenizer stand-in: each delimiter or forced string is one made-up id (the processor sees ids only)."""

    eos_token_id = 2
    unk_token_id = None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [100 + sum(map(ord, text)) % 40_000]

    def decode(self, ids: Sequence[int]) -> str:
        return ""


def _configs(batch: int, sampling: SamplingConfig, tag: str) -> list[dict[str, Any]]:
    """One request config per row: thinking that runs through the whole bench, ends suppressed twice."""
    compiled = BudgetPolicy(max_thinking_tokens=1_000_000, num_ignore=2).compile(_Ids(), [2])
    return [request_config(compiled, sampling, seed=i, key=f"bench-processor-{tag}-{i}") for i in range(batch)]


class Rows:
    """No vLLM: the rows both runners' classes keep, decided by ``LiveRows.force`` as their ``apply`` does."""

    name = "rows"

    def __init__(self, configs: list[dict[str, Any]], device: str) -> None:
        self.requests = LiveRows(None)
        self.params = [SimpleNamespace(extra_args={EXTRA_KEY: c}, max_tokens=None, seed=None) for c in configs]
        self.outputs: list[list[int]] = [[] for _ in configs]
        self.picked = []
        for i, params in enumerate(self.params):
            row = self.requests.attach(params, list(PROMPT), [], set())
            assert row is not None
            row.output_ids = self.outputs[i]
            self.picked.append((i, row))

    def prepare(self) -> tuple[Any, ...]:
        return ([o[-1] if o else None for o in self.outputs],)

    def step(self, logits: torch.Tensor, last: list[int | None]) -> torch.Tensor:
        return self.requests.force(logits, self.picked, last)

    def commit(self, tokens: list[int]) -> None:
        for output, token in zip(self.outputs, tokens):
            output.append(token)


def _params(configs: list[dict[str, Any]]) -> list[Any]:
    from vllm import SamplingParams

    return [SamplingParams(temperature=0.0, max_tokens=1_000_000, extra_args={EXTRA_KEY: c}) for c in configs]


class Legacy(Rows):
    """vLLM's legacy model runner: ``update_state`` with a ``BatchUpdate``, then ``apply(logits)``."""

    name = "legacy"

    def __init__(self, configs: list[dict[str, Any]], device: str) -> None:
        from vllm.v1.sample.logits_processor import BatchUpdate

        from s1lib.backends.vllm_processor import ForcingLogitsProcessor

        self.params = _params(configs)
        self.outputs = [[] for _ in configs]
        self.processor = ForcingLogitsProcessor(None, torch.device(device), False)
        added = [(i, p, list(PROMPT), self.outputs[i]) for i, p in enumerate(self.params)]
        self.processor.update_state(BatchUpdate(len(configs), [], added, []))

    def prepare(self) -> tuple[Any, ...]:
        return ()

    def step(self, logits: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.processor.apply(logits)


class V2(Rows):
    """Model Runner V2: slots filled by ``add_request``, rows mapped to slots afresh (here in reverse), and
    vLLM's own ``LogitsContext`` (host index mapping and sequence lengths, device positions and fed tokens)."""

    name = "v2"

    def __init__(self, configs: list[dict[str, Any]], device: str) -> None:
        from vllm.v1.worker.gpu.sample.logits_processor import build_custom_logits_processors

        from s1lib.backends.vllm_processor import PROCESSOR_FQCN_V2

        n, self.device = len(configs), device
        tokens = torch.zeros((n, len(PROMPT)), dtype=torch.int32, device=device)
        tokens[:] = torch.tensor(PROMPT, dtype=torch.int32)
        lengths = np.full(n, len(PROMPT), dtype=np.int32)
        buffer = SimpleNamespace(np=lengths, gpu=torch.from_numpy(lengths).to(device))
        states = SimpleNamespace(  # what LogitsProcRequestState.from_request_state reads off the runner
            device=torch.device(device), max_num_reqs=n, vocab_size=VOCAB, all_token_ids=SimpleNamespace(gpu=tokens),
            prompt_len=buffer, prefill_len=buffer, total_len=SimpleNamespace(gpu=buffer.gpu.clone()),
        )  # fmt: skip
        (self.processor,) = build_custom_logits_processors(None, states, False, [PROCESSOR_FQCN_V2])
        self.params = _params(configs)
        for slot, params in enumerate(self.params):
            self.processor.add_request(slot, params)
        self.slots = np.arange(n - 1, -1, -1, dtype=np.intp)  # row r runs slot n-1-r
        self.seq_lens = np.full(n, len(PROMPT), dtype=np.int32)
        self.fed = torch.full((n,), PROMPT[-1], dtype=torch.int32, device=device)

    def prepare(self) -> tuple[Any, ...]:
        from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext

        slots = torch.from_numpy(self.slots).to(self.device)
        ctx = LogitsContext(
            expanded_idx_mapping=slots, idx_mapping=slots, idx_mapping_np=self.slots,
            expanded_local_pos=torch.zeros_like(slots), input_ids=self.fed,
            pos=torch.from_numpy(self.seq_lens - 1).to(self.device), seq_lens_upper_bound_np=self.seq_lens.copy(),
        )  # fmt: skip
        return (ctx,)

    def step(self, logits: torch.Tensor, ctx: Any) -> torch.Tensor:  # type: ignore[override]
        return self.processor.apply(logits, ctx)

    def commit(self, tokens: list[int]) -> None:
        self.fed = torch.tensor(tokens, dtype=torch.int32).to(self.device)
        self.seq_lens += 1


def unforced(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """vLLM's own choice for the batch: the argmax, or its sampler's top-p, softmax and exponential race (vLLM's
    functions where installed, the same steps in torch otherwise)."""
    if sampling.greedy:
        return logits.argmax(dim=-1)
    x = logits / sampling.temperature
    top_p = torch.full((x.shape[0],), sampling.top_p, device=x.device) if sampling.top_p < 1 else None
    try:
        from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p_pytorch, random_sample

        return random_sample(apply_top_k_top_p_pytorch(x, None, top_p).softmax(dim=-1), {})
    except ImportError:
        if top_p is not None:
            ordered, order = x.sort(dim=-1)
            drop = ordered.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p[:, None]
            drop[:, -1] = False
            x = x.scatter(1, order, ordered.masked_fill(drop, float("-inf")))
        probs = x.softmax(dim=-1)
        return (probs / torch.empty_like(probs).exponential_()).argmax(dim=-1)


def runners() -> list[type[Rows]]:
    """The runner classes this install can drive: both of vLLM's where vLLM is installed, else the rows alone."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        return [Rows]
    return [Legacy, V2]


def _wait(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _floor(logits: torch.Tensor, tokens: list[int], device: str) -> float:
    """The vocabulary-wide work any forcing processor does a step, alone: each row's argmax read back once and
    every other logit masked (two passes over 49,152 floats a row: the floor of ``processor_us`` on a CPU)."""
    _wait(device)
    start = time.perf_counter()
    logits.argmax(dim=-1).tolist()
    mask_rows(logits, list(enumerate(tokens)))
    _wait(device)
    return time.perf_counter() - start


def measure(runner: type[Rows], mode: str, batch: int, device: str = "cpu", steps: int = 5) -> dict[str, Any]:
    """One runner at one batch and mode: medians over ``steps`` steps after a first (not counted) one."""
    sampling = MODES[mode]
    tag = f"{runner.name}-{mode}-{batch}-{time.monotonic_ns()}"
    configs = _configs(batch, sampling, tag)
    driver = runner(configs, device)
    generator = torch.Generator().manual_seed(batch)
    pool = [torch.randn(batch, VOCAB, generator=generator).to(device) * 3 for _ in range(3)]
    host, total, plain, syncs, floor, after = [], [], [], [], [], []
    kinds: dict[str, int] = {}
    try:
        for step in range(steps + 1):
            logits, args = pool[step % 3].clone(), driver.prepare()
            _wait(device)
            with count_syncs() as counter:
                start = time.perf_counter()
                out = driver.step(logits, *args)
                returned = time.perf_counter()
            _wait(device)
            done = time.perf_counter()
            baseline = pool[step % 3].clone()
            _wait(device)
            begin = time.perf_counter()
            unforced(baseline, sampling)
            _wait(device)
            end = time.perf_counter()
            picked_at = time.perf_counter()
            tokens = out.argmax(dim=-1).tolist()  # vLLM's pick after the processor: forced requests run greedy
            after.append(time.perf_counter() - picked_at)
            floor.append(_floor(pool[step % 3].clone(), tokens, device))
            driver.commit(tokens)
            if step == 0:
                continue  # the first step attaches each request (V2 reads its prompt from the device once)
            host.append(returned - start)
            total.append(done - start)
            plain.append(end - begin)
            syncs.append(counter.count)
            kinds = {k: max(kinds.get(k, 0), v) for k, v in counter.kinds.items()} | {
                k: v for k, v in kinds.items() if k not in counter.kinds
            }
    finally:
        for i in range(batch):
            REGISTRY.pop(f"bench-processor-{tag}-{i}", None)
    processor, unforced_s = statistics.median(host), statistics.median(plain)
    step_s, floor_s, pick_s = statistics.median(total), statistics.median(floor[1:]), statistics.median(after[1:])
    return {
        "runner": runner.name,
        "mode": mode,
        "batch": batch,
        "processor_us": round(processor * 1e6, 1),
        "step_us": round(step_s * 1e6, 1),
        "us_per_row": round(processor * 1e6 / batch, 2),
        "tensor_floor_us": round(floor_s * 1e6, 1),
        "decisions_us_per_row": round(max(0.0, processor - floor_s) * 1e6 / batch, 2),
        "syncs_per_step": max(syncs),
        "sync_kinds": kinds,
        "unforced_us": round(unforced_s * 1e6, 1),
        "forced_over_unforced": round((step_s + pick_s) / unforced_s, 2),
    }


def run_bench(
    json_output: bool = False,
    device: str = "cpu",
    batches: Sequence[int] = BATCHES,
    steps: int = 5,
    classes: Sequence[type[Rows]] | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    runs = [
        measure(runner, mode, batch, device, steps)
        for runner in (classes or runners())
        for mode in MODES
        for batch in batches
    ]
    largest = [r for r in runs if r["batch"] == max(batches) and r["mode"] == "greedy"]
    results: dict[str, Any] = {
        "vocab": VOCAB,
        "device": device,
        "cpu": cpu_info().model,
        "threads": torch.get_num_threads(),
        "steps": steps,
        "sampled": "temperature 0.6, top_p 0.95",
        "runs": runs,
        "goals": {"syncs_per_step": GOAL_SYNCS, "us_per_row_greedy_at_largest_batch": GOAL_US_PER_ROW},
        "meets_syncs": all(r["syncs_per_step"] <= GOAL_SYNCS for r in runs),
        "meets_us_per_row": all(r["us_per_row"] < GOAL_US_PER_ROW for r in largest),
        "meets_decisions_us_per_row": all(r["decisions_us_per_row"] < GOAL_US_PER_ROW for r in largest),
    }
    if json_output:
        say(json.dumps(results, indent=2))
        return results
    say(
        f"s1 bench processor — vocab {VOCAB}, {device} ({results['cpu']}, {results['threads']} threads), "
        f"median of {steps} steps; sampled = {results['sampled']}"
    )
    say(
        f"{'runner':7} {'mode':8} {'batch':>5} {'apply µs':>10} {'µs/row':>8} {'decide µs/row':>13} {'syncs':>5} "
        f"{'unforced µs':>12} ratio"
    )
    for r in runs:
        say(
            f"{r['runner']:7} {r['mode']:8} {r['batch']:>5} {r['processor_us']:>10} {r['us_per_row']:>8} "
            f"{r['decisions_us_per_row']:>13} {r['syncs_per_step']:>5} {r['unforced_us']:>12} "
            f"{r['forced_over_unforced']}"
        )
    say(
        f"goals: ≤ {GOAL_SYNCS} syncs a step: {'met' if results['meets_syncs'] else 'NOT met'}; "
        f"< {GOAL_US_PER_ROW} µs a row greedy at batch {max(batches)}: "
        f"{'met' if results['meets_us_per_row'] else 'NOT met'} (decisions alone: "
        f"{'met' if results['meets_decisions_us_per_row'] else 'NOT met'}); ratio: forced ÷ unforced sampler step"
    )
    return results


if __name__ == "__main__":
    run_bench(json_output=True)
