"""Answer extraction and grading, table-driven on REAL MATH500 gold answers (picked by unique_id)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time

import pytest

from s1lib.eval.benchmarks import Problem, load_benchmark
from s1lib.eval.grading import (
    GradingConfig,
    MathVerifier,
    compare,
    extract_answer,
    grade,
    is_equivalent,
    last_boxed,
    parse_choice,
    parse_integer,
)
from s1lib.text_format import Delimiters


@pytest.fixture(scope="module")
def verifier():
    v = MathVerifier(GradingConfig(timeout=30.0))  # generous: the machine is shared; a timeout fails the row
    yield v
    v.close()


@pytest.fixture(scope="module")
def math500_gold(shared_data) -> dict[str, str]:
    with (shared_data / "math500.jsonl").open() as fh:
        rows = [json.loads(line) for line in fh]
    return {row["unique_id"]: row["answer"] for row in rows}


# ---------------------------------------------------------------------------------------------------------------------
# Extraction

EXTRACTION = [
    ("thinking \\boxed{1}<|im_start|>answer\nAnswer: \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("<|im_start|>answer\nso \\boxed{\\frac{a}{b}} then \\fbox{\\{1, 2\\}}.", "\\{1, 2\\}"),
    ("<think>\\boxed{7}</think>\n**Final Answer:** $\\dfrac{3}{4}$.", "\\dfrac{3}{4}"),
    ("<|im_start|>answer\nFinal Answer: 25 \n", "25"),
    ("<|im_start|>answer\nAnswer: $(3, 4]$.", "(3, 4]"),
    ("Answer: 3\nmore text\nFinal Answer: 4", "4"),
    ("<|im_start|>answer\nAnswer:\n\n  42.\n", "42"),
    ("no delimiter at all, but \\boxed{x^{2}+1} at the end", "x^{2}+1"),
    ("<|im_start|>answer\n\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("<|im_start|>answer\nthe last box is cut \\boxed{12} and \\boxed{\\frac{1", "12"),
    ("<|im_start|>answer\nanswer is \\boxed 5", "5"),
    ("<|im_start|>think\nAnswer: 9\n<|im_start|>answer\nI am not sure.", None),
    ("", None),
    ("just prose with no answer", None),
]


@pytest.mark.parametrize(("completion", "expected"), EXTRACTION)
def test_extract_answer(completion, expected):
    assert extract_answer(completion) == expected


ANSWER_SEGMENT = {  # name: (completion, delimiters, the answer read from the segment after thinking ended)
    "re-opened delimiter": ("68 max<|im_start|>answer\nFinal Answer: \\boxed{68}\n<|im_start|>answer", "s1", "68"),
    "re-opened, no box": ("x<|im_start|>answer\nFinal Answer: 68\n<|im_start|>answer\n", "s1", "68"),
    "boxed then boxed again": ("t<|im_start|>answer\nFinal Answer: \\boxed{3}. Or rather \\boxed{4}", "s1", "4"),
    "thinking's box is not the answer": ("\\boxed{1}<|im_start|>answer\nFinal Answer: 2", "s1", "2"),
    "</think> model": ("hmm \\boxed{1}</think>So: \\boxed{2}</think>", "think-tags", "2"),
    "</think> model, default presets": ("hmm</think>The answer: 5.</think>", None, "5"),
    "no delimiter (never closed)": ("thinking that ran out \\boxed{7}", "s1", "7"),
    "cut by the answer budget": ("t<|im_start|>answer\nFinal Answer: \\boxed{12", "s1", None),
    "cut, an earlier closed box": ("t<|im_start|>answer\nso \\boxed{12}, Final Answer: \\boxed{1", "s1", "12"),
}


@pytest.mark.parametrize("case", ANSWER_SEGMENT)
def test_the_answer_is_read_after_the_delimiter_that_ended_thinking(case):
    completion, delimiters, expected = ANSWER_SEGMENT[case]
    assert extract_answer(completion, delimiters) == expected
    problem = Problem("p", "q", "68" if expected is None else expected, "math", "toy")
    verdict = grade(problem, completion, delimiters)
    assert verdict.correct == (expected is not None) and verdict.extracted == expected


def test_extract_answer_with_explicit_delimiters():
    text = "</think>\\boxed{1}\n<|im_start|>answer\nno answer here"
    assert extract_answer(text, delimiters="think-tags") == "1"
    assert extract_answer(text, delimiters="s1") is None
    assert extract_answer(text) == "1"  # default: after the first end delimiter of either preset
    assert extract_answer("[END] Answer: 3", delimiters=Delimiters("[BEGIN]", "[END]")) == "3"


def test_last_boxed_nested_and_escaped_braces():
    assert last_boxed("\\boxed{\\frac{1}{\\sqrt{2}}}") == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"
    assert last_boxed("\\boxed{unclosed") is None


# ---------------------------------------------------------------------------------------------------------------------
# Integers (AIME) and letters (GPQA)

INTEGERS = [
    ("025", "25", "correct"),
    ("025", "025", "correct"),
    ("025", "\\boxed{025}", "correct"),
    ("025", "25.", "correct"),
    ("025", "25.0", "correct"),
    ("204", "$204$", "correct"),
    ("110", "110^\\circ", "correct"),
    ("025", "\\frac{50}{2}", "correct"),  # not a plain integer: math-verify decides
    ("025", "24", "wrong"),
    ("025", "250", "wrong"),
    ("025", "25.5", "wrong"),
    ("025", "", "unparsed"),
    ("025", None, "unparsed"),
]


@pytest.mark.parametrize(("gold", "pred", "status"), INTEGERS)
def test_integer_compare(gold, pred, status, verifier):
    assert compare(gold, pred, "integer", verifier) == status


def test_parse_integer():
    assert parse_integer("1,000") == 1000
    assert parse_integer("\\text{ 7 }") == 7
    assert parse_integer("-3") == -3
    assert parse_integer("x = 3") is None


CHOICES = [
    ("B", "B", True),
    ("B", "(B)", True),
    ("B", "\\text{B}", True),
    ("B", "\\textbf{(B)}", True),
    ("B", "The answer is B", True),
    ("B", "the answer is (B).", True),
    ("B", "B) 4.2 eV", True),
    ("B", "b", True),
    ("B", "C", False),
    ("B", "(A)", False),
    ("C", "The correct answer is option C", True),
]


@pytest.mark.parametrize(("gold", "pred", "ok"), CHOICES)
def test_choice_equivalence(gold, pred, ok):
    assert is_equivalent(gold, pred, "choice") is ok


def test_choice_unparsed_and_bad_gold():
    assert parse_choice("A ball rolls down") is None
    assert parse_choice("the answer is a bit unclear") is None
    assert compare("B", "no idea", "choice") == "unparsed"
    with pytest.raises(ValueError, match="letter A-D"):
        compare("42", "B", "choice")
    with pytest.raises(ValueError, match="kind must be one of"):
        compare("1", "1", "fuzzy")


# ---------------------------------------------------------------------------------------------------------------------
# MATH500: real gold answers (unique_id, prediction, equivalent?)

MATH500_TABLE = [
    # tuples / coordinates
    ("test/precalculus/807.json", "(3, \\pi/2)", True),
    ("test/precalculus/807.json", "(\\frac{\\pi}{2}, 3)", False),
    ("test/intermediate_algebra/956.json", "(6, 31, -1)", True),
    ("test/intermediate_algebra/956.json", "(6,-1,31)", False),
    # fractions and decimals
    ("test/algebra/2584.json", "4\\frac{2}{3}", True),
    ("test/algebra/2584.json", "14/3", True),
    ("test/algebra/2584.json", "\\frac{3}{14}", False),
    ("test/prealgebra/1655.json", "0.34", True),
    ("test/prealgebra/1655.json", "\\frac{17}{5}", False),
    ("test/prealgebra/1558.json", "\\frac{5}{4}", True),
    ("test/prealgebra/1558.json", "1.52", False),
    # \text{} answers
    ("test/algebra/1349.json", "Evelyn", True),
    ("test/algebra/1349.json", "\\text{Bob}", False),
    ("test/prealgebra/105.json", "east", True),
    ("test/prealgebra/105.json", "\\text{west}", False),
    ("test/precalculus/819.json", "C", True),
    ("test/precalculus/819.json", "(D)", False),
    # intervals
    ("test/intermediate_algebra/558.json", "\\left(3, 4\\right]", True),
    ("test/intermediate_algebra/558.json", "(3,4)", False),
    ("test/intermediate_algebra/183.json", "(2, \\infty)", True),
    ("test/intermediate_algebra/183.json", "[2,\\infty)", False),
    # degrees and units
    ("test/geometry/183.json", "145", True),
    ("test/geometry/183.json", "145^{\\circ}", True),
    ("test/geometry/183.json", "35^\\circ", False),
    ("test/prealgebra/1003.json", "\\frac{270}{7}", True),
    ("test/prealgebra/1003.json", "38", False),
    ("test/algebra/2780.json", "18.90", True),
    ("test/algebra/2780.json", "\\$18.9", True),
    ("test/algebra/2780.json", "18.09", False),
    # thousands separators
    ("test/algebra/2626.json", "32348", True),
    ("test/algebra/2626.json", "32384", False),
    ("test/number_theory/417.json", "11111111100", True),
    ("test/number_theory/417.json", "11111111000", False),
    # sets and lists of solutions
    ("test/intermediate_algebra/2015.json", "\\{-2, 1+\\sqrt{5}, 1-\\sqrt{5}\\}", True),
    ("test/intermediate_algebra/2015.json", "\\{1+\\sqrt{5},-2\\}", False),
    ("test/intermediate_algebra/1388.json", "-2, 1", True),
    ("test/intermediate_algebra/1388.json", "1", False),
    ("test/intermediate_algebra/428.json", "7, 5, 3", True),
    ("test/intermediate_algebra/428.json", "3, 5", False),
    # matrices, radicals, pi, complex numbers
    ("test/precalculus/1300.json", "\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\\\ \\frac53 \\end{pmatrix}", True),
    ("test/precalculus/1300.json", "\\begin{pmatrix} 1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", False),
    ("test/prealgebra/1302.json", "\\sqrt{242}", True),
    ("test/prealgebra/1302.json", "11\\sqrt{3}", False),
    ("test/precalculus/1105.json", "\\frac{\\pi}{6}", False),
    ("test/geometry/686.json", "2\\pi+18", True),
    ("test/geometry/686.json", "18+\\pi", False),
    ("test/precalculus/990.json", "-5i+6", True),
    ("test/precalculus/990.json", "6+5i", False),
    # equations and expressions
    ("test/algebra/2193.json", "5", True),
    ("test/algebra/2193.json", "x=-5", False),
    ("test/precalculus/323.json", "y=3+2x", True),
    ("test/precalculus/323.json", "y=2x-3", False),
    ("test/intermediate_algebra/1217.json", "x^5+x^4+x^3+x^2+x+1", False),
    ("test/intermediate_algebra/1994.json", "-q+p", True),
    ("test/intermediate_algebra/1994.json", "q-p", False),
]


@pytest.mark.parametrize(("unique_id", "prediction", "equivalent"), MATH500_TABLE)
def test_math500_equivalence(unique_id, prediction, equivalent, math500_gold, verifier):
    gold = math500_gold[unique_id]
    status = compare(gold, prediction, "math", verifier)
    assert status in ("correct", "wrong"), f"{gold!r} vs {prediction!r}: {status}"
    assert (status == "correct") is equivalent, f"gold {gold!r} vs {prediction!r}"


def test_every_math500_gold_matches_itself_boxed(math500_gold, verifier):
    """Extraction + grading round trip on 40 real answers: a completion boxing the gold answer is correct."""
    for gold in list(math500_gold.values())[:40]:
        extracted = extract_answer(f"<|im_start|>think\nwork\n<|im_start|>answer\nAnswer: \\boxed{{{gold}}}")
        assert compare(gold, extracted, "math", verifier) == "correct", gold


# ---------------------------------------------------------------------------------------------------------------------
# Time bound and threads


def test_timeout_kills_worker_and_counts_as_wrong(caplog):
    hanging = [sys.executable, "-c", "import time; print('{\"ready\": true}', flush=True); time.sleep(60)"]
    v = MathVerifier(GradingConfig(timeout=0.5, startup_timeout=30), command=hanging)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="s1lib.eval.grading"):
        assert compare("\\frac{1}{2}", "0.5000001", "math", v) == "timeout"
        assert is_equivalent("\\frac{1}{2}", "x+1", "math", v) is False
    assert time.monotonic() - start < 20
    assert v.timeouts == 2
    assert v._proc is None  # killed, restarted on demand
    assert "timed out" in caplog.text


def test_worker_that_dies_counts_as_wrong():
    dying = [sys.executable, "-c", "print('{\"ready\": true}', flush=True)"]
    v = MathVerifier(GradingConfig(timeout=5.0, startup_timeout=30), command=dying)
    assert compare("\\frac{1}{2}", "x", "math", v) == "wrong"
    assert v.errors == 1


def test_worker_that_never_starts_raises_clearly():
    v = MathVerifier(GradingConfig(timeout=1.0, startup_timeout=1.0), command=[sys.executable, "-c", "pass"])
    with pytest.raises(RuntimeError, match="did not start"):
        v.verify("1", "2")


@pytest.mark.parametrize("timeout", [30.0, None], ids=["worker", "inline"])
def test_grading_from_a_non_main_thread(timeout):
    """math-verify's signal.alarm would fail here; both our worker and the inline mode must not."""
    v = MathVerifier(GradingConfig(timeout=timeout))
    results: list[object] = []

    def run() -> None:
        try:
            results.append(compare("\\frac{14}{3}", "4\\frac{2}{3}", "math", v))
            results.append(compare("\\frac{14}{3}", "\\frac{3}{14}", "math", v))
        except Exception as exc:  # surfaced below
            results.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    v.close()
    assert results == ["correct", "wrong"]


