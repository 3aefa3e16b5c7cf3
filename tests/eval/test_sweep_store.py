"""The results store: append-only, resumable, tolerant of a torn last line, strict about everything else."""

from __future__ import annotations

import json

import pytest

from s1lib.eval.store import ResultsStore, summarize


def _record(setting, pid, sample=0, status="correct", thinking=10, budget=(0, 16), method="budget forcing", **kw):
    return {"setting": setting, "method": method, "problem_id": pid, "sample": sample, "status": status,
            "thinking_tokens": thinking, "answer_tokens": 2, "budget": list(budget) if budget else None,
            "forced_counts": {"end": 1}, **kw}  # fmt: skip


def test_append_skips_finished_keys_and_resumes(tmp_path):
    store = ResultsStore(tmp_path, {"model": "m"})
    assert store.append([_record("a", "1"), _record("a", "2")]) == 2
    assert store.append([_record("a", "1"), _record("b", "1")]) == 1
    again = ResultsStore(tmp_path, {"model": "m"})
    assert again.done("a", "1") and again.done("b", "1") and not again.done("b", "2")
    assert len(again.records) == 3 and again.torn_lines == []


def test_torn_last_line_is_dropped_and_reported(tmp_path):
    store = ResultsStore(tmp_path)
    store.append([_record("a", "1"), _record("a", "2")])
    with store.samples_path.open("a") as fh:
        fh.write('{"setting": "a", "problem_id": "3", "sam')
    resumed = ResultsStore(tmp_path)
    assert len(resumed.torn_lines) == 1 and len(resumed.records) == 2 and not resumed.done("a", "3")
    resumed.append([_record("a", "3")])
    lines = resumed.samples_path.read_text().splitlines()
    assert [json.loads(line)["problem_id"] for line in lines] == ["1", "2", "3"]


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    store = ResultsStore(tmp_path)
    store.append([_record("a", "1")])
    text = store.samples_path.read_text()
    store.samples_path.write_text(text + "not json\n" + json.dumps(_record("a", "2")) + "\n")
    with pytest.raises(ValueError, match=r"samples\.jsonl line 2"):
        ResultsStore(tmp_path)


def test_resuming_with_another_config_is_refused(tmp_path):
    ResultsStore(tmp_path, {"model": "m", "limit": 2}, resume_keys=["model"]).append([_record("a", "1")])
    ResultsStore(tmp_path, {"model": "m", "limit": 5}, resume_keys=["model"])  # a grown grid is fine
    with pytest.raises(ValueError, match="model"):
        ResultsStore(tmp_path, {"model": "other"}, resume_keys=["model"])


def test_summarize_accuracy_control_and_scaling(tmp_path):
    records = []
    for budget, thinking, right in ((16, 16, 1), (32, 32, 2), (64, 70, 3)):
        for pid in range(4):
            status = "correct" if pid < right else ("unparsed" if pid == 3 else "wrong")
            records.append(_record(f"cap={budget}", str(pid), thinking=thinking, budget=(0, budget), status=status))
    out = summarize(records, ["cap=16", "cap=32", "cap=64"])
    accs = [s["accuracy"] for s in out["settings"]]
    assert accs == [0.25, 0.5, 0.75]
    assert out["settings"][2]["control"] == 0.0 and out["settings"][0]["control"] == 1.0
    assert out["settings"][0]["status"] == {"correct": 1, "wrong": 2, "unparsed": 1}
    (method,) = out["methods"]
    assert method["control"] == pytest.approx(8 / 12)
    # log2 x: slopes 25/1, 50/log2(70/16), 25/log2(70/32) points per doubling, averaged.
    import math

    expected = (25 + 50 / math.log2(70 / 16) + 25 / math.log2(70 / 32)) / 3
    assert method["scaling_log2_pp"] == pytest.approx(expected)
    assert method["performance"] == 0.75
    assert out["settings"][0]["ci_low"] < 0.25 < out["settings"][0]["ci_high"]


def test_summarize_majority_votes():
    records = [
        _record("maj", "1", 0, "correct", vote_key="5", method="majority voting", budget=None),
        _record("maj", "1", 1, "wrong", vote_key="4", method="majority voting", budget=None),
        _record("maj", "1", 2, "correct", vote_key="5", method="majority voting", budget=None),
        _record("maj", "2", 0, "wrong", vote_key="1", method="majority voting", budget=None),
        _record("maj", "2", 1, "wrong", vote_key="1", method="majority voting", budget=None),
        _record("maj", "2", 2, "correct", vote_key="2", method="majority voting", budget=None),
    ]
    (s,) = summarize(records)["settings"]
    assert s["maj@1"] == 0.5 and s["maj@3"] == 0.5 and s["cov@3"] == 1.0
    assert s["samples_per_problem"] == 3 and s.get("control") is None


