"""Curation grading through the reference's Yes/No LLM grader, against a tiny OpenAI-compatible server on 127.0.0.1.

Attempts carry a marker the fake judge answers by: ``[judge:yes]``, ``[judge:no]``, ``[judge:garble]`` (no verdict
on the last line) or ``[judge:500]`` (HTTP 500). Closed answers are plain integers, so symbolic grading needs no
math-verify worker.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from s1lib.curation import difficulty
from s1lib.curation import grader as curation_grader
from s1lib.curation.answer_cache import AnswerCache, cache_key
from s1lib.curation.config import CurationConfig
from s1lib.curation.difficulty import run_attempts
from s1lib.curation.grader import Grader, grade_traces
from s1lib.curation.pipeline import run_curation
from s1lib.eval.judge import JudgeVerdict, parse_yes_no
from s1lib.openai_client import ApiError

KEY_ENV = "S1_TEST_CURATION_JUDGE_KEY"


def judge_reply(body: dict) -> str | tuple[int, str]:
    """Answers by the ``[judge:...]`` marker in the prompt's attempt section (no marker: "No")."""
    attempt = body["messages"][0]["content"].split("## Attempt", 1)[-1]
    marker = re.search(r"\[judge:(\w+)\]", attempt)
    kind = marker.group(1) if marker else "no"
    text = {"yes": "The final answers agree.\nYes", "no": "They differ.\n**No**"}.get(kind, "Hmm.\nMaybe")
    return (500, text) if kind == "500" else text


def attempts_asked(server: FakeOpenAI) -> list[str]:
    return [r["prompt"].split("## Attempt\n", 1)[1].strip() for r in server.requests]


@pytest.fixture
def judge_server():
    with FakeOpenAI(judge_reply) as server:
        yield server


# question -> (gold answer or None, the trace's attempt, the attempt model's attempt)
ROWS = {
    "Closed one: add 1 and 2.": ("3", "So \\boxed{3} [judge:yes]", "So \\boxed{5} [judge:no]"),
    "Closed two: add 2 and 2.": ("4", "So \\boxed{4} [judge:yes]", "So \\boxed{9} [judge:yes]"),
    "Open one: show that A holds.": (None, "A holds since B. [judge:yes]", "A holds by B. [judge:yes]"),
    "Open two: show that C holds.": (None, "C holds since D. [judge:yes]", "C fails. [judge:no]"),
    "Open three: show that E holds.": (None, "E holds since F. [judge:yes]", "E, probably. [judge:garble]"),
    "Open four: show that G holds.": (None, "G holds? [judge:garble]", "G holds. [judge:yes]"),
}
ATTEMPT = {q: row[2] for q, row in ROWS.items()}
OPEN = [q for q in ROWS if q.startswith("Open")]
REACH_DIFFICULTY = [q for q in ROWS if "four" not in q]  # "Open four" leaves at the missing stage (no_grade)


def _source(tmp_path: Path) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "pool.jsonl"
    with open(path, "w") as fh:
        for q, (gold, trace_attempt, _) in ROWS.items():
            solution = f"Reference: \\boxed{{{gold}}}." if gold else "Reference: it holds by the lemma."
            row = {"question": q, "solution": solution, "answer": gold, "attempt": trace_attempt, "domain": "97"}
            fh.write(json.dumps(row) + "\n")
    return str(path)


def attempt_model(questions: list[str]) -> list[str]:
    return [ATTEMPT[q] for q in questions]


def _config(tmp_path: Path, grader: str = "symbolic", **over) -> CurationConfig:
    cfg = CurationConfig(
        sources=[{"path": _source(tmp_path), "importer": "generic", "name": "pool"}],
        output_dir=str(tmp_path / "out"),
        required_features=["no_grade"],
        default_format_rules=False,
        tokenizer="estimate",
        domain_classifier="precomputed",
        selector="full",
        progress=False,
        write_figures=False,
        grader=grader,
        judge_api_key_env=KEY_ENV,
        judge_retries=0,
    )
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


