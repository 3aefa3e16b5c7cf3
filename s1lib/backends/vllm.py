"""The vLLM backend's driver: the same budget-forcing state machine, inside vLLM's v1 sampler, in ONE ``generate``
call per batch.

:class:`VLLMEngine` starts ``vllm.LLM`` with the forcing logits processor of :mod:`s1lib.backends.vllm_processor`,
sends each prompt as a request whose ``extra_args`` carry its compiled policy and seed, and turns the states the
processor kept back into Traces. vLLM is imported lazily: ``import s1lib.backends.vllm`` works without it;
:meth:`VLLMEngine.from_name` raises a clear :class:`ImportError` saying how to install it.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.backends.vllm_processor import (
    EXTRA_KEY,
    PROCESSOR_FQCN_ANY,
    request_config,
    state_from_record,
)
from s1lib.backends.vllm_rows import LOCAL_PROCESSORS, REGISTRY, release
from s1lib.backends.vllm_setup import bind_cpu_workers, import_vllm, resolve_vllm_model
from s1lib.forcing.adaptive import ProbeOutput, ProbeRequest
from s1lib.forcing.engine import EngineBase, Processor, Request, done_event, eos_token_ids, step_events
from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy
from s1lib.forcing.state import ForcingState
from s1lib.forcing.trace import Event, IncrementalDetokenizer, SamplingConfig, Trace


@dataclass
class _ProbeRun:
    """One row's probe on vLLM across its batches: the context it branches from and the answer ids so far."""

    row: Any
    probe: ProbeRequest
    context: list[int]
    room: int
    complete: Callable[[Sequence[int]], bool] | None
    ids: list[int] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)