def test_summarize_wilson_intervals_families_and_the_paired_change():
    records = []
    for pid in range(10):
        family = "count" if pid < 6 else "parity"
        records.append(_record("cap=4", str(pid), thinking=4, budget=(0, 4), status="correct" if pid < 2 else "wrong"))
        records.append(
            _record("cap=64", str(pid), thinking=50, budget=(0, 64), status="correct" if pid < 8 else "wrong")
        )
        records[-2]["family"] = records[-1]["family"] = family
    out = summarize(records, ["cap=4", "cap=64"])
    small, large = out["settings"]
    assert small["ci_method"] == "wilson"
    assert (small["ci_low"], small["ci_high"]) == (pytest.approx(0.0567, abs=1e-4), pytest.approx(0.5098, abs=1e-4))
    assert large["by_family"]["count"] == {
        "accuracy": 1.0,
        "ci_low": pytest.approx(0.6097, abs=1e-4),
        "ci_high": 1.0,
        "n": 6,
    }
    assert large["by_family"]["parity"]["accuracy"] == 0.5
    (method,) = out["methods"]
    assert method["intervals"] == [[small["ci_low"], small["ci_high"]], [large["ci_low"], large["ci_high"]]]
    assert method["performance_interval"] == [large["ci_low"], large["ci_high"]]
    change = method["change"]
    assert (change["from"], change["to"], change["n"]) == ("cap=4", "cap=64", 10)
    assert change["difference"] == pytest.approx(0.6) and 0 < change["ci_low"] < 0.6 < change["ci_high"] <= 1


def test_scaling_summary_schema_and_headline():
    from s1lib.eval.summary import headline, scaling_summary

    records = [_record("cap=4", str(p), thinking=4, budget=(0, 4), status="wrong") for p in range(5)]
    records += [_record("cap=64", str(p), thinking=40, budget=(0, 64), status="correct") for p in range(5)]
    waits = [
        _record("wait×1", str(p), thinking=90, budget=None, status="correct", method="extrapolation (Wait)")
        for p in range(5)
    ]
    tokens = [
        _record("token-cond 32", str(p), thinking=50, budget=(0, 32), method="token-conditional") for p in range(5)
    ]
    results = summarize(records + waits + tokens, ["cap=4", "cap=64", "wait×1", "token-cond 32"])
    results["run"] = {"problems": 5, "precision": {"dtype": "float32"}}
    results["chance"] = {"all": 0.3}
    summary = scaling_summary(results)
    assert summary["n_problems"] == 5 and summary["precision"] == "float32" and summary["chance"] == {"all": 0.3}
    by_label = {s["label"]: s for s in summary["settings"]}
    assert by_label["cap=64"] == {
        "method": "budget_forcing_cap", "label": "cap=64", "budget": 64, "accuracy": 1.0,
        "ci_low": pytest.approx(0.5655, abs=1e-4), "ci_high": 1.0, "mean_thinking_tokens": 40.0,
        "mean_probe_tokens": 0.0, "censored_rate": 0.0, "accuracy_uncensored": 1.0,
        "efficiency": {  # these records carry no end reason (never closed) and no first-correct position
            "cut_by_cap_rate": 0.0, "never_closed_rate": 1.0, "first_correct_in_thinking_rate": None,
            "first_correct_position": None, "tokens_before_first_correct": None, "tokens_after_first_correct": None,
            "answer_settled_in_thinking_rate": None, "tokens_after_settled_answer": None,
        },
    }  # fmt: skip
    assert by_label["wait×1"]["method"] == "budget_forcing_wait"
    assert by_label["token-cond 32"]["method"] == "token_conditional" and by_label["token-cond 32"]["budget"] == 32
    for s in summary["settings"]:
        assert s["ci_low"] <= s["accuracy"] <= s["ci_high"]
    (cap_change,) = [c for c in summary["changes"] if c["method"] == "budget_forcing_cap"]
    assert cap_change["difference"] == 1.0 and cap_change["ci_low"] > 0
    line = headline(summary)
    assert "cap=4 0%" in line and "cap=64 100%" in line and "+100 points" in line


@pytest.mark.parametrize(
    ("samples", "censored", "rate", "uncensored"),
    [
        # (finish_reason, extracted, status) per sample
        ([("stop", "4", "correct"), ("stop", "5", "wrong")], 0, 0.0, 0.5),
        ([("length", None, "unparsed"), ("stop", "4", "correct")], 1, 0.5, 1.0),
        ([("length", "4", "correct"), ("length", None, "unparsed"), ("stop", None, "unparsed")], 1, 1 / 3, 0.5),
        ([("length", None, "unparsed"), ("length", None, "unparsed")], 2, 1.0, None),
    ],
    ids=["none-cut", "one-cut", "cut-with-an-answer-is-not-censored", "all-cut"],
)
def test_censored_samples_are_counted_beside_accuracy(samples, censored, rate, uncensored):
    records = [
        _record("cap=8", str(i), status=status, finish_reason=finish, extracted=extracted)
        for i, (finish, extracted, status) in enumerate(samples)
    ]
    (setting,) = summarize(records, ["cap=8"])["settings"]
    assert (setting["censored"], setting["censored_rate"]) == (censored, pytest.approx(rate))
    assert setting["accuracy_uncensored"] == (None if uncensored is None else pytest.approx(uncensored))
    assert setting["accuracy"] == pytest.approx(sum(s[2] == "correct" for s in samples) / len(samples))