def _stage(result, name: str) -> dict:
    return next(s for s in result.funnel.to_dict()["stages"] if s["stage"] == name)


def _judge(server: FakeOpenAI) -> str:
    return f"judge:{server.base_url}|grader-model"


# ------------------------------------------------------------------- through run_curation


@pytest.mark.parametrize(
    ("judge_for", "asked"),
    [
        # open: only the rows without a closed gold answer
        ("open", {ROWS[q][1] for q in OPEN} | {ATTEMPT[q] for q in OPEN if q in REACH_DIFFICULTY}),
        # all: every trace attempt and every difficulty attempt, as the reference graded
        ("all", {ROWS[q][1] for q in ROWS} | {ATTEMPT[q] for q in REACH_DIFFICULTY}),
    ],
)
def test_judge_asked_per_judge_for(tmp_path, monkeypatch, judge_server, judge_for, asked):
    monkeypatch.setenv(KEY_ENV, "sk-env-only")
    cfg = _config(tmp_path, _judge(judge_server), judge_for=judge_for)
    result = run_curation(cfg, attempt_fns={"qwen-7b": attempt_model})
    assert set(attempts_asked(judge_server)) == asked
    assert len(judge_server.requests) == len(asked) == result.stats["judge_calls"]
    assert all(r["body"]["model"] == "grader-model" for r in judge_server.requests)
    # "Yes" on an open answer drops the question, naming the model; "No" keeps it
    assert _stage(result, "difficulty")["reasons"] == (
        {"solved_by:qwen-7b": 2} if judge_for == "all" else {"solved_by:qwen-7b": 1}
    )
    kept = {r["question"] for r in result.candidates}
    assert "Open one: show that A holds." not in kept and "Open two: show that C holds." in kept
    assert "Closed one: add 1 and 2." in kept  # wrong symbolically, "No" from the judge: kept either way
    # the unparseable trace verdict is ungradable → no_grade; the unparseable attempt verdict keeps its row, counted
    assert _stage(result, "missing")["reasons"] == {"no_grade": 1}
    assert "Open three: show that E holds." in kept and result.stats["attempts"]["ungradable"] == 1
    grading = result.stats["grading"]
    assert grading["stages"]["trace"]["judge_errors"] == grading["stages"]["difficulty"]["judge_errors"] == 1
    assert all(e["reason"].startswith("judge_unparseable") for e in grading["errors"])
    row3 = next(r for r in result.candidates if r["question"].startswith("Open three"))
    assert row3["attempts"]["qwen-7b"]["correct"] is None
    assert "judge_unparseable" in row3["attempts"]["qwen-7b"]["grade_error"]


def test_closed_yes_drops_only_when_all(tmp_path, monkeypatch, judge_server):
    """Symbolic says "Closed two" was not solved (9 ≠ 4); the judge's "Yes" drops it only when asked for all."""
    monkeypatch.setenv(KEY_ENV, "k")
    symbolic = run_curation(_config(tmp_path / "s"), attempt_fns={"qwen-7b": attempt_model})
    assert "Closed two: add 2 and 2." in {r["question"] for r in symbolic.candidates}
    assert symbolic.stats["judge_calls"] == 0 and symbolic.stats["grading"]["grader"] == "symbolic"
    # symbolic only: open answers are ungradable (no_grade for traces; kept and counted at the difficulty stage)
    assert _stage(symbolic, "missing")["reasons"] == {"no_grade": 4}
    judged = run_curation(_config(tmp_path / "j", _judge(judge_server), judge_for="all"), {"qwen-7b": attempt_model})
    drops = [json.loads(line) for line in Path(judged.paths["drops"]).read_text().splitlines()]
    assert [d["reason"] for d in drops if d["stage"] == "difficulty"] == ["solved_by:qwen-7b"] * 2
    assert "Closed two: add 2 and 2." not in {r["question"] for r in judged.candidates}