# ---------------------------------------------------------------------------------------------------------------------
# grade() on real problems


def test_grade_real_aime_and_math500(shared_data, verifier):
    aime = load_benchmark("aime24", shared_data)[7]
    assert aime.answer == "025"
    right = grade(aime, "<|im_start|>think\nhmm\n<|im_start|>answer\nFinal Answer: \\boxed{25}", verifier=verifier)
    assert (right.correct, right.status, right.extracted) == (True, "correct", "25")
    wrong = grade(aime, "<think>x</think>Answer: 24", verifier=verifier)
    assert (wrong.correct, wrong.status) == (False, "wrong")
    unparsed = grade(aime, "<|im_start|>think\nI ran out of time", verifier=verifier)
    assert (unparsed.correct, unparsed.status, unparsed.extracted) == (False, "unparsed", None)

    math = next(p for p in load_benchmark("math500", shared_data) if p.id == "test/algebra/2584.json")
    g = grade(math, "<|im_start|>answer\nAnswer: $4\\frac{2}{3}$.", verifier=verifier)
    assert g.correct and g.to_dict()["status"] == "correct"


def test_grade_choice_and_judge_fallback(verifier):
    gpqa = Problem("rec1", "Q\n\nA) x\nB) y\nC) z\nD) w", "C", "choice", "gpqa_diamond")
    assert grade(gpqa, "<|im_start|>answer\nThe answer is (C).").correct
    assert grade(gpqa, "<|im_start|>answer\nAnswer: D").status == "wrong"

    class FakeJudge:
        def __init__(self) -> None:
            self.asked: list[tuple[str, str]] = []

        def equivalent(self, gold: str, prediction: str) -> bool:
            self.asked.append((gold, prediction))
            return True

    judge = FakeJudge()
    problem = Problem("p", "q", "\\frac{1}{2}", "math", "toy")
    g = grade(problem, "Answer: one half", verifier=verifier, judge=judge)
    assert (g.correct, g.judged_by) == (True, "llm")
    assert judge.asked == [("\\frac{1}{2}", "one half")]
    assert grade(problem, "Answer: 0.5", verifier=verifier, judge=judge).judged_by == "rules"
    assert len(judge.asked) == 1  # not asked when the rules already say correct


