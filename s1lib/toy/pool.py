"""The toy data: the held-out benchmark and the noisy question pool the curation funnel cleans.

Noise is injected so that every stage removes something (see ``s1lib.toy``); every row's ``metadata`` says which
noise it carries, so tests can check where each one leaves.
"""

from __future__ import annotations

import json

import numpy as np

from s1lib.ngrams import NgramIndex
from s1lib.toy.task import DOMAIN, FAMILIES, HI, LO, answer_kind, attempt_text, make_trace, question_of, random_instance

BENCH_LO = 4
"""The held-out benchmark holds the harder instances (4-7 items), the kind the curated set keeps: the simulated
attempt model of the toy config solves 3 items, so curation drops those, as s1 drops what Qwen solves."""
LONG = 7
"""Instances this long play AIME (integer answers) or GPQA (parity), which s1 pre-selects when their trace is right."""


def toy_benchmark(n: int = 100, seed: int = 1234, lo: int = BENCH_LO, hi: int = HI) -> list[dict]:
    """Held-out test problems ``{id, question, answer, kind, family, n_items}``, distinct questions, seeded."""
    rng = np.random.default_rng([seed, 7])
    out, seen = [], set()
    while len(out) < n:
        fam = FAMILIES[len(out) % len(FAMILIES)]
        inst = random_instance(rng, fam, lo, hi)
        q = question_of(inst)
        if q in seen:
            continue
        seen.add(q)
        out.append(
            {
                "id": f"toy-{len(out)}",
                "question": q,
                "answer": inst["answer"],
                "kind": answer_kind(inst),
                "family": fam,
                "n_items": len(inst["items"]),
            }
        )
    return out


CALIBRATION_SEED = 4321
"""The calibration split's seed: other problems than the held-out benchmark's (seed 1234), drawn alike."""


def toy_calibration(n: int = 200, held_out: list[dict] | None = None, seed: int = CALIBRATION_SEED) -> list[dict]:
    """``n`` calibration problems, drawn like :func:`toy_benchmark` but apart from it: none repeats a question of
    ``held_out`` (default: the 100 held-out problems). Ids are ``toy-cal-N``, so they never collide either."""
    held = {b["question"] for b in (toy_benchmark() if held_out is None else held_out)}
    out: list[dict] = []
    for row in toy_benchmark(n + len(held), seed=seed):  # more than enough: a held-out question is rare
        if row["question"] not in held:
            out.append({**row, "id": f"toy-cal-{len(out)}"})
        if len(out) == n:
            return out
    raise ValueError(f"toy_calibration: only {len(out)} problems apart from the held-out set, asked for {n}")


def _source(inst: dict) -> str:
    """The longest instances play the competition sources that s1 pre-selects when their trace is right: parity
    (a two-option choice) plays GPQA, the integer-answer families play AIME; every other row plays MATH."""
    if len(inst["items"]) < LONG:
        return "toy-math"
    return "toy-gpqa" if inst["family"] == "parity" else "toy-aime"


def _row(
    inst: dict, rng: np.random.Generator, p_wait: float, p_slip: float, p_uncaught: float, check_steps: int | None
) -> dict:
    slip = rng.random() < p_slip
    caught = not (slip and rng.random() < p_uncaught)
    wait = rng.random() < p_wait
    thinking, value, first_wrong = make_trace(inst, wait, slip, caught, rng, check_steps)
    rechecked = wait or (slip and caught)
    return {
        "question": question_of(inst),
        "solution": f"The answer is \\boxed{{{inst['answer']}}}.",
        "cot_type": "math",
        "source_type": _source(inst),
        "thinking_trajectories": [thinking],
        "attempt": attempt_text(inst, value),
        "answer": inst["answer"],
        "answer_kind": answer_kind(inst),
        "domain": DOMAIN[inst["family"]],
        "metadata": {
            "family": inst["family"],
            "n_items": len(inst["items"]),
            "noise": None,
            "wait": rechecked,
            "slip": first_wrong,
            "slip_caught": first_wrong and value == inst["answer"],
        },
    }


