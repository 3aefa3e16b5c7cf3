"""Every stage's settings are data with help: each field of each config dataclass says what it does (like TRL's
``SFTConfig``), so the CLI, papermill parameters and marimo UI can all show it."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest

import s1lib
from s1lib.curation.config import CurationConfig
from s1lib.eval.judge import JudgeConfig
from s1lib.eval.sweep_config import SweepConfig
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig
from s1lib.train.config import TrainConfig

STAGE_CONFIGS = [CurationConfig, SweepConfig, BudgetPolicy, JudgeConfig, SamplingConfig, TrainConfig]


def every_config_dataclass() -> list[type]:
    """Each dataclass named ``*Config`` anywhere in s1lib (modules that need vLLM import without it)."""
    found = []
    for info in pkgutil.walk_packages(s1lib.__path__, "s1lib."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__ == module.__name__
                and name.endswith("Config")
            ):
                found.append(obj)
    return found


def fields_without_help(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if not str(f.metadata.get("help") or "").strip()]


@pytest.mark.parametrize(
    ("cls", "field"),
    [(cls, f.name) for cls in STAGE_CONFIGS for f in dataclasses.fields(cls)],
    ids=lambda v: v.__name__ if isinstance(v, type) else v,
)
def test_stage_config_field_has_help(cls, field):
    assert field not in fields_without_help(cls), f"{cls.__name__}.{field} has no metadata['help']"


def test_every_config_dataclass_has_help_on_every_field():
    configs = every_config_dataclass()
    assert set(STAGE_CONFIGS) - {BudgetPolicy} <= set(configs)
    assert {c.__name__: fields_without_help(c) for c in configs if fields_without_help(c)} == {}


def test_a_field_without_help_is_found():
    @dataclasses.dataclass
    class Partly:
        documented: int = dataclasses.field(default=1, metadata={"help": "says what it does"})
        bare: int = 0

    assert fields_without_help(Partly) == ["bare"]
