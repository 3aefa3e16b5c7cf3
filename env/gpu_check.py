"""GPU check of the transformers path, on a machine with torch, transformers and accelerate and nothing else.

    PYTHONPATH=. python env/gpu_check.py          # on a CUDA machine (no internet, no model files needed)
    PYTHONPATH=. python env/gpu_check.py --cpu    # the same checks on this CPU: to try the script itself

Everything is built here: a byte-level BPE tokenizer with ChatML's special tokens (trained in memory on a few
lines) and tiny random Llamas. One line per check, ``PASS``/``FAIL`` and what was measured; the exit code is the
number of failures. Checks: what ``auto`` precision chose; greedy forcing (a cap, forced Waits) gives the same
tokens batched as alone; sampled forcing runs on the device, a seed reproduces its rows, and a row's tokens do not
depend on what else is in its batch; the prefix-sharing sweep equals the per-policy runs; adaptive probes branch
off the device's KV cache (batched as alone); one SFT step in bf16 on s1lib's loss mask. It needs no wheel beyond
torch, transformers (with its tokenizers) and accelerate; s1lib's own imports on this path are those three and the
standard library, plus numpy and tqdm, which torch and transformers bring.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (to try the script without a GPU)")
    args = parser.parse_args(argv)
    device = "cpu" if args.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("FAIL device: torch sees no CUDA device (use --cpu to try the script on a CPU)")
        return 1
    import transformers

    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(f"INFO {name}; torch {torch.__version__}, transformers {transformers.__version__}", flush=True)

    from s1lib.forcing import BudgetPolicy, SamplingConfig
    from s1lib.forcing.adaptive import AdaptiveStop
    from s1lib.backends.hf import HFEngine
    from s1lib.backends.prefix_sharing import generate_sweep
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

    if device == "cuda":
        print(f"INFO peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    failed = f" ({', '.join(FAILURES)})" if FAILURES else ""
    print(f"{'FAIL' if FAILURES else 'PASS'} all: {len(FAILURES)} failed{failed}")
    return len(FAILURES)


if __name__ == "__main__":
    sys.exit(main())
