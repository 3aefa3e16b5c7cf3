"""A toy question pool on which the whole curation funnel, SFT and budget forcing run in CPU minutes.

Why these tasks: a 135M model can learn them from ~100-200 examples, each is solved by a procedure that keeps a
running state one step per item (so the trace grows with the instance and a capped trace is cut mid-procedure),
and some traces end with a "Wait" re-check that repairs a deliberate slip (so forcing "Wait" can fix an answer).
Items are space-separated so they tokenize cleanly. Four families, each its own MSC domain and source role:

- ``sum`` (97, arithmetic): running sums of single digits (``13+8=21``);
- ``count`` (05, counting): occurrences of a letter in a spaced letter string, with a running count, the letter and
  the target side by side on every line (``- r = r? yes 2``);
- ``max`` (06, order): the largest of two-digit numbers, with a running maximum (``83 max 83``);
- ``parity`` (94): whether a digit sum is even or odd, as a two-option choice A/B, read off the count of odd digits
  (``- 7 odd 3``, then ``3 odd digits: odd sum, so B.``).

Instances have 3-7 items; the 7-item ones play the competition sources s1 pre-selects (``toy-gpqa`` for parity,
``toy-aime`` for the others), the rest play ``toy-math``. Why these shapes (each measured on the CPU demo): see the
README's "The main job's design".

Answers are written as ``\\boxed{}`` in the attempt, so ``s1lib.eval.grading`` grades them like real benchmarks.
Noise is injected so that every stage removes something: rows without trace / attempt (grade) / solution / domain,
figure and markup leftovers (``[asy]``, ``![Image]``, ``p1.``, ``**12**``), exact duplicates, near-copies of the
held-out benchmark (decontamination) and short instances that the simulated attempt model solves (difficulty).
Every row's ``metadata`` says which noise (if any) it carries, so tests can check where each one leaves.
``toy_benchmark`` gives the held-out test set; the pool never contains one of its items (nor shares an 8-gram with
one), except the deliberate near-copies.

``toy_solver`` is a SIMULATED attempt model, not a language model: it answers correctly exactly when an instance
has at most ``max_items`` items and otherwise gives a wrong answer. It stands in for the reference's Qwen attempts
in the CPU demo; the real embedded model can be used instead (``attempt_models: ["hf:default"]``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from s1lib.curation.decontam import NgramIndex

FAMILIES = ("sum", "count", "max", "parity")
DOMAIN = {"sum": "97", "count": "05", "max": "06", "parity": "94"}
LETTERS = "abcdeghiklmnoprstu"


LO, HI = 3, 7
"""Instance lengths (items) of the pool: 3-7 items, so one pass of a trace is about 15-60 tokens."""
BENCH_LO = 4
"""The held-out benchmark holds the harder instances (4-7 items), the kind the curated set keeps: the simulated
attempt model of the toy config solves 3 items, so curation drops those, as s1 drops what Qwen solves."""
LONG = 7
"""Instances this long play AIME (integer answers) or GPQA (parity), which s1 pre-selects when their trace is right."""


def _instance(rng: np.random.Generator, family: str, lo: int, hi: int) -> dict:
    n = int(rng.integers(lo, hi + 1))
    if family == "count":
        target = LETTERS[int(rng.integers(len(LETTERS)))]
        others = [c for c in LETTERS if c != target]
        k = int(rng.integers(1, max(2, n // 2) + 1))  # at most half the letters: long runs of one letter lose the count
        items = [target] * k + [others[int(i)] for i in rng.integers(len(others), size=n - k)]
        items = [items[int(i)] for i in rng.permutation(n)]
        return {"family": family, "items": items, "target": target, "answer": str(items.count(target))}
    if family == "max":  # two-digit numbers: the largest cannot be guessed the way 9 among single digits can
        items = [str(int(v)) for v in rng.integers(10, 100, size=n)]
        return {"family": family, "items": items, "answer": str(max(int(v) for v in items))}
    digits = [str(int(d)) for d in rng.integers(1, 10, size=n)]
    if family == "sum":
        return {"family": family, "items": digits, "answer": str(sum(int(d) for d in digits))}
    return {"family": family, "items": digits, "answer": "A" if sum(int(d) for d in digits) % 2 == 0 else "B"}


def question_of(inst: dict) -> str:
    items = " ".join(inst["items"])
    if inst["family"] == "sum":
        return f"Add: {items}"
    if inst["family"] == "count":
        return f"Count {inst['target']} in: {items}"
    if inst["family"] == "max":
        return f"Largest of: {items}"
    return f"Sum parity, A=even B=odd: {items}"


def _steps(inst: dict, slip_at: int | None = None) -> tuple[list[str], str]:
    """The running-state lines of one pass, and its final value; ``slip_at`` adds an off-by-one error there.

    One short line per item (4-7 tokens: digits are single tokens), so a trace is dense in steps and its length
    grows linearly with the instance: ``3+8=11`` (sum, and parity, which reads the parity off the sum),
    ``- d = d? yes 1`` (count: the letter beside the target, both as the question's own tokens, so the comparison is
    between neighbours), ``83 max 83`` (max).
    """
    fam, items = inst["family"], inst["items"]
    lines: list[str] = []
    if fam == "sum":
        total = 0
        for i, d in enumerate(items):
            new = total + int(d) + (1 if i == slip_at else 0)
            lines.append(str(new) if i == 0 else f"{total}+{d}={new}")
            total = new
        return lines, str(total)
    if fam == "count":
        count = 0
        for i, c in enumerate(items):
            hit = c == inst["target"]
            count += hit + (1 if i == slip_at else 0)
            lines.append(f"- {c} = {inst['target']}? {'yes' if hit else 'no'} {count}")
        return lines, str(count)
    if fam == "max":
        best = 0
        for i, d in enumerate(items):
            best = max(best, int(d))
            if i == slip_at:
                best = best + 1 if best < 99 else best - 1
            lines.append(f"{d} max {best}")
        return lines, str(best)
    # parity: a sum is odd exactly when it has an odd number of odd terms, so count the odd digits (the count
    # skill; a running odd/even flip, or the parity of a running sum, is much harder for a small model)
    odd = 0
    for i, d in enumerate(items):
        is_odd = int(d) % 2 == 1
        odd += is_odd + (1 if i == slip_at else 0)
        lines.append(f"- {d} {'odd' if is_odd else 'even'} {odd}")
    return lines, "B" if odd % 2 else "A"


_RESULT = {
    "sum": "Sum: {v}.",
    "count": "Count: {v}.",
    "max": "Largest: {v}.",
    "parity": "{s} odd digits: {p} sum, so {v}.",  # the choice letter is read off the question's legend here
}
RECHECK = "Wait, let me check."
"""Starts the re-check pass; its first token is the engine's default ignore string, so a forced Wait starts one."""


