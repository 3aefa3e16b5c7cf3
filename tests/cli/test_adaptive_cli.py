"""The adaptive-stop flags of ``s1 generate`` and ``s1 eval`` (``s1lib.cli.policy_flags``)."""

from __future__ import annotations

import json

import pytest

from s1lib.cli import build_parser, main
from s1lib.cli.policy_flags import policy_from_args
from s1lib.forcing.adaptive import AdaptiveStop


def _policy(*flags: str):
    return policy_from_args(build_parser().parse_args(["generate", "q", *flags]))


def test_no_flag_means_fixed_budgets():
    assert _policy("--max-thinking-tokens", "64").adaptive is None


def test_flags_build_the_adaptive_stop():
    policy = _policy("--max-thinking-tokens", "64", "--adaptive", "probe_consistency", "--probe-every", "8")
    assert policy.adaptive == AdaptiveStop(strategy="probe_consistency", probe_every=8)
    assert policy.max_thinking_tokens == 64 and policy.label() == "cap=64 agree=3/8"
    policy = _policy(
        "--adaptive", "answer_confidence", "--num-ignore", "2", "--threshold", "0.8", "--probe-tokens", "6"
    )
    assert policy.adaptive == AdaptiveStop(strategy="answer_confidence", threshold=0.8, probe_tokens=6)
    assert policy.num_ignore == 2
    opened = _policy("--adaptive", "probe_consistency", "--probe-opening", " \\boxed{")
    assert opened.adaptive.probe_opening == " \\boxed{"
    waits = _policy("--adaptive", "answer_confidence", "--probe-transitions")  # DEER at the model's own Waits
    assert waits.adaptive == AdaptiveStop(strategy="answer_confidence", probe_transitions=True)
    assert waits.num_ignore == 0 and waits.label() == "conf≥0.95 +waits"
    assert _policy("--adaptive", "probe_consistency", "--no-probe-transitions").adaptive.probe_transitions is False


def test_eval_takes_the_same_flags():
    args = build_parser().parse_args(["eval", "toy", "--adaptive", "probe_consistency", "--agree", "2"])
    assert policy_from_args(args).adaptive == AdaptiveStop(agree=2)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--adaptive", "probe_consistency", "--probe-every", "0"], "BudgetPolicy.adaptive.probe_every"),
        (["--adaptive", "probe_consistency", "--agree", "0"], "BudgetPolicy.adaptive.agree"),
        (["--adaptive", "probe_consistency", "--probe-tokens", "0"], "BudgetPolicy.adaptive.probe_tokens"),
        (["--adaptive", "answer_confidence", "--num-ignore", "1", "--threshold", "1.5"], "adaptive.threshold"),
        (["--adaptive", "answer_confidence"], "needs num_ignore > 0"),
        (["--probe-every", "8"], "--probe-every tune an adaptive stop"),
    ],
)
def test_bad_values_name_the_field(flags, message):
    with pytest.raises(ValueError, match=message):
        _policy(*flags)


def test_an_unknown_strategy_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "q", "--adaptive", "dynasor"])
    assert "invalid choice" in capsys.readouterr().err


def test_the_cli_reports_a_bad_value_naming_the_field(capsys):
    code = main(["generate", "q", "--adaptive", "probe_consistency", "--agree", "0", "--json"])
    assert code == 2
    assert "BudgetPolicy.adaptive.agree must be an integer >= 1" in capsys.readouterr().err


@pytest.mark.model
def test_generate_runs_an_adaptive_stop(tiny_model_dir, capsys):
    code = main([
        "generate", "What is 2 + 2?", "--model", str(tiny_model_dir), "--max-thinking-tokens", "12",
        "--max-answer-tokens", "2", "--adaptive", "probe_consistency", "--probe-every", "4", "--agree", "1",
        "--probe-tokens", "3", "--json",
    ])  # fmt: skip
    assert code == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["probes"], "a probe every 4 thinking tokens below a cap of 12"
    assert all(p["thinking_tokens"] % 4 == 0 for p in trace["probes"])
    assert trace["probe_tokens"] == sum(p["num_tokens"] for p in trace["probes"])


@pytest.mark.model
def test_eval_runs_an_adaptive_stop(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main([
        "eval", "toy", "--model", str(tiny_model_dir), "--limit", "2", "--max-thinking-tokens", "8",
        "--max-answer-tokens", "2", "--adaptive", "probe_consistency", "--probe-every", "4", "--agree", "1",
        "--probe-tokens", "2", "--output", str(out), "--json", "--no-progress",
    ])  # fmt: skip
    assert code == 0
    (setting,) = json.loads(capsys.readouterr().out)["settings"]
    assert setting["setting"] == "cap=8 agree=1/4" and setting["n"] == 2
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(r["policy"]["adaptive"]["probe_every"] == 4 and r["probes"] for r in rows)
    assert all(r["probe_tokens"] == sum(p["num_tokens"] for p in r["probes"]) for r in rows)


def test_lm_eval_task_refuses_an_adaptive_stop_it_could_not_send(tmp_path, capsys):
    code = main(["lm-eval-task", "toy", "--out", str(tmp_path / "task"), "--adaptive", "probe_consistency"])
    assert code == 2
    assert "--adaptive is not served" in capsys.readouterr().err
    assert not (tmp_path / "task").exists()