def test_resume_does_not_ask_again_except_failures(tmp_path, monkeypatch, judge_server):
    monkeypatch.setenv(KEY_ENV, "k")
    cfg = _config(tmp_path, _judge(judge_server), judge_for="all")
    first = run_curation(cfg, attempt_fns={"qwen-7b": attempt_model})
    n_errors = len(first.stats["grading"]["errors"])
    assert first.stats["judge_calls"] > n_errors == 2
    second = run_curation(cfg, attempt_fns={"qwen-7b": attempt_model})
    assert second.stats["attempts"]["calls"] == 0
    assert second.stats["judge_calls"] == n_errors  # verdicts come from the cache; failures are asked again
    assert [r["row_id"] for r in second.selected] == [r["row_id"] for r in first.selected]


def test_http_failure_and_budget_are_ungradable_not_fatal(tmp_path, monkeypatch, judge_server):
    monkeypatch.setenv(KEY_ENV, "k")
    broken = dict(ATTEMPT, **{"Open two: show that C holds.": "C fails. [judge:500]"})
    cfg = _config(tmp_path / "a", _judge(judge_server))
    result = run_curation(cfg, attempt_fns={"qwen-7b": lambda qs: [broken[q] for q in qs]})
    row = next(r for r in result.candidates if r["question"].startswith("Open two"))
    assert row["attempts"]["qwen-7b"]["correct"] is None
    assert "HTTP 500" in row["attempts"]["qwen-7b"]["grade_error"]
    assert any("HTTP 500" in e["reason"] for e in result.stats["grading"]["errors"])

    before = len(judge_server.requests)
    capped = run_curation(_config(tmp_path / "b", _judge(judge_server), judge_max_calls=2), {"qwen-7b": attempt_model})
    assert len(judge_server.requests) - before == capped.stats["judge_calls"] == 2
    reasons = [e["reason"] for e in capped.stats["grading"]["errors"]]
    assert reasons and all(r.startswith("judge_budget") for r in reasons)
    assert capped.funnel.n_input == len(ROWS)  # every row accounted for (funnel.check ran)


def test_key_is_read_from_the_environment_only(tmp_path, monkeypatch, judge_server):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=f"{KEY_ENV}.*judge_api_key_env"):
        run_curation(_config(tmp_path / "a", _judge(judge_server)), attempt_fns={"qwen-7b": attempt_model})
    assert judge_server.requests == []  # failed before any work
    monkeypatch.setenv(KEY_ENV, "sk-secret-from-env")
    result = run_curation(_config(tmp_path / "b", _judge(judge_server)), attempt_fns={"qwen-7b": attempt_model})
    assert judge_server.requests and {r["auth"] for r in judge_server.requests} == {"Bearer sk-secret-from-env"}
    assert "sk-secret-from-env" not in Path(result.paths["funnel"]).read_text()
    assert "sk-secret-from-env" not in (tmp_path / "b" / "out" / "attempts.jsonl").read_text()
    n = len(judge_server.requests)
    run_curation(_config(tmp_path / "c", _judge(judge_server), judge_api_key_env=None), {"qwen-7b": attempt_model})
    assert {r["auth"] for r in judge_server.requests[n:]} == {None}  # a local server without a key


@pytest.mark.parametrize(
    ("over", "field_name"),
    [
        ({"grader": "judge"}, "grader"),
        ({"grader": "judge:http://127.0.0.1:1/v1"}, "grader"),
        ({"grader": "judge:|model"}, "grader"),
        ({"grader": "judge:127.0.0.1/v1|model"}, "grader"),
        ({"grader": "llm"}, "grader"),
        ({"judge_for": "some"}, "judge_for"),
        ({"judge_max_calls": -1}, "judge_max_calls"),
        ({"judge_retries": "2"}, "judge_retries"),
    ],
)
def test_bad_grading_options_name_the_field(tmp_path, over, field_name):
    with pytest.raises(ValueError, match=field_name):
        CurationConfig.from_dict(over)
    cfg = _config(tmp_path)
    for k, v in over.items():
        setattr(cfg, k, v)  # set after construction: run_curation validates again
    with pytest.raises(ValueError, match=field_name):
        run_curation(cfg)


