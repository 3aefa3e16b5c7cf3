"""``s1 serve``: a real ``vllm serve`` with the forcing processor, driven by the stock ``openai`` client.

Each request carries its policy in ``vllm_xargs`` with ``BudgetPolicy``'s field names; the served tokens must be
those of the transformers backend under the same policy (greedy, float32), capped or extended by Waits, streamed
or not, on ``/v1/completions`` and ``/v1/chat/completions``; a bad field is an HTTP 400 naming it; a request
without a policy is served unforced; the server takes an API key.
"""

from __future__ import annotations

import re
import time

import pytest

from s1lib.backends.hf import HFEngine
from s1lib.forcing import BudgetPolicy
from s1lib.serve.server import LocalServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.model]

QUESTION = "What is 7 + 5?"
KEY = "s1-test-key"
CAPPED = {"max_thinking_tokens": 8, "min_thinking_tokens": 8, "max_answer_tokens": 8}
EXTENDED = {"max_thinking_tokens": 40, "num_ignore": 2, "max_answer_tokens": 8}


@pytest.fixture(scope="module")
def served(default_model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = LocalServer(
        default_model_dir, dtype="float32", max_model_len=1024, forcing=True, extra_args=["--api-key", KEY],
        log_path=log,
    )  # fmt: skip
    with server:
        yield server


@pytest.fixture(scope="module")
def client(served):
    from openai import OpenAI

    return OpenAI(base_url=served.base_url + "/v1", api_key=KEY, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def hf(embedded_model):
    return HFEngine(*embedded_model)


def complete(client, prompt: str, xargs: dict | None, **options):
    extra = {"skip_special_tokens": False, "return_token_ids": True, **({"vllm_xargs": xargs} if xargs else {})}
    options = {"max_tokens": 80, "temperature": 0, **options}
    return client.completions.create(model=client.models.list().data[0].id, prompt=prompt, extra_body=extra, **options)


@pytest.mark.parametrize("xargs", [CAPPED, EXTENDED], ids=["capped", "extended"])
def test_a_served_request_is_forced_as_in_transformers(client, hf, xargs):
    prompt = hf.prompt_for(QUESTION)
    expected = hf.generate([prompt], BudgetPolicy(**xargs))[0]
    choice = complete(client, prompt, xargs).choices[0]
    assert list(choice.token_ids) == expected.generated_ids
    if xargs is CAPPED:
        assert expected.thinking_tokens == 8 and "Final Answer:" in choice.text
    else:
        assert choice.text.count("Wait") >= 2 and expected.num_waits == 2


def test_streamed_and_unforced_requests(client, hf):
    prompt = hf.prompt_for(QUESTION)
    whole = complete(client, prompt, EXTENDED).choices[0].text
    chunks = complete(client, prompt, EXTENDED, stream=True)
    assert "".join(c.choices[0].text for c in chunks) == whole
    # without vllm_xargs: vLLM's own greedy decoding, untouched (transformers' plain greedy generate)
    plain = [t for t in complete(client, prompt, None).choices[0].token_ids if t not in hf.eos_token_ids]
    ids = hf.encode_prompts([prompt])
    raw = hf.greedy_generate(ids, 80)[0].tolist()
    assert plain == raw[: next((i for i, t in enumerate(raw) if t in hf.eos_token_ids), len(raw))]


def test_chat_requests_open_the_thinking_first(client, hf):
    response = client.chat.completions.create(
        model=client.models.list().data[0].id,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=80,
        temperature=0,
        extra_body={"vllm_xargs": CAPPED, "skip_special_tokens": False},
    )
    content = response.choices[0].message.content
    assert content.startswith("<|im_start|>think") and "Final Answer:" in content
    expected = hf.generate([hf.prompt_for(QUESTION)], BudgetPolicy(**CAPPED))[0]
    assert content.removeprefix("<|im_start|>think").startswith(expected.text[:20])


@pytest.mark.parametrize(
    ("xargs", "field"),
    [
        ({"max_thinking_tokens": -3}, "max_thinking_tokens"),
        ({"num_ignore": "many"}, "num_ignore"),
        ({"adaptive": "probe_consistency"}, "adaptive is not served"),
        ({"max_thinking_tokens": 8, "temperature_thinking": -1}, "temperature_thinking must be a number"),
        ({"temperature_thinking": 0.5}, "needs a budget-forcing policy"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(client, hf, xargs, field):
    from openai import BadRequestError

    with pytest.raises(BadRequestError, match=field):
        complete(client, hf.prompt_for(QUESTION), xargs)


def test_the_api_key_is_required(served):
    from openai import AuthenticationError, OpenAI

    wrong = OpenAI(base_url=served.base_url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(AuthenticationError):
        wrong.models.list()


def test_the_command_line(capsys, monkeypatch):
    """``s1 serve`` binds loopback by default, loads the processor, passes vLLM's flags after ``--``, and keeps an
    API key out of the command line (vLLM reads it from VLLM_API_KEY)."""
    from s1lib.backends.vllm_processor import PROCESSOR_FQCN_ANY
    from s1lib.cli import main

    assert main(["serve", "default", "--print-command", "--api-key", "secret", "--", "-tp", "1", "--seed", "3"]) == 0
    command = capsys.readouterr().out.split()
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--logits-processors") + 1] == PROCESSOR_FQCN_ANY
    assert command[-4:] == ["-tp", "1", "--seed", "3"] and "secret" not in command
    with pytest.raises(SystemExit):
        main(["generate", "What is 7 + 5?", "--", "--foo"])
    assert "takes no arguments after --" in capsys.readouterr().err


def test_the_single_call_client_gets_the_engines_traces(served, hf):
    """``ServerForcingClient`` in single-call mode: one request per prompt, forced by the server; its Traces
    (thinking tokens, Waits, forced prefix) equal the transformers backend's, batched concurrently or streamed."""
    from s1lib.backends.endpoint import ServerConfig, ServerForcingClient
    from s1lib.forcing import SamplingConfig

    config = ServerConfig(base_url=served.base_url, api_key=KEY, mode="single-call")
    client = ServerForcingClient(config, hf.tokenizer, hf.eos_token_ids)
    prompts = [hf.prompt_for(q) for q in (QUESTION, "How many r are in the word raspberry?")]
    for xargs in (CAPPED, EXTENDED, {"max_thinking_tokens": 24, "num_ignore": 1, "ignore_strings": None}):
        policy = BudgetPolicy(**xargs, **({"max_answer_tokens": 8} if "max_answer_tokens" not in xargs else {}))
        calls = client.calls
        traces = client.generate(prompts, policy, batch_size=2)
        assert client.calls - calls == len(prompts)
        assert [t.to_dict() for t in traces] == [t.to_dict() for t in hf.generate(prompts, policy, batch_size=2)]
    events = list(client.stream(prompts[0], BudgetPolicy(**EXTENDED)))
    waits = [e for e in events if e.insertion is not None and e.insertion.kind == "wait"]
    assert len(waits) == 2 and events[-1].kind == "done" and events[-1].trace.num_waits == 2
    sampled = client.generate(prompts, BudgetPolicy(**EXTENDED), SamplingConfig(temperature=0.8, seed=5))
    assert all(t.thinking_tokens <= 40 and t.answer_tokens <= 8 for t in sampled)
    per_phase = SamplingConfig(temperature=0.0, temperature_thinking=0.9, min_p=0.05, seed=5)  # via vllm_xargs
    served = client.generate(prompts, BudgetPolicy(**EXTENDED), per_phase, batch_size=2)
    local = hf.generate(prompts, BudgetPolicy(**EXTENDED), per_phase, batch_size=2)
    assert [t.generated_ids for t in served] == [t.generated_ids for t in local]


# -- what a GPU user meets first: n > 1, aborted and stop-string ends, clashes ----------------------------------------
HELD = re.compile(r"s1 forcing: (\d+) request states held \((\d+) made\)")


def held(served) -> tuple[int, int]:
    """The last count the engine core logged: (states held, states made so far)."""
    found = HELD.findall(served.log_path.read_text(errors="replace"))
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)


def wait_until_none_held(served, made_at_least: int, timeout: float = 30.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count, made = held(served)
        if count == 0 and made >= made_at_least:
            return count, made
        time.sleep(0.5)
    return held(served)


def test_n_completions_are_each_a_forced_sequence_of_their_own(client, hf):
    """``n=2`` sampled: vLLM's two children share their parent's vllm_xargs; each gets its own state, so each is a
    sequence the policy can produce (cap, minimum, Waits) and the two differ. This request killed the server when
    the children shared one state."""
    from s1lib.backends.endpoint import ServerForcingClient

    xargs = {"max_thinking_tokens": 24, "min_thinking_tokens": 16, "num_ignore": 1, "max_answer_tokens": 16}
    response = client.chat.completions.create(
        model=client.models.list().data[0].id, messages=[{"role": "user", "content": QUESTION}], max_tokens=80,
        temperature=0.7, n=2, extra_body={"vllm_xargs": xargs, "skip_special_tokens": False, "return_token_ids": True},
    )  # fmt: skip
    assert len(response.choices) == 2
    compiled = BudgetPolicy(**xargs).compile(hf.tokenizer, hf.eos_token_ids)
    sequences = []
    for choice in response.choices:
        ids = list(choice.token_ids)
        assert ids[: len(compiled.think_start_ids)] == compiled.think_start_ids, "the chat turn opens thinking"
        state = ServerForcingClient._replay_single(compiled, ids[len(compiled.think_start_ids) :], None)
        assert 16 <= state.thinking_tokens <= 24 and state.answer_tokens <= 16
        sequences.append(ids)
    assert sequences[0] != sequences[1], "two samples at temperature 0.7 are two sequences"
    assert complete(client, hf.prompt_for(QUESTION), CAPPED).choices[0].text, "the server goes on serving"


def test_stop_strings_and_dropped_streams_leave_no_state(served, client, hf):
    """A stop string ends a request before its policy is done, and so does a client that goes away mid-stream:
    vLLM drops those requests, and their states go with them (the engine core logs the count). A short soak of
    such rounds, with n=2 requests between them, stays flat at zero."""
    _, made = held(served)
    prompt = hf.prompt_for(QUESTION)
    long = {"max_thinking_tokens": 400, "min_thinking_tokens": 300, "max_answer_tokens": 8}
    counts = []
    for _ in range(3):
        stopped = complete(client, prompt, EXTENDED, stop=["Wait"]).choices[0]
        assert stopped.finish_reason == "stop" and "Wait" not in stopped.text
        for _ in range(2):
            stream = client.completions.create(
                model=client.models.list().data[0].id, prompt=prompt, max_tokens=400, temperature=0, stream=True,
                extra_body={"vllm_xargs": long},
            )  # fmt: skip
            next(iter(stream))
            stream.close()  # the client goes away mid-stream
        complete(client, prompt, CAPPED, n=2, temperature=0.7)  # a step after the drops: vLLM lets go of them
        made += 5
        count, made_now = wait_until_none_held(served, made)
        counts.append(count)
        assert made_now >= made, f"the log shows {made_now} states made, expected at least {made}"
    assert counts == [0, 0, 0], f"states held after each round: {counts}"


@pytest.mark.parametrize(
    ("extra", "clash"),
    [({"structured_outputs": {"choice": ["12", "13"]}}, "grammar"), ({"thinking_token_budget": 8}, "thinking_token")],
    ids=["grammar", "thinking_token_budget"],
)
def test_a_forced_request_that_asks_for_an_override_is_a_400(client, hf, extra, clash):
    from openai import BadRequestError

    with pytest.raises(BadRequestError, match=clash):
        client.completions.create(
            model=client.models.list().data[0].id, prompt=hf.prompt_for(QUESTION), max_tokens=8, temperature=0,
            extra_body={"vllm_xargs": CAPPED, **extra},
        )  # fmt: skip