NOISE_FRACTIONS = {
    "no_trace": 0.03,
    "no_grade": 0.02,
    "no_solution": 0.02,
    "no_domain": 0.02,
    "format": 0.05,
    "duplicate": 0.03,
    "benchmark_copy": 0.03,
}
FORMAT_NOISE = (
    lambda q: "[asy]draw((0,0)--(1,1));[/asy] " + q,
    lambda q: q + " ![Image](figure.png)",
    lambda q: "p1. " + q + " p2. Explain.",
    lambda q: q + " (**12** points)",
)


def toy_pool(
    n: int = 600,
    seed: int = 0,
    benchmark: list[dict] | None = None,
    p_wait: float = 0.04,
    p_slip: float = 0.08,
    p_uncaught: float = 0.25,
    lo: int = LO,
    hi: int = HI,
    noise: dict[str, float] | None = None,
    check_steps: int | None = None,
) -> list[dict]:
    """``n`` pool rows in the common schema (traces, attempts, answers, domains), noise included, seeded.

    ``p_wait`` is the share of traces that re-check after their answer; a re-check is a second whole pass, or with
    ``check_steps`` = k the last k steps again (:func:`s1lib.toy.task.make_trace`). A slip (``p_slip``) is
    followed by a re-check unless it goes unnoticed (``p_uncaught``); only a re-check that covers it fixes it.

    Clean rows never repeat a question and never share an 8-gram with ``benchmark`` (default: ``toy_benchmark()``).
    """
    benchmark = toy_benchmark() if benchmark is None else benchmark
    fractions = dict(NOISE_FRACTIONS if noise is None else noise)
    rng = np.random.default_rng([seed, 11])
    index = NgramIndex(8)
    index.add_many([b["question"] for b in benchmark], "benchmark")
    counts = {k: round(v * n) for k, v in fractions.items()}
    n_clean = n - counts.get("duplicate", 0) - counts.get("benchmark_copy", 0)
    rows: list[dict] = []
    seen: set[str] = set()
    while len(rows) < n_clean:
        fam = FAMILIES[int(rng.integers(len(FAMILIES)))]
        inst = random_instance(rng, fam, lo, hi)
        q = question_of(inst)
        if q in seen or index.hit(q) is not None:
            continue
        seen.add(q)
        rows.append(_row(inst, rng, p_wait, p_slip, p_uncaught, check_steps))
    # Noise on distinct clean rows (one kind per row).
    order = [int(i) for i in rng.permutation(len(rows))]
    cursor = 0
    for kind in ("no_trace", "no_grade", "no_solution", "no_domain", "format"):
        for j in range(counts.get(kind, 0)):
            row = rows[order[cursor]]
            cursor += 1
            row["metadata"]["noise"] = kind
            if kind == "no_trace":
                row["thinking_trajectories"] = None
            elif kind == "no_grade":
                row["attempt"] = None
            elif kind == "no_solution":
                row["solution"] = None
            elif kind == "no_domain":
                row["domain"] = None
            else:  # the reference exempts AIME from its [asy] rule, so AIME-role rows get another leftover
                variant = j % len(FORMAT_NOISE)
                if variant == 0 and row["source_type"] == "toy-aime":
                    variant = 1
                row["question"] = FORMAT_NOISE[variant](row["question"])
    clean = [r for r in rows if r["metadata"]["noise"] is None]
    for _ in range(counts.get("duplicate", 0)):
        src = clean[int(rng.integers(len(clean)))]
        dup = json.loads(json.dumps(src))
        dup["metadata"]["noise"] = "duplicate"
        rows.append(dup)
    long_bench = [b for b in benchmark if len(b["question"].split()) >= 8]
    for _ in range(counts.get("benchmark_copy", 0)):
        b = long_bench[int(rng.integers(len(long_bench)))]
        items = b["question"].split(":", 1)[1].split()
        fam = b["family"]
        inst = {"family": fam, "items": items, "answer": b["answer"]}
        if fam == "count":
            inst["target"] = b["question"].split()[1]
        row = _row(inst, rng, p_wait, p_slip, p_uncaught, check_steps)
        row["question"] = "Quick one. " + b["question"]
        row["metadata"]["noise"] = "benchmark_copy"
        rows.append(row)
    perm = rng.permutation(len(rows))
    out = [rows[int(i)] for i in perm]
    for i, row in enumerate(out):
        row["metadata"]["toy_index"] = i
        row["metadata"] = json.dumps(row["metadata"])
    return out