# ------------------------------------------------------------------- the Grader alone (no HTTP)


class StubJudge:
    def __init__(self, reply: str) -> None:
        self.reply, self.asked = reply, 0

    def grade_attempt(self, question: str, solution: str, attempt: str) -> JudgeVerdict:
        self.asked += 1
        return JudgeVerdict(parse_yes_no(self.reply), self.reply)


@pytest.mark.parametrize(
    ("status", "judge_for", "reply", "asked", "correct"),
    [
        ("correct", "open", "No", 0, True),
        ("wrong", "open", "Yes", 0, False),
        ("unparsed", "open", "Yes", 0, False),
        ("empty", "all", "Yes", 0, False),
        ("open", "open", "Yes", 1, True),
        ("open", "open", "No", 1, False),
        ("bad_gold", "open", "Yes", 1, True),
        ("timeout", "open", "Yes", 1, True),  # math-verify hung: the judge decides
        ("open", "open", "Perhaps", 1, None),
        ("correct", "all", "No", 1, False),
        ("wrong", "all", "Yes", 1, True),
    ],
)
def test_grader_routes_by_symbolic_status(monkeypatch, status, judge_for, reply, asked, correct):
    monkeypatch.setattr(curation_grader, "symbolic_status", lambda rec, text: status)
    judge = StubJudge(reply)
    grader = Grader(judge, judge_for)
    rec = {"row_id": "r", "question": "q", "solution": "s", "answer": None}
    got, info = grader.grade(rec, "attempt text")
    assert (got, judge.asked, grader.calls) == (correct, asked, asked)
    assert info["graded_by"] == ("judge" if asked else "symbolic")
    assert ("error" in info) == (correct is None)


def test_grade_traces_and_run_attempts_share_the_grader():
    judge = StubJudge("Yes")
    grader = Grader(judge, "open")
    recs = [
        {"row_id": "a", "question": "Open?", "solution": "It is.", "answer": None, "attempt": "It is."},
        {"row_id": "b", "question": "Add: 1 2", "solution": "\\boxed{3}", "answer": "3", "attempt": "\\boxed{3}"},
        {"row_id": "c", "question": "No reference?", "solution": None, "answer": None, "attempt": "x"},
    ]
    assert grade_traces(recs, grader) == 2
    assert [r["trace_grade"] for r in recs] == [True, True, None]
    assert [r["trace_graded_by"] for r in recs] == ["judge", "symbolic", "judge"]
    assert recs[2]["trace_grade_error"] == "no reference solution to judge against"
    kept, drops, stats = run_attempts(recs, {"m": lambda qs: ["\\boxed{4}" for _ in qs]}, grader=grader)
    assert [d.reason for d in drops] == ["solved_by:m"] and drops[0].row_id == "a"
    assert [r["row_id"] for r in kept] == ["b", "c"] and stats["ungradable"] == 1
    assert judge.asked == grader.calls == 2
    assert grader.summary()["stages"]["trace"]["judge_calls"] == 1


# ------------------------------------------------------------------- concurrent requests


def _open_items(n: int) -> list[tuple[dict, str, str]]:
    recs = [
        {"row_id": f"r{i}", "question": f"Open {i}: show it.", "solution": "By the lemma.", "answer": None}
        for i in range(n)
    ]
    return [(rec, f"Attempt {i}. [judge:{'yes' if i % 3 else 'no'}]", "m") for i, rec in enumerate(recs)]


def _http_judge(server: FakeOpenAI):
    from s1lib.eval.judge import JudgeConfig, LLMJudge

    return LLMJudge(JudgeConfig(base_url=server.base_url, model="grader-model", api_key_env=None, max_retries=0))


