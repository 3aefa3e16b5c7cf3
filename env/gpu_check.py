"""GPU check of the transformers path, on a machine with torch, transformers and accelerate and nothing else.

    PYTHONPATH=. python env/gpu_check.py          # on a CUDA machine (no internet, no model files needed)
    PYTHONPATH=. python env/gpu_check.py --cpu    # the same checks on this CPU: to try the script itself

It starts with what decides whether the GPU stack can run here, in ``INFO`` lines: the NVIDIA driver (and the
newest CUDA it runs), the CUDA runtime torch was built for, torch, and each GPU with its memory. A driver older
than torch's CUDA (vLLM 0.33's default wheels are CUDA 13: driver 580 or newer) is a ``FAIL`` that names the CUDA 12
route (docs/gpu.md), since torch then only says it sees no GPU.
Everything is built here: a byte-level BPE tokenizer with ChatML's special tokens (trained in memory on a few
lines) and tiny random Llamas. One line per check, ``PASS``/``FAIL`` and what was measured; the exit code is the
number of failures. Checks: what ``auto`` precision chose; greedy forcing (a cap, forced Waits) gives the same
tokens batched as alone; sampled forcing runs on the device, a seed reproduces its rows, and a row's tokens do not
depend on what else is in its batch; the prefix-sharing sweep equals the per-policy runs; adaptive probes branch
off the device's KV cache (batched as alone); one SFT step in bf16 on s1lib's loss mask; the forcing processor's
cost a step (``s1 bench processor`` without vLLM: syncs a step and µs a row on the device). It needs no wheel beyond
torch, transformers (with its tokenizers) and accelerate; s1lib's own imports on this path are those three and the
standard library, plus numpy and tqdm, which torch and transformers bring.
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "think answer Wait Final Answer: \\boxed{7} Hmm let me check 1 2 3 4 5 6 7 8 9 0 + - = ? .",
    "What is 7 + 5? The answer is 12. How many r are in raspberry? There are 3.",
    "system user assistant You are a helpful assistant. Alternatively, so the sum is",
]
QUESTIONS = ["What is 7 + 5?", "How many r are in raspberry?", "What is 3 + 4?", "Is 9 odd?"]
FAILURES: list[str] = []


def check(name: str):
    """Run one check; print ``PASS name: detail`` or ``FAIL name: reason``."""

    def wrap(fn):
        started = time.monotonic()
        try:
            detail = fn()
            print(f"PASS {name}: {detail} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception as exc:  # one line, with where it failed
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"FAIL {name}: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})")
            FAILURES.append(name)
        return fn

    return wrap


def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 as in SmolLM2
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHATML
    return fast


def tiny_llama(tok, device: str, dtype: torch.dtype, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True, bos_token_id=1,
        eos_token_id=2, pad_token_id=0, initializer_range=0.5,
    )  # fmt: skip
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).to(device=device, dtype=dtype).eval()


def end_provoker(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Make the random model try to end thinking often (depends only on the last token), as the CPU tests do."""
    scores = scores.clone()
    last = input_ids[:, -1]
    scores[last % 5 == 0, 1] += 1e4
    scores[last % 7 == 3, 2] += 1e4
    return scores


def ids(traces) -> list[list[int]]:
    return [t.generated_ids for t in traces]