class VLLMEngine(EngineBase):
    """Budget-forced generation on vLLM, with the same policy, Trace and interface as :class:`HFEngine`."""

    backend = "vllm"
    default_batch_size = 64
    runs_probes = True  # in rounds: see _generate_adaptive

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
        self.processor = PROCESSOR_FQCN_ANY  # the one vLLM was started with
        # Whether the forcing processor runs in this process, where its live states (streaming) and the caller's
        # extra_processors can be reached; from_name also rules out tensor and pipeline parallel workers.
        self.processor_in_process = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"
        self._record_dir: str | None = None
        self.probe_stats: dict[str, int] = {}
        """Running counts of the probe requests sent to vLLM and of the answer tokens they decoded."""

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
        if default_device() == "cpu" and tensor_parallel_size > 1:
            bind_cpu_workers(tensor_parallel_size)
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
        eos = eos_token_ids(tokenizer, generation_config, config)
        options = dict(
            model=path,
            tokenizer=path,
            dtype=precision.dtype,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
            enforce_eager=enforce_eager,
            seed=seed,
            **kwargs,
        )
        processor = PROCESSOR_FQCN_ANY  # either runner's loader takes it, whichever vLLM chooses
        try:
            llm = vllm.LLM(**options, logits_processors=[processor])
        except Exception as exc:
            raise RuntimeError(f"vLLM could not load model {path}: {type(exc).__name__}: {exc}") from exc
        from s1lib.text_format import load_prompt_format

        engine = cls(llm, tokenizer, path, max_model_len, eos, getattr(config, "vocab_size", None))
        engine.precision = precision.to_dict()
        engine.processor = processor
        parallel = tensor_parallel_size > 1 or int(kwargs.get("pipeline_parallel_size", 1)) > 1
        engine.processor_in_process = engine.processor_in_process and not parallel
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

    def max_tokens_for(self, compiled: CompiledPolicy, prompt_length: int, decided: int = 0) -> int:
        """vLLM's ``max_tokens`` for one request: the policy's bound, or the room left in the context
        (``decided``: tokens a resumed row decided before, already part of ``prompt_length``)."""
        room = self.max_model_len - prompt_length
        if room < 1:
            raise ValueError(f"A prompt of {prompt_length} tokens leaves no room in max_model_len={self.max_model_len}")
        bound = compiled.max_new_tokens()
        return room if bound is None else min(bound - decided, room)

    # -- generation -------------------------------------------------------------------------------------------
    def sampling_params(
        self,
        compiled: CompiledPolicy,
        sampling: SamplingConfig,
        seed: int,
        prompt_length: int,
        key: str,
        decided: int = 0,
    ) -> Any:
        from vllm import SamplingParams

        config = request_config(compiled, sampling, seed, key, self._records())
        if compiled.policy.adaptive is not None:
            config.update(pause_for_probes=True, resume_at=decided)
        return SamplingParams(
            temperature=0.0,  # the processor samples by itself; vLLM takes its single unmasked token
            max_tokens=self.max_tokens_for(compiled, prompt_length, decided),
            stop_token_ids=sorted(compiled.eos_token_ids),
            detokenize=False,
            extra_args={EXTRA_KEY: config},
        )

    def _records(self) -> str:
        if self._record_dir is None:
            self._record_dir = tempfile.mkdtemp(prefix="s1-vllm-records-")
        return self._record_dir

    def _collect(self, key: str, compiled: CompiledPolicy, index: int = 0) -> ForcingState:
        """The state the processor kept for request ``key`` (prompt ``index``); a sequence the processor failed
        raises its reason here, so no trace differs silently from the policy."""
        row = REGISTRY.pop(key, None)
        error, state = None, None
        if row is not None:
            error, state = row.error, row.state
        else:
            path = Path(self._records()) / f"{key}.json"
            if path.exists():
                record = json.loads(path.read_text())
                path.unlink()
                error, state = record.get("error"), state_from_record(compiled, record)
        if error is not None:
            raise RuntimeError(f"s1 forcing: prompt {index} failed in vLLM: {error}")
        if state is not None:
            return state
        raise RuntimeError(
            f"s1 forcing: no state came back for request {key}; was the engine started with "
            f"logits_processors=[{PROCESSOR_FQCN_ANY!r}]?"
        )

    def _forget(self, keys: list[str]) -> None:
        """Let go of these requests' rows wherever they are (the registry, this process's processors, the record
        folder): a call that ends, well or not, leaves nothing behind."""
        for key in keys:
            LOCAL_PROCESSORS.pop(key, None)
            REGISTRY.pop(key, None)
            if self._record_dir is not None:
                (Path(self._record_dir) / f"{key}.json").unlink(missing_ok=True)
        release(keys)

    def _generate(
        self, request: Request, batch_size: int, extra_processors: list[Processor], progress: bool
    ) -> list[Trace]:
        """``batch_size`` prompts are submitted per ``LLM.generate`` call; vLLM batches within a call."""
        if extra_processors and not self.processor_in_process:
            raise ValueError(
                "extra_processors run only when vLLM's engine core is in this process "
                "(VLLM_ENABLE_V1_MULTIPROCESSING=0, s1lib's default) and not split over parallel workers"
            )
        if request.compiled.policy.adaptive is not None:
            return self._generate_adaptive(request, batch_size, extra_processors, progress)
        encoded, compiled = request.prompt_ids, request.compiled
        keys = [uuid.uuid4().hex for _ in encoded]
        params = [
            self.sampling_params(compiled, request.sampling, s, len(ids), k)
            for ids, s, k in zip(encoded, request.seeds, keys)
        ]
        traces: list[Trace] = []
        try:
            for key in keys if extra_processors else ():
                LOCAL_PROCESSORS[key] = extra_processors
            for start in range(0, len(encoded), batch_size):
                chunk = range(start, min(start + batch_size, len(encoded)))
                outputs = self.llm.generate(
                    [{"prompt_token_ids": encoded[i]} for i in chunk], [params[i] for i in chunk], use_tqdm=progress
                )
                for i, output in zip(chunk, outputs):
                    state = self._collect(keys[i], compiled, i)
                    emitted = list(output.outputs[0].token_ids)
                    if state.generated[: len(emitted)] != emitted or len(state.generated) > len(emitted) + 1:
                        raise RuntimeError(
                            f"s1 forcing: vLLM emitted {len(emitted)} tokens that differ from the "
                            f"{len(state.generated)} the forcing state decided (prompt {i})"
                        )
                    traces.append(request.trace(i, state, self.tokenizer))
        finally:
            self._forget(keys)  # what a failed prompt left of the others (their rows, their records)
        return traces

    def _generate_adaptive(
        self, request: Request, batch_size: int, extra_processors: list[Processor], progress: bool
    ) -> list[Trace]:
        """An adaptive policy in rounds: every row decodes until its next probe point, where the processor ends
        its request; the probes of all paused rows then run as one batch of greedy requests on their prefixes
        (vLLM's prefix cache holds them), each result is recorded in the row's state, and the paused rows resume
        (prompt + decided tokens, prefix-cached again) with the same state. Greedy traces, probes and stop points
        equal the transformers backend's."""
        if not self.processor_in_process or extra_processors:
            raise ValueError(
                "BudgetPolicy.adaptive on vLLM reads the processor's live states between rounds: it needs the "
                "engine core in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0, s1lib's default), no parallel "
                "workers and no extra_processors"
            )
        encoded, compiled = request.prompt_ids, request.compiled
        keys = [uuid.uuid4().hex for _ in encoded]
        rows: dict[int, Any] = {}
        pending = list(range(len(encoded)))
        try:
            while pending:
                for start in range(0, len(pending), batch_size):
                    chunk = pending[start : start + batch_size]
                    prompts, params = [], []
                    for i in chunk:
                        decided = list(rows[i].state.generated) if i in rows else []
                        prompt = list(encoded[i]) + decided
                        prompts.append({"prompt_token_ids": prompt})
                        seed = request.seeds[i]
                        params.append(
                            self.sampling_params(compiled, request.sampling, seed, len(prompt), keys[i], len(decided))
                        )
                    self.llm.generate(prompts, params, use_tqdm=progress)
                    for i in chunk:
                        rows[i] = REGISTRY[keys[i]]
                        if rows[i].error is not None:
                            raise RuntimeError(f"s1 forcing: prompt {i} failed in vLLM: {rows[i].error}")
                        # the same ids, plus what a probe needs here: the tokenizer's decode and the extractor
                        rows[i].state.compiled = compiled
                pending = [i for i in pending if rows[i].paused is not None]
                self._run_probes(encoded, [(i, rows[i]) for i in pending])
        finally:
            self._forget(keys)  # rows still paused when a round failed
        return [request.trace(i, rows[i].state, self.tokenizer) for i in range(len(encoded))]

    def _run_probes(self, encoded: list[list[int]], paused: list[tuple[int, Any]]) -> None:
        """One batch of greedy requests, one per paused row: its prefix, the probe's forced ids, then at most
        ``max_tokens`` answer tokens; vLLM's logprobs are the model's own, before any processor (no processor
        touches these requests).

        A probe stops at each ``}`` (a vLLM stop string) and ends there if its answer closed (a ``\\boxed{}``, read
        by the policy the driver compiled with the tokenizer); if that brace was not the box's (``\\frac{1}{2}``)
        the probe goes on from there in the next batch, on its prefix-cached context. Its ids are those of one
        request decoding on, and nothing is decoded after the answer closed. ``probe_stats`` counts requests and
        decoded tokens."""
        import math

        from vllm import SamplingParams

        if not paused:
            return
        eos = sorted(paused[0][1].state.compiled.eos_token_ids)
        runs = []
        for i, row in paused:
            probe = row.paused
            context = list(encoded[i]) + row.state.generated[: probe.position] + list(probe.prefix_ids)
            room = max(1, min(probe.max_tokens, self.max_model_len - len(context)))
            compiled = row.state.compiled  # the driver's: the processor's own compiled policy has no tokenizer
            complete = compiled.probe_complete if compiled.decode is not None else None
            runs.append(_ProbeRun(row, probe, context, room, complete))
        active = runs
        while active:
            prompts = [{"prompt_token_ids": run.context + run.ids} for run in active]
            params = [
                SamplingParams(
                    temperature=0.0, max_tokens=run.room - len(run.ids), stop_token_ids=eos, logprobs=0,
                    stop=["}"] if run.complete is not None else None, include_stop_str_in_output=True,
                )
                for run in active
            ]  # fmt: skip
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            going_on = []
            for run, output in zip(active, outputs):
                completion = output.outputs[0]
                ids = list(completion.token_ids)
                probs = [math.exp(step[token].logprob) for token, step in zip(ids, completion.logprobs or [])]
                self.probe_stats["requests"] = self.probe_stats.get("requests", 0) + 1
                self.probe_stats["decoded"] = self.probe_stats.get("decoded", 0) + len(ids)
                ended = bool(ids) and ids[-1] in eos
                if ended:
                    ids, probs = ids[:-1], probs[: len(ids) - 1]
                run.ids += ids
                run.probs += probs
                at_brace = completion.stop_reason == "}"
                if at_brace and run.complete is not None and not run.complete(run.ids) and len(run.ids) < run.room:
                    going_on.append(run)
            active = going_on
        for run in runs:
            run.row.state.record_probe(run.probe, ProbeOutput(tuple(run.ids), tuple(run.probs)))
            run.row.paused = None

    def _stream(self, request: Request) -> Iterator[Event]:
        """Drives vLLM's engine one step at a time (``add_request`` / ``step``) and reads each new token's kind
        from the live forcing state of the processor (in this process). :meth:`stop` aborts the request."""
        if request.compiled.policy.adaptive is not None:
            raise NotImplementedError(
                "streaming an adaptive policy runs on the transformers backend; generate runs it on vLLM"
            )
        if not self.processor_in_process:
            raise ValueError(
                "streaming reads the processor's live state, so it needs vLLM's engine core in this process "
                "(VLLM_ENABLE_V1_MULTIPROCESSING=0, s1lib's default) and no parallel workers; generate works "
                "either way"
            )
        ids, compiled = request.prompt_ids[0], request.compiled
        key = uuid.uuid4().hex
        params = self.sampling_params(compiled, request.sampling, request.seeds[0], len(ids), key)
        params.extra_args[EXTRA_KEY]["stream"] = True  # the processor keeps each position's Step for us
        engine = self.llm.llm_engine
        engine.add_request(key, {"prompt_token_ids": ids}, params)
        detok = IncrementalDetokenizer(self.tokenizer)
        emitted, finished = 0, False
        try:
            while not finished and engine.has_unfinished_requests() and not self._stop_requested:
                for output in engine.step():
                    if output.request_id != key:
                        continue
                    finished = output.finished
                    row = REGISTRY.get(key)
                    if row is None or row.steps is None:
                        raise RuntimeError(f"s1 forcing: the processor holds no state for request {key}")
                    tokens = output.outputs[0].token_ids
                    for step, thinking, answer in row.steps[emitted : len(tokens)]:
                        done = row.state.done and step.token_id in compiled.eos_token_ids
                        yield from step_events(step, "" if done else detok.push(step.token_id), thinking, answer)
                    emitted = len(tokens)
        except BaseException:  # an error, or a consumer that stopped reading: no state stays behind
            self._forget([key])
            raise
        finally:
            if not finished:
                engine.abort_request([key])
        state = self._collect(key, compiled)
        del state.generated[emitted:]  # a step decides and emits together, so this only guards an abort mid-step
        yield done_event(request.trace(0, state, self.tokenizer, stopped=self._stop_requested))

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
