"""LIMO's evaluation preset: its prompt and sampling, one unforced plain-answer policy, pass@1 reported as pass@1."""

from __future__ import annotations

import pytest

from s1lib.eval.store import summarize_setting
from s1lib.eval.sweep_config import SweepConfig, build_settings
from s1lib.text_format import LIMO_SYSTEM_PROMPT


def test_limo_sweep_preset_is_limos_prompt_and_sampling():
    config = SweepConfig.from_file("env/sweeps/limo-aime24.yaml")
    assert (config.system, config.temperature, config.samples, config.model) == (
        LIMO_SYSTEM_PROMPT,
        0.7,
        16,
        "GAIR/LIMO",
    )
    [setting] = build_settings(config)
    assert setting.policy.thinking_phase is False and setting.label == "limo"


def _records(flags: dict[str, list[tuple[str, bool]]]) -> list[dict]:
    return [
        {"setting": "limo", "problem_id": pid, "sample": j, "status": "correct" if ok else "wrong", "vote_key": key}
        for pid, samples in flags.items()
        for j, (key, ok) in enumerate(samples)
    ]


@pytest.mark.parametrize(
    ("flags", "pass1", "cov4", "maj4"),
    [
        # one of four right on each problem: pass@1 25 %, while "any right" (LIMO's Acc for n > 1) says 100 %
        (
            {"a": [("1", True), ("2", False), ("2", False), ("3", False)], "b": [("7", True)] + [("8", False)] * 3},
            0.25,
            1.0,
            0.0,
        ),
        ({"a": [("1", True)] * 4, "b": [("2", False)] * 4}, 0.5, 0.5, 0.5),
    ],
)
def test_pass_at_1_is_the_mean_over_samples_with_maj_and_cov_beside_it(flags, pass1, cov4, maj4):
    out = summarize_setting(_records(flags))
    assert out["pass@1"] == pytest.approx(pass1) == pytest.approx(out["accuracy"])
    assert out["cov@4"] == pytest.approx(cov4) and out["maj@4"] == pytest.approx(maj4)
