"""The one check of a closed-set setting (Named.checked): a member or its string comes back as the member; anything
else is a ValueError naming the field and the names allowed."""

import pytest

from s1lib.eval.problems import AnswerKind
from s1lib.forcing.adaptive import StopStrategy

ACCEPTED = [
    (StopStrategy, "probe_consistency", StopStrategy.PROBE_CONSISTENCY),
    (StopStrategy, StopStrategy.ANSWER_CONFIDENCE, StopStrategy.ANSWER_CONFIDENCE),
    (AnswerKind, "choice", AnswerKind.CHOICE),
]

REFUSED = [
    (StopStrategy, "deer", "'deer'"),
    (StopStrategy, "PROBE_CONSISTENCY", "'PROBE_CONSISTENCY'"),
    (AnswerKind, None, "None"),
    (AnswerKind, ["math"], r"\['math'\]"),
    (AnswerKind, 3, "3"),
]


@pytest.mark.parametrize(("kind", "value", "member"), ACCEPTED)
def test_a_member_or_its_string_is_the_member(kind, value, member):
    checked = kind.checked(value, "Config.field")
    assert checked is member and type(checked) is kind


@pytest.mark.parametrize(("kind", "value", "shown"), REFUSED)
def test_anything_else_names_the_field_the_names_and_the_value(kind, value, shown):
    names = ", ".join(repr(m.value) for m in kind)
    with pytest.raises(ValueError, match=rf"^Config\.field must be one of {names}, got {shown}$"):
        kind.checked(value, "Config.field")


def test_a_bench_without_calibration_still_refuses_an_unknown_strategy():
    from s1lib.benches.adaptive_config import AdaptiveBenchConfig

    with pytest.raises(ValueError, match="AdaptiveBenchConfig.calibration_strategy must be one of"):
        AdaptiveBenchConfig(calibration_problems=0, calibration_strategy="deer")
    config = AdaptiveBenchConfig(calibration_problems=0, calibration_strategy="probe_consistency")
    assert type(config.calibration_strategy) is StopStrategy