# ---------------------------------------------------------------------------------------------------------------------
# CLI and benchmark entry points


def test_grade_cli(tmp_path, shared_data, capsys):
    import argparse

    from s1lib.cli.eval import register_cli

    parser = argparse.ArgumentParser(prog="s1")
    register_cli(parser.add_subparsers(dest="command"))
    completions = tmp_path / "c.jsonl"
    completions.write_text(
        json.dumps({"id": "60", "completion": "<|im_start|>answer\nAnswer: 204"})
        + "\n"
        + json.dumps({"id": "61", "completion": "<think>x</think>\\boxed{112}"})
        + "\n"
        + json.dumps({"problem_id": "62", "completion": "<|im_start|>think\nno end"})
        + "\n"
    )
    out = tmp_path / "graded.jsonl"
    argv = ["grade", "--benchmark", "aime24", "--data", str(shared_data), "--completions", str(completions)]
    args = parser.parse_args([*argv, "--out", str(out)])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["accuracy"] == pytest.approx(1 / 3)
    assert summary["status"] == {"correct": 1, "wrong": 1, "unparsed": 1}
    assert [json.loads(line)["status"] for line in out.read_text().splitlines()] == ["correct", "wrong", "unparsed"]

    completions.write_text(json.dumps({"id": "nope", "completion": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"c\.jsonl line 1: problem id 'nope' is not in benchmark 'aime24'"):
        args.func(args)

    # another tool's table: its own field names, any format the table reader reads
    other = tmp_path / "other.csv"
    other.write_text('question_id,response\n60,"\\boxed{204}"\n61,"\\boxed{7}"\n')
    named = [*argv[:-1], str(other), "--id-field", "question_id", "--completion-field", "response"]
    args = parser.parse_args(named)
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["status"] == {"correct": 1, "wrong": 1}
    with pytest.raises(ValueError, match=r"other\.csv line 2: field 'completion' must be the completion's text"):
        args = parser.parse_args([*argv[:-1], str(other), "--id-field", "question_id"])
        args.func(args)
    with pytest.raises(ValueError, match=r"other\.csv line 2: no problem id: expected field 'id' or 'problem_id'"):
        args = parser.parse_args([*argv[:-1], str(other)])
        args.func(args)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")  # no completions at all: the table reader's error, naming the file
    with pytest.raises(ValueError, match=r"empty\.jsonl: empty file \(no rows\)"):
        args = parser.parse_args([*argv[:-1], str(empty)])
        args.func(args)

    listing = parser.parse_args(["benchmarks", "--data", str(shared_data)])
    assert listing.func(listing) == 0
    assert "math500           500 problems" in capsys.readouterr().out


def test_run_bench_small(shared_data):
    from s1lib.benches.sweep import run_grading_bench as run_bench

    results = run_bench(json_output=True, data=shared_data, n=5)
    assert results["math500_problems"] == 500 and results["aime24_problems"] == 30
    assert results["worker_self_correct"] == "5/5" and results["inline_self_correct"] == "5/5"
    assert results["worker_perturbed_accepted"] == "0/5"
