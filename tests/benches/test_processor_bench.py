"""The processor bench counts what would block on a GPU, and the processor stays within two such syncs a step.

Nothing here is timed (times are the bench's to print, side by side, never a test's to assert): the tests count
calls, on CPU tensors, with the same counter the bench uses.
"""

from __future__ import annotations

import pytest
import torch

from s1lib.benches import processor as bench
from s1lib.benches.syncs import count_syncs


def test_the_counter_sees_reads_and_pageable_copies_and_leaves_torch_as_it_was():
    x = torch.randn(5)
    before = {name: torch.Tensor.__dict__.get(name) for name in ("tolist", "item", "__int__", "to")}
    with count_syncs() as counter:
        x.tolist()
        int(x.argmax())  # int() calls item() inside: one sync
        torch.tensor([1, 2], device="cpu")  # a pageable host-to-device copy on a GPU
        torch.tensor([1, 2])  # stays on the host
        x.to("cpu")  # same device: nothing moves
    assert dict(counter.kinds) == {"tolist": 1, "int": 1, "h2d tensor": 1}
    assert {name: torch.Tensor.__dict__.get(name) for name in before} == before
    with count_syncs() as quiet:
        x.argmax()
    assert quiet.count == 0


@pytest.mark.vllm
@pytest.mark.parametrize("mode", ["greedy", "sampled"])
def test_the_v2_processor_syncs_at_most_twice_a_step(mode):
    """Batch 8, every row forced: the steps after a request's first read the index mapping and the sequence
    lengths on the host and bring the argmax or the batched draw back with the fed tokens in one transfer."""
    result = bench.measure(bench.V2, mode, batch=8, steps=3)
    assert result["syncs_per_step"] <= bench.GOAL_SYNCS, result["sync_kinds"]
    legacy = bench.measure(bench.Legacy, mode, batch=8, steps=3)
    assert legacy["syncs_per_step"] <= bench.GOAL_SYNCS, legacy["sync_kinds"]


@pytest.mark.parametrize("mode", ["greedy", "sampled"])
def test_without_vllm_the_rows_are_measured_the_same_way(mode):
    result = bench.measure(bench.Rows, mode, batch=4, steps=2)
    assert result["syncs_per_step"] <= bench.GOAL_SYNCS, result["sync_kinds"]


@pytest.mark.vllm
def test_the_bench_json_has_its_keys(capsys):
    results = bench.run_bench(json_output=True, batches=(1, 2), steps=1)
    printed = capsys.readouterr().out
    assert '"syncs_per_step"' in printed and '"us_per_row"' in printed
    assert {r["runner"] for r in results["runs"]} == {"legacy", "v2"}
    assert {(r["mode"], r["batch"]) for r in results["runs"]} == {(m, b) for m in bench.MODES for b in (1, 2)}
    for run in results["runs"]:
        assert {"processor_us", "us_per_row", "syncs_per_step", "unforced_us", "forced_over_unforced"} <= set(run)
    assert {"meets_syncs", "meets_us_per_row", "goals", "cpu"} <= set(results)
