"""``s1 bench adaptive``: its arithmetic on a hand-made table, ``SweepConfig.adaptive_caps``, and one tiny run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from s1lib.benches.adaptive import run_bench, sweep_config
from s1lib.benches.adaptive_config import AdaptiveBenchConfig
from s1lib.benches.adaptive_measures import compare, hindsight
from s1lib.eval.benchmarks import Problem
from s1lib.eval.calibration import binomial_p_value
from s1lib.eval.sweep_config import SweepConfig, build_settings

HEADLINE = ("token_saving", "probe_overhead", "accuracy_delta", "wall_clock_ratio")


def _row(setting, kind, cap, accuracy, thinking, probes=0.0):
    return {"setting": setting, "kind": kind, "cap": cap, "accuracy": accuracy, "thinking_tokens": thinking,
            "probe_tokens": probes}  # fmt: skip


ROWS = [
    _row("cap=8", "fixed", 8, 0.10, 7.0),
    _row("cap=16", "fixed", 16, 0.30, 14.0),
    _row("cap=32", "fixed", 32, 0.50, 25.0),
    _row("cap=32 agree=2/4", "adaptive", 32, 0.505, 15.0, 6.0),  # matched by cap=32 (0.50 >= 0.505 - 0.01)
    _row("cap=32 agree=1/4", "adaptive", 32, 0.31, 6.0, 3.0),  # matched by cap=16: the larger saving, less accurate
    _row("cap=32 conf", "adaptive", 32, 0.70, 20.0, 2.0),  # beyond every cap: matched=False, vs the best cap
]


def test_matching_saving_and_best():
    out = compare(ROWS[:5], tolerance=0.01)
    table = {r["setting"]: r for r in out["settings"]}
    assert out["best"] == "cap=32 agree=2/4"  # the most accurate adaptive setting
    assert out["matched_fixed"] == "cap=32" and out["matched"]
    assert out["token_saving"] == pytest.approx(1 - 15 / 25)
    assert out["probe_overhead"] == pytest.approx(6 / 15)
    assert out["accuracy_delta"] == pytest.approx(0.005)
    assert table["cap=32 agree=1/4"]["matched_fixed"] == "cap=16"
    assert table["cap=32 agree=1/4"]["token_saving"] == pytest.approx(1 - 6 / 14)
    assert out["largest_saving"]["setting"] == "cap=32 agree=1/4"
    assert "token_saving" not in table["cap=8"]


def test_no_cap_reaching_the_accuracy_is_flagged():
    out = compare(ROWS, tolerance=0.01)
    assert out["best"] == "cap=32 conf" and not out["matched"] and out["matched_fixed"] == "cap=32"
    assert out["accuracy_delta"] == pytest.approx(0.20)
    assert out["largest_saving"]["setting"] == "cap=32 agree=1/4"  # only matched settings compete for it
    with pytest.raises(ValueError, match="no fixed"):
        compare([r for r in ROWS if r["kind"] == "adaptive"])


def _probed(final: str, thinking: int, answers: list[str | None]) -> SimpleNamespace:
    """A trace probed every 4 tokens, never stopped, whose answer is ``final``."""
    probes = [SimpleNamespace(thinking_tokens=4 * (i + 1), answer=a) for i, a in enumerate(answers)]
    text = f"thinking<|im_start|>answer\nFinal Answer: \\boxed{{{final}}}"
    return SimpleNamespace(text=text, thinking_tokens=thinking, probes=probes)


def test_hindsight_stops_keep_every_answer_or_every_correct_one():
    problems = [Problem(f"p{i}", "q", "5", "integer", "toy") for i in range(3)]
    traces = [
        _probed("5", 14, ["3", "5", "5"]),  # settled at 8 and correct there
        _probed("7", 16, ["7", "2", "7"]),  # wrong: settled only at 12; first_correct lets it think on (16)
        _probed("5", 12, ["5", "6", "5"]),  # correct at 4 already, settled only at 12
    ]
    out = hindsight(traces, problems)
    assert out["accuracy"] == pytest.approx(2 / 3) and out["thinking_tokens"] == pytest.approx(14)
    assert out["same_answers"]["thinking_tokens"] == pytest.approx((8 + 12 + 12) / 3)
    assert out["first_correct"]["thinking_tokens"] == pytest.approx((8 + 16 + 4) / 3)
    assert out["first_correct"]["token_saving"] == pytest.approx(1 / 3)
    no_probes = hindsight([_probed("5", 10, [])], problems[:1])
    assert no_probes["same_answers"]["token_saving"] == no_probes["first_correct"]["token_saving"] == 0


def test_adaptive_caps_run_rules_apart_from_the_fixed_caps(tmp_path):
    rules = [{"probe_every": 4, "agree": 2}]
    base = dict(benchmark="toy", output_dir=str(tmp_path))
    labels = [s.label for s in build_settings(SweepConfig(**base, caps=[8, 16], adaptive=rules, adaptive_caps=[16]))]
    assert labels == ["cap=8", "cap=16", "cap=16 agree=2/4"]
    alone = build_settings(SweepConfig(**base, caps=[], adaptive=rules, adaptive_caps=[16]))
    assert [s.label for s in alone] == ["cap=16 agree=2/4"]
    with pytest.raises(ValueError, match="adaptive_caps is empty"):
        SweepConfig(**base, caps=[8], adaptive=rules, adaptive_caps=[])
    with pytest.raises(ValueError, match="caps is empty"):
        SweepConfig(**base, caps=[], adaptive=rules)
    config = AdaptiveBenchConfig(caps=[4, 16], adaptive=rules)
    assert [s.label for s in build_settings(sweep_config(config, "m", None, str(tmp_path)))][-1] == "cap=16 agree=2/4"


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="AdaptiveBenchConfig.limit"):
        AdaptiveBenchConfig(limit=0)
    with pytest.raises(ValueError, match="nothing to compare"):
        AdaptiveBenchConfig(adaptive=[])
    bad = tmp_path / "bench.yaml"
    bad.write_text("limt: 3\n")
    for field, value in (("max_accuracy_drop", 1.5), ("confidence", 0), ("calibration_problems", -1)):
        with pytest.raises(ValueError, match=f"AdaptiveBenchConfig.{field} must be"):
            AdaptiveBenchConfig(**{field: value})
    for field, value in (("calibration_strategy", "deer"), ("calibration_threshold", [0.9, 1.5]),
                         ("calibration_threshold", []), ("calibration_agree", [0])):  # fmt: skip
        with pytest.raises(ValueError, match=f"AdaptiveBenchConfig.{field} must be"):
            AdaptiveBenchConfig(**{field: value})
    with pytest.raises(ValueError, match="limt"):
        AdaptiveBenchConfig.from_file(bad)
    with pytest.raises(ValueError, match=r"SweepConfig.adaptive\[0\].*probe_every"):
        sweep_config(AdaptiveBenchConfig(adaptive=[{"probe_every": 0}]), "m", None, str(tmp_path))


def test_the_default_calibration_is_deers_threshold_where_the_model_checks():
    grid = AdaptiveBenchConfig().calibration_grid()
    assert [rule["threshold"] for rule in grid] == [0.99, 0.95, 0.9, 0.8]
    assert all(rule["strategy"] == "answer_confidence" and rule["probe_transitions"] for rule in grid)
    dynasor = AdaptiveBenchConfig(calibration_strategy="probe_consistency").calibration_grid()
    assert {(rule["probe_every"], rule["agree"]) for rule in dynasor} == {(p, a) for p in (8, 16) for a in (2, 3, 4)}


@pytest.mark.slow
@pytest.mark.model
def test_a_tiny_run_prints_the_keys_and_its_table_adds_up(tiny_model_dir, tmp_path, capsys):
    config = tmp_path / "bench.yaml"
    config.write_text(
        f"model: {tiny_model_dir}\nlimit: 3\ncaps: [2, 6]\nmax_answer_tokens: 2\nbatch_size: 3\n"
        "adaptive: [{probe_every: 2, agree: 1, probe_tokens: 2}, {probe_every: 3, agree: 2, probe_tokens: 2}]\n"
        f"timing_problems: 2\ntiming_repeats: 1\noracle_stride: 2\noutput_dir: {tmp_path / 'sweep'}\n"
        "calibration_problems: 4\ncalibration_strategy: probe_consistency\ncalibration_probe_every: [2]\n"
        "calibration_agree: [1, 3]\n"
        "max_accuracy_drop: 0.5\nconfidence: 0.6\n"  # 2 problems suffice: 0.5^2 <= 0.4
    )
    results = run_bench(json_output=True, config=config)
    printed = json.loads(capsys.readouterr().out)  # one JSON object on stdout, progress elsewhere
    assert printed["token_saving"] == results["token_saving"]
    assert set(HEADLINE) <= set(printed) and printed["problems"] == 3
    assert printed["cpu"] and printed["precision"] in ("float32", "bfloat16")
    table = {r["setting"]: r for r in printed["settings"]}
    calibration = printed["calibration"]
    assert calibration["problems"] == 4 and [t["label"] for t in calibration["tests"]] == ["agree=3/2", "agree=1/2"]
    for t in calibration["tests"]:
        assert t["p_value"] == pytest.approx(binomial_p_value(t["harms"], 4, 0.5))
    hand_picked = {"cap=2", "cap=6", "cap=6 agree=1/2", "cap=6 agree=2/3"}
    if calibration["chosen"] is None:  # nothing certified: the full budget is reported, with no saving
        assert set(table) == hand_picked and printed["reported"] == "cap=6" and printed["token_saving"] == 0.0
        return
    assert set(table) == hand_picked | {f"cap=6 {calibration['chosen']}"}
    assert printed["reported"] == f"cap=6 {calibration['chosen']}" and "calibrated on 4" in printed["chosen_by"]
    best, matched = table[printed["reported"]], table[printed["matched_fixed"]]
    assert best["kind"] == "adaptive" and matched["kind"] == "fixed"
    full = table["cap=6"]
    assert printed["accuracy_vs_full"] == pytest.approx(best["accuracy"] - full["accuracy"])
    if full["thinking_tokens"]:
        assert printed["saving_vs_full"] == pytest.approx(1 - best["thinking_tokens"] / full["thinking_tokens"])
    assert printed["hindsight_probed"] == printed["hindsight"]["same_answers"]["token_saving"]
    from s1lib.eval.adaptive_summary import hindsight_share

    settled = hindsight_share(full["efficiency"], full["thinking_tokens"])  # the demo's bound, from the text
    assert printed["hindsight_bound"] == (None if settled is None else pytest.approx(settled))
    assert table[printed["best"]]["accuracy"] == max(r["accuracy"] for r in table.values() if r["kind"] == "adaptive")
    if matched["thinking_tokens"]:
        assert printed["token_saving"] == pytest.approx(1 - best["thinking_tokens"] / matched["thinking_tokens"])
    assert printed["accuracy_delta"] == pytest.approx(best["accuracy"] - matched["accuracy"])
    if best["thinking_tokens"]:
        assert printed["probe_overhead"] == pytest.approx(best["probe_tokens"] / best["thinking_tokens"])
    assert table["cap=6 agree=1/2"]["probe_tokens"] > 0
    one_row = printed["timing"]["one_row"]
    assert one_row["problems"] == 2 and one_row["batch_size"] == 1
    assert printed["wall_clock_ratio"] == pytest.approx(one_row["ratio"])
    assert one_row["thinking_tokens"][1] == round(one_row["thinking_tokens"][0])  # the fixed run: the mean length
    # the same policy, probes undrafted, timed in the same run: the same thinking and probe tokens
    assert printed["wall_clock_ratio_undrafted"] == pytest.approx(one_row["ratio_undrafted"])
    assert one_row["thinking_tokens"][2] == one_row["thinking_tokens"][0]
    assert one_row["probe_tokens"][2] == one_row["probe_tokens"][0]
    drafts = printed["probe_drafts"]
    assert drafts["forwards"] > 0 and 0 <= drafts["accepted"] <= drafts["drafted"]
    assert (tmp_path / "sweep" / "samples.jsonl").is_file()
    for alt in printed["timing_alternatives"]:  # settings as accurate as the best, timed alike
        assert alt["setting"] != printed["reported"] and alt["batch_size"] == 1 and alt["ratio"] > 0
        assert table[alt["setting"]]["accuracy"] >= best["accuracy"] - 0.01 - 1e-12
    bound = printed["hindsight"]
    assert bound["stride"] == 2 and bound["setting"] == "cap=6"
    assert bound["accuracy"] == pytest.approx(table["cap=6"]["accuracy"]), "the bound reruns the largest cap"
    assert 0 <= bound["same_answers"]["token_saving"] <= 1 and 0 <= bound["first_correct"]["token_saving"] <= 1


def test_bench_config_flag_goes_only_to_benches_that_take_one(tmp_path, capsys):
    from s1lib.cli import BENCHES, main

    assert BENCHES["adaptive"] == "s1lib.benches.adaptive"
    assert main(["bench", "forcing", "--config", str(tmp_path / "x.yaml")]) == 2
    assert "takes no --config" in capsys.readouterr().err
    assert main(["bench", "adaptive", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "bench config file not found" in capsys.readouterr().err