def test_judge_requests_are_concurrent_and_results_keep_item_order(tmp_path, judge_server):
    judge_server.delay = 0.2
    items = _open_items(8)
    cache = AnswerCache(tmp_path / "attempts.jsonl")
    grader = Grader(_http_judge(judge_server), "open", cache=cache, concurrency=4)
    results = grader.grade_many(items)
    assert [correct for correct, _ in results] == [bool(i % 3) for i in range(8)]
    assert 2 <= judge_server.max_in_flight <= 4
    assert grader.calls == len(judge_server.requests) == 8
    # cached verdicts are written in item order, whatever order the replies came in
    lines = [json.loads(line) for line in (tmp_path / "attempts.jsonl").read_text().splitlines()]
    keys = [cache_key(grader.signature, f"{r['question']}\0{r['solution']}\0{t}") for r, t, _ in items]
    assert [line["key"] for line in lines] == keys
    # one at a time gives the same verdicts
    serial = Grader(_http_judge(judge_server), "open", concurrency=1).grade_many(items)
    assert [c for c, _ in serial] == [c for c, _ in results]


def test_budget_is_spent_in_item_order_and_repeats_are_asked_once(judge_server):
    items = _open_items(6)
    items.insert(1, items[0])  # the same attempt twice in one batch
    grader = Grader(_http_judge(judge_server), "open", max_calls=3, concurrency=4)
    results = grader.grade_many(items)
    asked = sorted(attempts_asked(judge_server))
    assert asked == sorted(t for _, t, _ in [items[0], items[2], items[3]])
    assert results[1] == results[0] and results[0][0] is False
    assert [info.get("error", "")[:12] for _, info in results[4:]] == ["judge_budget"] * 3
    stage = grader.summary()["stages"]["difficulty"]
    assert (stage["judge_calls"], stage["judge_cached"], stage["judge_errors"]) == (3, 1, 3)


def test_run_attempts_with_an_api_model_and_judge_concurrently(tmp_path, judge_server):
    """An OpenAI-compatible attempt model (replies echo the question's marker) and the judge, both concurrent."""
    judge_server.delay = 0.05
    items = _open_items(6)
    recs = [rec for rec, _, _ in items]
    model = difficulty.openai_attempt_fn(judge_server.base_url, "attempt-model", concurrency=3)
    answers = model([r["question"] for r in recs])
    assert len(answers) == 6 and judge_server.max_in_flight >= 2
    grader = Grader(_http_judge(judge_server), "open", concurrency=3)
    kept, drops, stats = run_attempts(recs, {"api": model}, grader=grader, batch_size=4)
    # the fake answers every attempt prompt with "They differ. **No**" (no marker in a question): all kept, graded
    assert [r["row_id"] for r in kept] == [r["row_id"] for r in recs] and not drops
    assert all(r["attempts"]["api"]["correct"] is False for r in kept) and stats["calls"] == 6


def test_api_attempt_model_retries_rate_limits_and_gives_up_clearly():
    """One 429 must not end a long run: the attempt model waits (Retry-After first) and asks again, within a bound."""
    sleeps: list[float] = []
    failures = [(429, "slow down", {"Retry-After": "9"}), (429, "slow down", {"Retry-After": "9"}), (502, "gateway")]
    recs = [{"row_id": f"r{i}", "question": f"Add: {i} {i}", "answer": str(2 * i)} for i in (1, 2)]
    with FakeOpenAI(lambda body: "So \\boxed{2}", failures=failures) as server:
        model = difficulty.openai_attempt_fn(server.base_url, "m", concurrency=1, sleep=sleeps.append)
        kept, drops, stats = run_attempts(recs, {"api": model})
    assert len(server.requests) == 5 and sleeps[:2] == [9.0, 9.0] and len(sleeps) == 3
    assert [d.row_id for d in drops] == ["r1"] and [r["row_id"] for r in kept] == ["r2"] and stats["calls"] == 2
    with FakeOpenAI(lambda body: (429, "quota exceeded")) as server:
        model = difficulty.openai_attempt_fn(server.base_url, "m", max_retries=1, sleep=sleeps.append)
        with pytest.raises(ApiError, match=r"/chat/completions: HTTP 429: .*quota exceeded.*failed after 2 attempts"):
            model(["Add: 1 1"])
    assert len(server.requests) == 2
