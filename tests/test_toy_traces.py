"""The toy's traces (s1lib.toy.task): one pass of running-state lines, an answer line the extraction rules read, and
a re-check that repairs exactly the slips it covers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from s1lib.answers import answer_candidates
from s1lib.toy import RECHECK, make_trace, toy_pool
from s1lib.toy.task import _steps

SUM = {"family": "sum", "items": ["7", "4", "3", "8", "8"], "answer": "30"}


class FixedSlip:
    """An rng whose ``integers`` picks the slip's position: make_trace draws only that."""

    def __init__(self, at: int):
        self.at = at

    def integers(self, n: int) -> int:
        return self.at


@pytest.mark.parametrize(
    ("slip_at", "check_steps", "final", "fixed"),
    [
        (None, 2, "30", False),  # no slip: the check agrees
        (4, 2, "30", True),  # a slip in the last step: the check of the last two finds it
        (3, 2, "30", True),  # in the second-to-last: found too
        (1, 2, "31", False),  # before the checked steps: the check repeats it ("Same.")
        (1, None, "30", True),  # a whole second pass finds any slip
    ],
)
def test_a_check_repairs_exactly_the_slips_it_covers(slip_at, check_steps, final, fixed):
    rng = FixedSlip(slip_at if slip_at is not None else 0)
    thinking, value, first_wrong = make_trace(SUM, True, slip_at is not None, True, rng, check_steps)
    lines = thinking.split("\n")
    assert value == final and first_wrong == (slip_at is not None)
    assert lines[lines.index(RECHECK) - 1].startswith("Answer: ")
    checked = lines[lines.index(RECHECK) + 1 : -1]
    assert len(checked) == (len(SUM["items"]) if check_steps is None else check_steps)
    assert lines[-1] == ("I made a slip before. " if fixed else "Same. ") + f"Answer: {final}."
    # The extraction rules read both answer lines: the efficiency figures find where the answer is first there.
    assert [a for _, a in answer_candidates(thinking)] == [_steps(SUM, slip_at)[1], final]


@pytest.mark.parametrize("family", ["sum", "count", "max", "parity"])
def test_every_family_states_its_answer_on_an_answer_line(family):
    pool = [r for r in toy_pool(60, seed=2, check_steps=2, p_wait=1.0) if json.loads(r["metadata"])["noise"] is None]
    rows = [r for r in pool if json.loads(r["metadata"])["family"] == family]
    assert rows
    for r in rows:
        found = [a for _, a in answer_candidates(r["thinking_trajectories"][0])]
        assert len(found) == 2 and f"\\boxed{{{found[-1]}}}" == r["attempt"]


def test_the_pool_re_checks_its_share_and_marks_what_a_check_fixed():
    pool = [r for r in toy_pool(400, seed=4, p_wait=0.9, check_steps=2, p_slip=0.3) if r["thinking_trajectories"]]
    meta = [json.loads(r["metadata"]) for r in pool]
    assert 0.85 < sum(m["wait"] for m in meta) / len(pool) < 0.98
    fixed = [r for r, m in zip(pool, meta) if m["slip_caught"]]
    missed = [r for r, m in zip(pool, meta) if m["slip"] and m["wait"] and not m["slip_caught"]]
    assert fixed and missed  # a check of the last two steps finds some slips and repeats others
    assert all("I made a slip before" in r["thinking_trajectories"][0] for r in fixed)
    assert all(r["attempt"] != f"\\boxed{{{r['answer']}}}" for r in missed)
    assert np.mean([m["slip_caught"] for m in meta if m["slip"]]) < 1
