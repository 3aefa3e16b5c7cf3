"""The tests' one set of doubles and helpers: scripted models that play back a state machine's choices, a fake
server endpoint backed by the tiny transformers model, a nudge that makes random models end thinking often,
tiny model folders, and an engine that streams on a clock (the widget's). Test files import them from here, never
from one another."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from s1lib.backends.endpoint import ServerConfig, ServerForcingClient, _Call
from s1lib.backends.hf import HFEngine
from s1lib.forcing import BudgetPolicy, Event, ForcingState


def end_provoker(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Content-based nudge (depends only on the last token) so a random model tries to end thinking often."""
    scores = scores.clone()
    last = input_ids[:, -1]
    scores[last % 5 == 0, 1] += 1e4  # <|im_start|>: begins the end delimiter
    scores[last % 7 == 3, 2] += 1e4  # <|im_end|>: end of sequence
    return scores


def save_tiny_llama(folder: Path, tokenizer: Any, **overrides: Any) -> Path:
    """A 2-layer random Llama (hidden 64; seed 0) on ``tokenizer``, saved with it as a model folder; ``overrides``
    change its LlamaConfig (e.g. larger weights, or a shape tensor parallelism can split)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    values: dict[str, Any] = dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**{**values, **overrides})).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


OPEN_BRACE, SEVEN, CLOSE_BRACE = 107, 39, 109
"""SmolLM2's ids of "{" (as in " \\boxed{"), "7" and "}"."""


def answer_writer(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Makes a random model answer "7}" after "{" (then it rambles on): a probe opened by " \\boxed{" closes."""
    scores = scores.clone()
    last, before = input_ids[:, -1], input_ids[:, -2]
    scores[last == OPEN_BRACE, SEVEN] += 1e4
    scores[(last == SEVEN) & (before == OPEN_BRACE), CLOSE_BRACE] += 1e4
    return scores


# -- scripted models: the choose callback of a ForcingState, played back ------------------------------------
IM_START, IM_END = 1, 2  # <|im_start|> (first token of "<|im_start|>answer") and <|im_end|> (eos)
PLAIN = 1000  # an ordinary token


class ScriptedModel:
    """Plays back the model's choices; an end attempt that is banned falls back to PLAIN+1."""

    def __init__(self, script: Sequence[int], default: int = PLAIN):
        self.script = list(script)
        self.default = default
        self.calls: list[frozenset[int]] = []

    def __call__(self, banned: frozenset[int]) -> int:
        self.calls.append(banned)
        token = self.script.pop(0) if self.script else self.default
        return PLAIN + 1 if token in banned else token


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


POLICIES = [
    BudgetPolicy(max_thinking_tokens=12, max_answer_tokens=4),
    BudgetPolicy(max_thinking_tokens=30, num_ignore=2, max_answer_tokens=5),
    BudgetPolicy(
        max_thinking_tokens=40, num_ignore=3, ignore_strings=["Wait", "Hmm", "Alternatively"], max_answer_tokens=5
    ),
    BudgetPolicy(max_thinking_tokens=30, num_ignore=2, ignore_strings=None, max_answer_tokens=4),
    BudgetPolicy(max_thinking_tokens=30, min_thinking_tokens=20, max_answer_tokens=4),
]


class Scripted:
    """A scripted model: its k-th choice is ``choices[k % len]``, or the next one that is not banned."""

    def __init__(self, choices: list[int]):
        self.choices = choices
        self.k = 0

    def __call__(self, banned: frozenset[int]) -> int:
        n = len(self.choices)
        token = next(self.choices[(self.k + o) % n] for o in range(n) if self.choices[(self.k + o) % n] not in banned)
        self.k += 1
        return token


def scripted_run(compiled, choices: list[int], limit: int = 200) -> ForcingState:
    state = ForcingState(compiled)
    choose = Scripted(choices)
    while not state.done and len(state.generated) < limit:
        state.next_token(choose)
    return state


# Token 1 begins the end delimiter, 2 is end of sequence: the script tries to end thinking often.
SCRIPT = [100, 200, 1, 300, 400, 2, 500, 600, 700, 1, 800, 900, 2]


def scripted_reference(compiled, request: int) -> ForcingState:
    ids_in_vocab = [100, 200, 1, 300, 2, 400]
    state = ForcingState(compiled)
    while not state.done:
        position = len(state.generated)
        top = ids_in_vocab[(position * 3 + request) % len(ids_in_vocab)]
        state.next_token(lambda banned, top=top: top if top not in banned else 0)
    return state


# -- a served endpoint, answered by the tiny transformers model -------------------------------------------------
class TinyServer(ServerForcingClient):
    """``_complete`` answered by greedy decoding of the tiny model (what a vLLM server does, minus HTTP)."""

    def __init__(self, engine: HFEngine):
        super().__init__(ServerConfig(model="tiny"), engine.tokenizer, engine.eos_token_ids, context_length=2048)
        self.model = engine.model

    def _complete(self, ids, max_tokens, stop_ids, sampling, seed, banned=(), thinking=False):
        self.calls += 1
        ids = list(ids)
        out: list[int] = []
        with torch.inference_mode():
            for _ in range(max_tokens):
                scores = self.model(torch.tensor([ids + out])).logits[:, -1, :]
                scores = end_provoker(torch.tensor([ids + out]), scores)
                if banned:
                    scores[0, list(banned)] = float("-inf")
                token = int(scores.argmax())
                if token in stop_ids:
                    return _Call(out, token)
                out.append(token)
        return _Call(out, None)


class FakeEngine:
    """Streams ``n`` thinking tokens, one per ``delay`` seconds, and honours ``stop`` like HFEngine."""

    def __init__(self, n: int = 200, delay: float = 0.01):
        self.n, self.delay = n, delay
        self._stop = threading.Event()
        self.started = 0

    def prompt_for(self, question: str, policy: BudgetPolicy) -> str:
        return question

    def stream(self, prompt, policy, sampling=None):
        stop = threading.Event()
        self._stop = stop
        self.started += 1
        try:
            for i in range(self.n):
                if stop.is_set():
                    break
                time.sleep(self.delay)
                yield Event("token", 0, f"{prompt}{i} ", thinking_tokens=i + 1)
            yield Event("done", 0, "", phase="done", thinking_tokens=i + 1)
        finally:
            stop.set()

    def stop(self) -> None:
        self._stop.set()


def small_tokenizer() -> Any:
    """A tokenizer built here, in memory: ``<|endoftext|>`` 0, ``<|im_start|>`` 1, ``<|im_end|>`` 2 (as in SmolLM2's
    ChatML), one token for each word the policy forces (``Wait``, ``answer``, ``Final``, `` Answer``, ...) as a real
    tokenizer has, one per other printable character, then unused ids up to 1100 so the scripted models' ids
    (:data:`PLAIN`) exist. The state machine's tests run on it without any model files."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    words = ["Wait", "Hmm", "Alternatively", "think", "answer", "Final", " Answer"]  # </think>: several, as in SmolLM2
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    unused = [f"<unused{i}>" for i in range(1100 - len(specials) - len(words) - len(chars))]
    vocab = {token: i for i, token in enumerate(specials + words + chars + unused)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unused0>"))
    pattern = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r"|[\s\S]"
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(specials)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", unk_token="<unused0>")