def driver_version() -> str | None:
    """The NVIDIA driver's version, from ``nvidia-smi`` (None where there is none, or it fails)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
        )
    except OSError:
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def driver_cuda() -> tuple[int, int] | None:
    """The newest CUDA the installed driver runs (``cuDriverGetVersion`` of libcuda), or None without a driver."""
    try:
        version = ctypes.c_int()
        if ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return version.value // 1000, version.value % 1000 // 10


def describe_stack() -> list[str]:
    """``INFO`` lines on the driver, CUDA, torch and GPUs, and a ``FAIL`` line where the driver is older than the
    CUDA torch was built for (torch then reports no GPU, which hides the reason)."""
    import transformers

    runs = driver_cuda()
    built = torch.version.cuda
    lines = [
        f"INFO driver {driver_version() or 'none found (no nvidia-smi)'}"
        + (f", runs CUDA up to {runs[0]}.{runs[1]}" if runs else ""),
        f"INFO torch {torch.__version__}, CUDA runtime {built or 'none (a CPU build of torch)'}, "
        f"cuDNN {torch.backends.cudnn.version() if built else None}, transformers {transformers.__version__}",
    ]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            lines.append(
                f"INFO GPU {index}: {props.name}, {props.total_memory / 2**30:.1f} GiB, "
                f"compute capability {props.major}.{props.minor}"
            )
    else:
        lines.append("INFO no GPU that torch can use")
    if built and runs and tuple(int(part) for part in built.split(".")[:2]) > runs:
        lines.append(
            f"FAIL driver: torch is built for CUDA {built}, the driver runs CUDA up to {runs[0]}.{runs[1]}: update "
            "the driver (CUDA 13 needs 580 or newer), or install the CUDA 12 build: "
            "make setup GPU=1 CUDA=12 FLAVOUR_CHANGE=1 (docs/gpu.md)"
        )
    return lines


def processor_check(device: str) -> None:
    """``s1 bench processor``'s measurement without vLLM: the rows both of vLLM's processor classes keep, every row
    forced, decided on random logits (vocabulary 49,152) on the device, greedy and sampled. PASS when a step makes
    at most 2 calls that block on the GPU; the line gives each batch's time a row (the step, device work included)
    and the ratio to the same batch picked without forcing."""

    @check("processor cost a step (s1 bench processor, rows)")
    def _():
        from s1lib.benches import processor as bench

        batches = (1, 64, 256) if device == "cuda" else (1, 16)
        results = bench.run_bench(device=device, batches=batches, steps=3, classes=[bench.Rows], say=lambda _: None)
        worst = max(r["syncs_per_step"] for r in results["runs"])
        assert worst <= bench.GOAL_SYNCS, f"{worst} syncs a step (goal {bench.GOAL_SYNCS}): {results['runs']}"
        return f"syncs a step: at most {worst}; " + ", ".join(
            f"{r['mode']} b{r['batch']} {r['step_us'] / r['batch']:.1f} µs/row x{r['forced_over_unforced']}"
            for r in results["runs"]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (to try the script without a GPU)")
    args = parser.parse_args(argv)
    device = "cpu" if args.cpu else "cuda"
    stack = describe_stack()
    print("\n".join(stack), flush=True)
    if device == "cuda" and any(line.startswith("FAIL") for line in stack):
        return 1
    if device == "cuda" and not torch.cuda.is_available():
        print("FAIL device: torch sees no CUDA device (use --cpu to try the script on a CPU)")
        return 1
    if device == "cpu":
        print("INFO --cpu: the checks run on this CPU, no GPU is used", flush=True)

    from s1lib.backends.hf import HFEngine
    from s1lib.backends.prefix_sharing import generate_sweep
    from s1lib.forcing import BudgetPolicy, SamplingConfig
    from s1lib.forcing.adaptive import AdaptiveStop
    from s1lib.precision import resolve_precision

    tok = tokenizer()
    engine = HFEngine(tiny_llama(tok, device, torch.float32), tok)
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    capped = BudgetPolicy(max_thinking_tokens=24, max_answer_tokens=8)
    waits = BudgetPolicy(max_thinking_tokens=48, num_ignore=2, max_answer_tokens=8)
    nudge = (end_provoker,)

    @check("auto precision")
    def _():
        resolution = resolve_precision("auto", device)
        if device == "cuda" and torch.cuda.is_bf16_supported() and resolution.dtype != "bfloat16":
            raise AssertionError(f"auto chose {resolution.dtype} on a bf16 GPU ({resolution.reason})")
        return f"{resolution.dtype} ({resolution.reason})"

    @check("greedy forcing, batched = alone")
    def _():
        out = []
        for policy in (capped, waits):
            batched = engine.generate(prompts, policy, batch_size=4, extra_processors=nudge)
            alone = [engine.generate([p], policy, batch_size=1, extra_processors=nudge)[0] for p in prompts]
            assert ids(batched) == ids(alone), f"{policy.label()}: batched tokens differ from alone"
            assert all(t.thinking_tokens <= (policy.max_thinking_tokens or 0) for t in batched)
            out.append(f"{policy.label()}: {sum(t.num_waits for t in batched)} Waits")
        assert "0 Waits" not in out[1], "no Wait was forced: the check saw no suppression"
        return "; ".join(out)

    @check("sampled forcing on the device, seeds")
    def _():
        sampling = SamplingConfig(temperature=0.8, top_p=0.95, top_k=50, seed=11)
        first = engine.generate(prompts, waits, sampling, batch_size=4, extra_processors=nudge)
        again = engine.generate(prompts, waits, sampling, batch_size=4, extra_processors=nudge)
        assert ids(first) == ids(again), "the same seeds gave other tokens"
        alone = [
            engine.generate([p], waits, sampling, batch_size=1, seeds=[sampling.seed + i], extra_processors=nudge)[0]
            for i, p in enumerate(prompts)
        ]
        same = sum(a == b for a, b in zip(ids(first), ids(alone)))
        assert same == len(prompts), f"only {same} of {len(prompts)} sampled rows are the same batched as alone"
        reseeded = SamplingConfig(temperature=0.8, top_p=0.95, top_k=50, seed=12)
        other = engine.generate(prompts, waits, reseeded, batch_size=4, extra_processors=nudge)
        assert ids(other) != ids(first), "another seed gave the same tokens"
        return f"{len(prompts)} rows reproduce, batched = alone, another seed differs"

    @check("prefix-sharing sweep = per-policy runs")
    def _():
        policies = [BudgetPolicy(max_thinking_tokens=n, max_answer_tokens=6) for n in (8, 16, 32)]
        shared = generate_sweep(engine, prompts, policies, batch_size=4, extra_processors=nudge)
        separate = generate_sweep(engine, prompts, policies, batch_size=4, extra_processors=nudge, share_prefix=False)
        assert [ids(t) for t in shared] == [ids(t) for t in separate], "the shared sweep's tokens differ"
        return f"{len(policies)} caps x {len(prompts)} prompts, same tokens"

    @check("adaptive probes off the device's KV cache")
    def _():
        policy = BudgetPolicy(
            max_thinking_tokens=40, max_answer_tokens=4, adaptive=AdaptiveStop(probe_every=6, probe_tokens=5, agree=2)
        )
        batched = engine.generate(prompts, policy, batch_size=4)
        alone = [engine.generate([p], policy, batch_size=1)[0] for p in prompts]
        assert ids(batched) == ids(alone), "adaptive traces differ batched and alone"
        probes = sum(len(t.probes) for t in batched)
        assert probes > 0, "no probe ran"
        assert [[p.answer for p in t.probes] for t in batched] == [[p.answer for p in t.probes] for t in alone]
        stopped = sum(t.thinking_end_reason == "adaptive" for t in batched)
        return f"{probes} probes, {stopped} of {len(prompts)} stopped early, batched = alone"

    @check("one SFT step in bf16 (s1lib's loss mask)")
    def _():
        from s1lib.train.data import encode_example

        model = tiny_llama(tok, device, torch.bfloat16, seed=1).train()
        example = encode_example(tok, "What is 7 + 5?", "7 + 5 = 12. Wait, let me check: 12.", "\\boxed{12}")
        input_ids = torch.tensor([example["input_ids"]], device=device)
        labels = torch.tensor([example["labels"]], device=device)
        masked = int((labels == -100).sum())
        assert 0 < masked < labels.numel(), "the prompt is not masked out of the loss"
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        before = model.model.embed_tokens.weight.detach().float().clone()
        losses = []
        for _ in range(2):
            loss = model(input_ids=input_ids, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
        assert model.dtype == torch.bfloat16 and all(torch.isfinite(torch.tensor(losses)))
        moved = float((model.model.embed_tokens.weight.detach().float() - before).abs().max())
        assert moved > 0, "the step changed no weight"
        return f"loss {losses[0]:.3f} -> {losses[1]:.3f}, {masked} of {labels.numel()} tokens masked, bf16"

    processor_check(device)

    if device == "cuda":
        print(f"INFO peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    failed = f" ({', '.join(FAILURES)})" if FAILURES else ""
    print(f"{'FAIL' if FAILURES else 'PASS'} all: {len(FAILURES)} failed{failed}")
    return len(FAILURES)


if __name__ == "__main__":
    sys.exit(main())