def _result(inst: dict, value: str, lines: list[str]) -> str:
    parity = {"A": "even", "B": "odd"}.get(value, value)
    odd_digits = lines[-1].rpartition(" ")[2] if lines else ""  # the parity family's count of odd digits
    return _RESULT[inst["family"]].format(v=value, p=parity, s=odd_digits)


def make_trace(inst: dict, wait: bool, slip: bool, caught: bool, rng: np.random.Generator) -> tuple[str, str, bool]:
    """``(thinking, final answer, first pass wrong)``: a slip is repaired only when a "Wait" re-check follows.

    A slip in ``max`` can heal itself (a later larger digit); the third value says whether the first pass was wrong.
    """
    n = len(inst["items"])
    slip_at = int(rng.integers(n)) if slip else None
    lines, value = _steps(inst, slip_at)
    first_wrong = value != inst["answer"]
    text = [*lines, _result(inst, value, lines)]
    if wait or (slip and caught):
        check_lines, check_value = _steps(inst)
        text += [RECHECK, *check_lines]
        if check_value != value:
            text.append(f"I made a slip before. {_result(inst, check_value, check_lines)}")
        else:
            text.append(f"Same. {_result(inst, check_value, check_lines)}")
        value = check_value
    return "\n".join(text), value, first_wrong


def _attempt(inst: dict, value: str) -> str:
    return f"\\boxed{{{value}}}"


def _kind(inst: dict) -> str:
    return "choice" if inst["family"] == "parity" else "integer"


