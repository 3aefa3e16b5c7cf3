"""A notebook parameter or a widget control exists only as a config field, or declared as the notebook's own with
what it is (the CLI's flags: tests/cli/test_cli_flags.py)."""

from __future__ import annotations

import dataclasses

import pytest
from doubles import FakeEngine

from s1lib.notebook_params import NOTEBOOK_PARAMS
from s1lib.widgets import CONTROLS, BudgetForcingWidget, marimo_controls, policy_from_controls


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_PARAMS))
def test_every_notebook_parameter_is_a_config_field_or_its_own(notebook):
    params = NOTEBOOK_PARAMS[notebook]
    names = [f.name for f in dataclasses.fields(params)]
    undeclared = [n for n in names if params.config_field(n) is None and n not in params.OWN]
    assert undeclared == [], f"{notebook}: parameters no config holds and OWN does not declare"
    assert set(params.OWN) <= set(names), f"{notebook}: OWN names parameters that are gone"
    shadowing = [n for n in params.OWN if params.config_field(n) is not None]
    assert shadowing == [], f"{notebook}: OWN declares config fields as the notebook's own"
    assert all(params.help().values())


def test_a_parameter_takes_its_config_fields_help():
    sft = NOTEBOOK_PARAMS["02_sft"]
    from s1lib.train.config import TrainConfig

    assert sft.config_field("learning_rate") == (TrainConfig, "learning_rate")
    assert sft.help()["learning_rate"] == TrainConfig.__dataclass_fields__["learning_rate"].metadata["help"]


def test_every_widget_control_is_a_config_field():
    for control in CONTROLS:
        assert control.field in {f.name for f in dataclasses.fields(control.config)}, control.name
        assert control.help, f"{control.config.__name__}.{control.field} has no help"
    assert len({c.name for c in CONTROLS}) == len(CONTROLS)


def test_the_widgets_show_exactly_the_declared_controls():
    import marimo as mo

    shown = [c.name for c in CONTROLS if c.kind != "fixed"]
    widget = BudgetForcingWidget(FakeEngine(), max_thinking_tokens=12)
    assert list(widget.controls) == shown
    assert widget.controls["max_thinking_tokens"].tooltip == CONTROLS[0].help
    assert widget.budget.value == 12 and widget.num_ignore.value == 1  # the Jupyter widget starts with one Wait
    controls = marimo_controls(mo, max_thinking_tokens=12)
    assert list(controls.value) == shown and controls.value["max_thinking_tokens"] == 12
    assert policy_from_controls(**controls.value).max_thinking_tokens == 12


def test_a_misspelt_control_is_refused():
    with pytest.raises(TypeError, match="unknown control.*'num_ignores'"):
        policy_from_controls(8, num_ignores=2)
    with pytest.raises(TypeError, match="unknown control"):
        BudgetForcingWidget(FakeEngine(), max_thinking=8)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_PARAMS))
def test_a_notebooks_usage_lists_every_parameter_as_a_command_line_reads_it(notebook):
    import shlex

    from s1lib.notebook_params import flag_value

    params = NOTEBOOK_PARAMS[notebook]
    usage = params().usage()
    for name, text in params.help().items():
        assert f"`--{name.replace('_', '-')} " in usage and text in usage, name
    defaults = params()
    spelled = {f.name: shlex.split(flag_value(getattr(defaults, f.name)))[0] for f in dataclasses.fields(params)}
    assert params.from_cli_args(spelled) == defaults  # the values shown read back as the same parameters
    changed = dataclasses.replace(defaults, output_dir="elsewhere")
    assert "`--output-dir elsewhere`" in changed.usage()  # the values in effect, not the defaults


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_PARAMS))
def test_a_marimo_notebook_shows_its_parameters_instead_of_listing_them(notebook):
    """The prose names no parameter with a value (the generated list shows them), so it cannot drift."""
    import re
    from pathlib import Path

    source = (Path(__file__).parents[1] / "notebooks" / "marimo" / f"{notebook}.py").read_text()
    assert "params.usage()" in source
    flags = "|".join(f.name.replace("_", "-") for f in dataclasses.fields(NOTEBOOK_PARAMS[notebook]))
    spelled = re.findall(rf"--(?:{flags})[ =](?!none\b)[^\s`]+", source)
    assert spelled == [], f"{notebook}: its prose spells parameter values"
