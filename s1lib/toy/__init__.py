"""Toy data shared by every stage: a question pool on which the whole curation funnel, SFT and budget forcing run
in CPU minutes, its held-out benchmark, a simulated attempt model, and plain arithmetic SFT records.

Why these tasks: a 135M model can learn them from ~100-200 examples, each is solved by a procedure that keeps a
running state one step per item (so the trace grows with the instance and a capped trace is cut mid-procedure),
and some traces end with a "Wait" re-check that repairs a deliberate slip (so forcing "Wait" can fix an answer).
Items are space-separated so they tokenize cleanly. Four families, each its own MSC domain and source role:

- ``sum`` (97, arithmetic): running sums of single digits (``13+8=21``);
- ``count`` (05, counting): occurrences of a letter in a spaced letter string, with a running count, the letter and
  the target side by side on every line (``- r = r? yes 2``);
- ``max`` (06, order): the largest of two-digit numbers, with a running maximum (``83 max 83``);
- ``parity`` (94): whether a digit sum is even or odd, as a two-option choice A/B, read off the count of odd digits
  (``- 7 odd 3``, then ``3 odd digits: odd sum. Answer: B.``).

Each pass ends in an ``Answer:`` line, which the extraction rules read, so the efficiency figures find where the
answer is first there in the thinking. ``toy_pool(p_wait=..., check_steps=...)`` sets the share of traces that
re-check after their answer ("Wait, let me check.") and how: a second whole pass, or the last ``check_steps``
steps again, which finds a slip among them and repeats an earlier one. The demo re-checks 9 traces in 10 by their
last two steps (why, and what the other recipes measured: ``docs/adaptive-budgets.md``, "The demo's model
re-checks").

Instances have 3-7 items; the 7-item ones play the competition sources s1 pre-selects (``toy-gpqa`` for parity,
``toy-aime`` for the others), the rest play ``toy-math``. Why these shapes: each was measured on the CPU demo (see
``docs/measurements.md``).

Answers are written as ``\\boxed{}`` in the attempt, so ``s1lib.eval.grading`` grades them like real benchmarks.
Noise is injected so that every stage removes something: rows without trace / attempt (grade) / solution / domain,
figure and markup leftovers (``[asy]``, ``![Image]``, ``p1.``, ``**12**``), exact duplicates, near-copies of the
held-out benchmark (decontamination) and short instances that the simulated attempt model solves (difficulty).
Every row's ``metadata`` says which noise (if any) it carries, so tests can check where each one leaves.
``toy_benchmark`` gives the held-out test set and ``toy_calibration`` problems drawn alike but apart from it (to
calibrate adaptive budgets on, :mod:`s1lib.eval.calibration`); the pool never contains one of the held-out items
(nor shares an 8-gram with one), except the deliberate near-copies.

``toy_solver`` is a SIMULATED attempt model, not a language model: it answers correctly exactly when an instance
has at most ``max_items`` items and otherwise gives a wrong answer. It stands in for the reference's Qwen attempts
in the CPU demo; the real embedded model can be used instead (``attempt_models: ["hf:default"]``). ``toy_sampler``
is its sampled twin for LIMO's pass-rate bands: each attempt is a whole chain, right with a probability that halves
per item beyond ``max_items``.

Modules: ``task`` (families, instances, questions, traces), ``pool`` (``toy_benchmark``, ``toy_pool``), ``solver``
(``parse_question``, ``toy_solver``) and ``arithmetic`` (``toy_records``: arithmetic with self-checking traces,
what ``TrainConfig(data="toy")`` trains on and the SFT benches measure).
"""

from s1lib.toy.arithmetic import toy_records
from s1lib.toy.pool import toy_benchmark, toy_calibration, toy_pool
from s1lib.toy.solver import parse_question, toy_sampler, toy_solver
from s1lib.toy.task import DOMAIN, FAMILIES, RECHECK, make_trace, question_of

__all__ = [
    "DOMAIN",
    "FAMILIES",
    "RECHECK",
    "make_trace",
    "parse_question",
    "question_of",
    "toy_benchmark",
    "toy_calibration",
    "toy_pool",
    "toy_records",
    "toy_sampler",
    "toy_solver",
]