def toy_benchmark(n: int = 100, seed: int = 1234, lo: int = BENCH_LO, hi: int = HI) -> list[dict]:
    """Held-out test problems ``{id, question, answer, kind, family, n_items}``, distinct questions, seeded."""
    rng = np.random.default_rng([seed, 7])
    out, seen = [], set()
    while len(out) < n:
        fam = FAMILIES[len(out) % len(FAMILIES)]
        inst = _instance(rng, fam, lo, hi)
        q = question_of(inst)
        if q in seen:
            continue
        seen.add(q)
        out.append(
            {
                "id": f"toy-{len(out)}",
                "question": q,
                "answer": inst["answer"],
                "kind": _kind(inst),
                "family": fam,
                "n_items": len(inst["items"]),
            }
        )
    return out


def _source(inst: dict) -> str:
    """The longest instances play the competition sources that s1 pre-selects when their trace is right: parity
    (a two-option choice) plays GPQA, the integer-answer families play AIME; every other row plays MATH."""
    if len(inst["items"]) < LONG:
        return "toy-math"
    return "toy-gpqa" if inst["family"] == "parity" else "toy-aime"


def _row(inst: dict, rng: np.random.Generator, p_wait: float, p_slip: float, p_uncaught: float) -> dict:
    slip = rng.random() < p_slip
    caught = not (slip and rng.random() < p_uncaught)
    wait = rng.random() < p_wait
    thinking, value, first_wrong = make_trace(inst, wait, slip, caught, rng)
    rechecked = wait or (slip and caught)
    return {
        "question": question_of(inst),
        "solution": f"The answer is \\boxed{{{inst['answer']}}}.",
        "cot_type": "math",
        "source_type": _source(inst),
        "thinking_trajectories": [thinking],
        "attempt": _attempt(inst, value),
        "answer": inst["answer"],
        "answer_kind": _kind(inst),
        "domain": DOMAIN[inst["family"]],
        "metadata": {
            "family": inst["family"],
            "n_items": len(inst["items"]),
            "noise": None,
            "wait": rechecked,
            "slip": first_wrong,
            "slip_caught": first_wrong and rechecked,
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
) -> list[dict]:
    """``n`` pool rows in the common schema (traces, attempts, answers, domains), noise included, seeded.

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
        inst = _instance(rng, fam, lo, hi)
        q = question_of(inst)
        if q in seen or index.hit(q) is not None:
            continue
        seen.add(q)
        rows.append(_row(inst, rng, p_wait, p_slip, p_uncaught))
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
        row = _row(inst, rng, p_wait, p_slip, p_uncaught)
        row["question"] = "Quick one. " + b["question"]
        row["metadata"]["noise"] = "benchmark_copy"
        rows.append(row)
    perm = rng.permutation(len(rows))
    out = [rows[int(i)] for i in perm]
    for i, row in enumerate(out):
        row["metadata"]["toy_index"] = i
        row["metadata"] = json.dumps(row["metadata"])
    return out


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


_NUM = re.compile(r"\S+")


def parse_question(question: str) -> dict | None:
    """Recover a toy instance from its question text (None if it is not a toy question)."""
    q = question.strip()
    for prefix in ("Quick one. ",):
        q = q.removeprefix(prefix)
    if ":" not in q:
        return None
    head, tail = q.split(":", 1)
    items = tail.split()
    try:
        if head == "Add":
            return {"family": "sum", "items": items, "answer": str(sum(int(x) for x in items))}
        if head == "Largest of":
            return {"family": "max", "items": items, "answer": str(max(int(x) for x in items))}
        if head == "Sum parity, A=even B=odd":
            return {"family": "parity", "items": items, "answer": "A" if sum(int(x) for x in items) % 2 == 0 else "B"}
        if head.startswith("Count ") and len(head.split()) == 3:
            target = head.split()[1]
            return {"family": "count", "items": items, "target": target, "answer": str(items.count(target))}
    except ValueError:
        return None
    return None


def toy_solver(max_items: int = 5):
    """A SIMULATED attempt model (not a language model): right iff the instance has ≤ ``max_items`` items.

    Deterministic; wrong answers are the right one shifted (or the other option), so they grade as wrong.
    """

    def attempt(questions: list[str]) -> list[str]:
        out = []
        for q in questions:
            inst = parse_question(q)
            if inst is None:
                out.append("I cannot solve this.")
                continue
            value = inst["answer"]
            if len(inst["items"]) > max_items:
                value = {"A": "B", "B": "A"}.get(value) or str(int(value) + 1)
            out.append(f"\\boxed{{{value}}}")
        return out

    return attempt
