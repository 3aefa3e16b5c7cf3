"""The reference's multi-call budget forcing, backend-independent: what our single-pass engine is measured against.

s1's reference extends thinking by calling ``generate`` once per "Wait" round over the rows still thinking,
re-submitting each row's whole sequence. Here it is with the reference's bugs fixed (the budget is counted across
rounds; an empty request list ends the loop instead of crashing), so it decodes the same tokens as our engine, and
the benchmarks can compare the time of the two methods, not of two behaviours. Each backend supplies two calls:

- ``think(sequences, max_new_tokens, stop_ids)`` → per row ``(new_tokens, stopped)``: greedy continuation of every
  sequence by at most its budget, ``new_tokens`` without the stop token that ended it;
- ``answer(sequences)`` → per row the answer tokens, in whatever form the caller compares.
"""

from __future__ import annotations

from collections.abc import Callable

from s1lib.forcing.policy import CompiledPolicy

ThinkFn = Callable[[list[list[int]], list[int], list[int]], list[tuple[list[int], bool]]]
AnswerFn = Callable[[list[list[int]]], list[list[int]]]


def reference_multicall(
    prompt_ids: list[list[int]], compiled: CompiledPolicy, think: ThinkFn, answer: AnswerFn
) -> list[list[int]]:
    """Per row: the generated ids after its prompt (thinking, forced Waits, end of thinking, answer prefix if
    capped, then ``answer``'s tokens)."""
    policy = compiled.policy
    if not policy.thinking_phase:
        raise ValueError("reference_multicall compares budget forcing: the policy needs a thinking phase")
    cap = policy.max_thinking_tokens or 0
    stop_ids = sorted(compiled.end_attempt_ids)
    seqs = [list(p) for p in prompt_ids]
    used = [0] * len(seqs)
    capped = [True] * len(seqs)
    active = list(range(len(seqs)))
    for round_index in range(policy.num_ignore + 1):
        active = [i for i in active if cap - used[i] > 0]
        if not active:  # the reference crashed here with an empty request list
            break
        continued = think([seqs[i] for i in active], [cap - used[i] for i in active], stop_ids)
        still = []
        for i, (new, stopped) in zip(active, continued):
            seqs[i] += new
            used[i] += len(new)
            if not stopped:
                continue
            if round_index == policy.num_ignore:
                capped[i] = False
                continue
            wait = compiled.ignore_ids[round_index % len(compiled.ignore_ids)][: cap - used[i]]
            seqs[i] += wait
            used[i] += len(wait)
            still.append(i)
        active = still
    for i in range(len(seqs)):
        seqs[i] += compiled.think_end_ids + (compiled.answer_prefix_ids if capped[i] else [])
    return [seq[len(prompt) :] + tail for seq, prompt, tail in zip(seqs, prompt_ids, answer(seqs))]
