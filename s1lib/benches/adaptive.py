"""``s1 bench adaptive``: adaptive thinking budgets against fixed ones, on a model whose accuracy needs its thinking.

The model is the demo's SFT'd SmolLM2-135M (``runs/demo/sft/model``; curation and SFT run through the demo's own
grid when it is absent) and the problems the demo's held-out toy problems, since the untrained model's accuracy does
not depend on how long it thinks. One sweep (the sweep runner, transformers, greedy) runs fixed caps and every
adaptive rule at the largest cap; then:

- per adaptive setting, the *matched* fixed budget is the smallest cap whose accuracy is at least the setting's
  minus ``tolerance`` (one point); ``token_saving`` = 1 − its mean thinking tokens ÷ the matched budget's,
  ``accuracy_delta`` = its accuracy − the matched budget's, ``probe_overhead`` = probe tokens ÷ thinking tokens;
- the headline is the *calibrated* setting: before the sweep, a grid of settings (DEER's
  ``calibration_threshold`` by default, probed where the model starts its check; or with ``calibration_strategy:
  probe_consistency`` a probe every ``calibration_probe_every`` tokens, ``calibration_agree`` agreeing; the cap's
  own answer as the probe) is replayed on ``calibration_problems`` toy problems apart from the held-out ones, from
  one densely probed run, and Learn Then Test picks the cheapest one certified to harm at most
  ``max_accuracy_drop`` of the problems with ``confidence`` (:mod:`s1lib.eval.calibration`); when none is
  certified, the full budget is reported (no saving). That setting is then decoded on the held-out problems with
  the hand-picked ones. ``accuracy_vs_full`` is its held-out accuracy minus the full budget's, ``saving_vs_full``
  its saving against the full budget, and ``saving_over_hindsight`` that saving over the hindsight bound (below);
- ``best`` is the most accurate setting on the held-out problems themselves (ties: fewer thinking tokens): chosen
  after seeing them, so shown for comparison only (``calibration_problems: 0`` makes it the headline, labelled so);
- ``wall_clock_ratio``: that setting's decode time ÷ a fixed run that thinks exactly its mean thinking length
  (``min = max = `` that length), one row at a time (each row's time follows its own tokens, as under continuous
  batching), interleaved in this process; ``wall_clock_ratio_batched`` is the same over one static batch of every
  problem, where the adaptive run also waits for its longest row; ``timing_alternatives`` times every other adaptive
  setting within ``tolerance`` of the best's accuracy the same way (one row at a time), since settings that tie on
  accuracy can differ in what their probes cost. On the transformers engine each row's previous probe answer drafts
  its next probe (``HFEngine.probe_drafts``: the same probes, fewer forward passes when the draft holds);
  ``wall_clock_ratio_undrafted`` times the best setting's probes undrafted in the same interleaved run, and
  ``probe_drafts`` counts the sweep's probe forward passes and its drafted and accepted tokens.

``hindsight_bound`` is the demo's (``s1lib.eval.adaptive_summary``): the share of the full budget's thinking that
came after its final answer was there for good, read from the text by the extraction rules; ``saving_over_hindsight``
is the reported setting's saving against the full budget over it. ``hindsight`` (``hindsight_probed``) measures
the same with forced probes: the largest cap run once more with a probe every
``oracle_stride`` tokens that never stops (the probe is exactly the cap's forced answer: no opening,
``max_answer_tokens`` tokens, so stopping at a probe answers what it says). ``same_answers`` stops each row at the
earliest probe from which every later probe gives the row's final answer (every answer, so the accuracy, unchanged);
``first_correct`` stops each correctly answered row at its first correct probe and lets the others think on. They
measure how much thinking comes after the answer is already there (in hindsight), which is what a stop rule is meant
to cut. A probe forced mid-thinking can name a running state rather than the answer the text already states (a
re-check's partial count), so the probed bound can be below the text's, and a rule that probes where the model
starts its check can save more than it.

Every setting measured is in ``settings``; the goals (``token_saving`` ≥ 0.30, ``wall_clock_ratio`` ≤ 1.15) are
reported as met or not, never tuned towards.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from s1lib.benches.adaptive_config import BEST_DEFINITION, GOALS, AdaptiveBenchConfig
from s1lib.benches.adaptive_measures import (
    against_own_length,
    compare,
    drafts_probes,
    hindsight_bound,
    setting_rows,
    wall_clock,
)
from s1lib.eval.adaptive_summary import hindsight_share, reaches
from s1lib.eval.pareto import calibration_lines
from s1lib.forcing.engine import Engine


# --------------------------------------------------------------------------------------------------------- run
def resolve_inputs(config: AdaptiveBenchConfig) -> tuple[str, str | None, bool]:
    """The model folder, the benchmark file (None: the generated toy set, the same held-out problems), and whether
    the demo had to train the model now."""
    if config.model is not None:
        return config.model, config.data, False
    from s1lib.cli.demo import trained_model

    with contextlib.redirect_stdout(sys.stderr):  # the demo's progress must not mix into --json
        model, data, trained = trained_model(config.demo_root)
    return str(model), config.data or str(data), trained


def _normal(rule: Mapping[str, Any]) -> tuple[Any, ...]:
    """A sweep rule (AdaptiveStop fields, num_ignore, min_thinking_tokens) with every default filled in."""
    from s1lib.forcing.adaptive import AdaptiveStop

    rest = {k: v for k, v in rule.items() if k not in ("num_ignore", "min_thinking_tokens")}
    return (AdaptiveStop(**rest).to_dict(), rule.get("num_ignore", 0), rule.get("min_thinking_tokens", 0))


def sweep_config(
    config: AdaptiveBenchConfig, model: str, data: str | None, output_dir: str, calibrated: Any = None
) -> Any:
    """The one sweep: the fixed caps (prefix-shared) and each adaptive rule at the adaptive caps, the calibrated
    rule (a dict) among them."""
    from s1lib.eval.sweep_config import SweepConfig

    rules = [dict(rule) for rule in config.adaptive]
    if calibrated is not None and _normal(calibrated) not in [_normal(rule) for rule in rules]:
        rules.append(dict(calibrated))
    return SweepConfig(
        benchmark="toy",
        data=data,
        model=model,
        caps=list(config.caps),
        adaptive=rules,
        adaptive_caps=config.adaptive_caps or [max(config.caps)],
        max_answer_tokens=config.max_answer_tokens,
        limit=config.limit,
        batch_size=config.batch_size,
        output_dir=output_dir,
    )


def _policy_of(row: Mapping[str, Any], config: AdaptiveBenchConfig) -> Any:
    """The BudgetPolicy of one adaptive row of the sweep (its cap, Waits and rule)."""
    from s1lib.forcing import BudgetPolicy

    return BudgetPolicy(
        max_thinking_tokens=row["cap"],
        num_ignore=row["num_ignore"],
        min_thinking_tokens=row.get("min_thinking_tokens", 0),
        max_answer_tokens=config.max_answer_tokens,
        adaptive=row["adaptive"],
    )


def _cpu() -> str:
    from s1lib.machine import cpu_info

    return cpu_info().model


def calibration_split(config: AdaptiveBenchConfig, held_out: Sequence[Any]) -> list[Any]:
    """The calibration problems: ``calibration_data``, or toy problems drawn apart from ``held_out``."""
    from s1lib.eval.benchmarks import load_any, toy_problem
    from s1lib.eval.calibrated_stop import apart_from
    from s1lib.toy import toy_calibration

    if config.calibration_data:
        problems = load_any("toy", config.calibration_data, config.calibration_problems)
    else:
        rows = toy_calibration(config.calibration_problems, [{"question": p.question} for p in held_out])
        problems = [toy_problem(row, "toy calibration", i) for i, row in enumerate(rows)]
    return apart_from(problems, held_out)


def calibrate_rule(engine: Engine, held_out: Sequence[Any], config: AdaptiveBenchConfig) -> Any:
    """Choose the setting (``calibration_strategy``) on the calibration split (``s1lib.eval.calibration``) at the
    largest adaptive cap; the held-out problems are only used to keep the split apart from them."""
    from s1lib.eval.calibrated_stop import calibrate_on

    grid = config.calibration_grid()
    cap = max(config.adaptive_caps or config.caps)
    problems = calibration_split(config, held_out)
    calibration, _ = calibrate_on(
        engine, problems, cap, config.max_answer_tokens, grid, config.target(), config.batch_size
    )
    return calibration


def headline(
    compared: Mapping[str, Any], calibration: Any, bound: Mapping[str, Any] | None, config: AdaptiveBenchConfig
) -> dict[str, Any]:
    """The reported setting (the calibrated one; without calibration, the best hand-picked one, chosen on these
    problems) and its figures on the held-out problems."""
    table = compared["settings"]
    cap = max(config.adaptive_caps or config.caps)
    full = next(r for r in table if r["kind"] == "fixed" and r["cap"] == cap)
    if calibration is None:
        row = next(r for r in table if r["setting"] == compared["best"])
        chosen_by = "best on the reported problems (hand-picked rules, not calibrated)"
    elif calibration.chosen_rule is None:
        row = {**full, "token_saving": 0.0, "accuracy_delta": 0.0, "probe_overhead": 0.0, "matched_fixed": None}
        chosen_by = "calibration certified no rule: the full budget"
    else:
        from s1lib.forcing.adaptive import AdaptiveStop

        rule = AdaptiveStop(**calibration.chosen_rule).to_dict()
        row = next(
            r for r in table
            if r["kind"] == "adaptive" and r["adaptive"] == rule and r["cap"] == cap
            and not r["num_ignore"] and not r["min_thinking_tokens"]
        )  # fmt: skip
        chosen_by = f"calibrated on {calibration.problems} problems apart ({calibration.method})"
    saving_vs_full = 1 - row["thinking_tokens"] / full["thinking_tokens"] if full["thinking_tokens"] else None
    hindsight_bound = hindsight_share(full.get("efficiency") or {}, full["thinking_tokens"])  # as the demo reports
    return {
        "setting": row["setting"],
        "chosen_by": chosen_by,
        "row": row,
        "token_saving": row.get("token_saving"),
        "accuracy_delta": row.get("accuracy_delta"),
        "probe_overhead": row.get("probe_overhead"),
        "matched_fixed": row.get("matched_fixed"),
        "accuracy_vs_full": row["accuracy"] - full["accuracy"],
        "saving_vs_full": saving_vs_full,
        "hindsight_bound": hindsight_bound,
        "saving_over_hindsight": (
            saving_vs_full / hindsight_bound if saving_vs_full is not None and hindsight_bound else None
        ),
        "hindsight_probed": bound["same_answers"]["token_saving"] if bound else None,
    }


def measure(config: AdaptiveBenchConfig, engine: Engine | None = None) -> dict[str, Any]:
    """Calibrate, run the sweep and the timing; the results as one mapping (see the module docstring)."""
    from s1lib.eval.sweep import load_problems, run_sweep

    started = time.perf_counter()
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    model, data, trained = resolve_inputs(config)
    if engine is None:
        from s1lib.backends.hf import HFEngine

        engine = HFEngine.from_name(model)
    with contextlib.ExitStack() as stack:
        folder = config.output_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="s1-bench-adaptive-"))
        problems = load_problems(sweep_config(config, model, data, folder))
        calibration = None
        if config.calibration_problems:
            with contextlib.redirect_stdout(sys.stderr):
                calibration = calibrate_rule(engine, problems, config)
        calibration_seconds = time.perf_counter() - started
        if drafts_probes(engine):
            engine.probe_stats = {}
        sweep = sweep_config(config, model, data, folder, calibration.chosen_rule if calibration else None)
        with contextlib.redirect_stdout(sys.stderr):
            run = run_sweep(sweep, engine=engine)
        records = [json.loads(line) for line in (run.output_dir / "samples.jsonl").read_text().splitlines()]
    sweep_seconds = time.perf_counter() - started - calibration_seconds
    draft_stats = dict(getattr(engine, "probe_stats", None) or {})
    compared = compare(setting_rows(run.results, records), config.tolerance)
    bound = None
    if config.oracle_stride:
        plain = [engine.prompt_for(p.question) for p in problems]  # budget forcing's prompt: the question alone
        bound = hindsight_bound(engine, plain, problems, config)
    head = headline(compared, calibration, bound, config)
    timing_started = time.perf_counter()
    timing, alternatives = {}, []
    if head["row"]["kind"] == "adaptive":
        policy = _policy_of(head["row"], config)
        prompts = [engine.prompt_for(p.question, policy) for p in problems]
        timing = wall_clock(engine, prompts, policy, config)
        as_accurate = [  # the other settings as accurate (within tolerance): their probes differ
            r for r in compared["settings"]
            if r["kind"] == "adaptive" and r["setting"] != head["setting"]
            and reaches(r["accuracy"], head["row"]["accuracy"], config.tolerance)
        ]  # fmt: skip
        for row in as_accurate if config.timing_problems else []:
            rows = prompts[: config.timing_problems]
            timed = against_own_length(engine, rows, _policy_of(row, config), 1, config.timing_repeats)
            alternatives.append({"setting": row["setting"], **timed})
    ratio = timing.get("one_row", timing.get("batched", {})).get("ratio")
    target_met = head["accuracy_vs_full"] >= -config.max_accuracy_drop - 1e-12
    results: dict[str, Any] = {
        "model": model,
        "model_trained_now": trained,
        "data": data,
        "problems": len(problems),
        "cpu": _cpu(),
        "precision": (engine.precision or {}).get("dtype"),
        "definition": BEST_DEFINITION,
        "tolerance": config.tolerance,
        "reported": head["setting"],
        "chosen_by": head["chosen_by"],
        "token_saving": head["token_saving"],
        "probe_overhead": head["probe_overhead"],
        "accuracy_delta": head["accuracy_delta"],
        "accuracy_vs_full": head["accuracy_vs_full"],
        "saving_vs_full": head["saving_vs_full"],
        "hindsight_bound": head["hindsight_bound"],
        "saving_over_hindsight": head["saving_over_hindsight"],
        "hindsight_probed": head["hindsight_probed"],
        "wall_clock_ratio": ratio,
        "wall_clock_ratio_batched": timing.get("batched", {}).get("ratio"),
        "wall_clock_ratio_undrafted": timing.get("one_row", {}).get("ratio_undrafted"),
        "probe_drafts": draft_stats or None,
        "calibration": None if calibration is None else calibration.to_dict(),
        "best": compared["best"],
        "matched_fixed": head["matched_fixed"],
        "matched": head["row"].get("matched"),
        "largest_saving": compared["largest_saving"],
        "hindsight": bound,
        "goals": GOALS,
        "goals_met": {
            "token_saving": head["token_saving"] is not None
            and head["token_saving"] >= GOALS["token_saving"]
            and target_met,
            "wall_clock_ratio": ratio is not None and ratio <= GOALS["wall_clock_ratio"],
        },
        "timing": timing,
        "timing_alternatives": alternatives,
        "settings": compared["settings"],
        "seconds": {
            "calibration": round(calibration_seconds, 1),
            "sweep": round(sweep_seconds, 1),
            "timing": round(time.perf_counter() - timing_started, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "config": asdict(config),
    }
    return results


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def report(results: Mapping[str, Any]) -> str:
    """The text form: every setting measured, then the headline and its definition."""
    lines = [
        f"s1 bench adaptive on {results['model']} ({results['problems']} problems)",
        f"CPU {results['cpu']}, precision {results['precision']}",
        "",
        f"{'setting':28} {'acc':>6} {'think':>6} {'probe':>6} {'early':>6}  {'matched':10} {'saving':>7} {'Δacc':>6}",
    ]
    for r in results["settings"]:
        matched = (r.get("matched_fixed") or "") + ("" if r.get("matched", True) else "*")
        lines.append(
            f"{r['setting']:28} {_pct(r['accuracy']):>6} {r['thinking_tokens']:6.1f} {r['probe_tokens']:6.1f} "
            f"{_pct(r['stopped_early']) if r['kind'] == 'adaptive' else '':>6}  {matched:10} "
            f"{_pct(r.get('token_saving')) if r['kind'] == 'adaptive' else '':>7} "
            f"{_pct(r.get('accuracy_delta')) if r['kind'] == 'adaptive' else '':>6}"
        )
    timing = results["timing"]
    lines += ["", f"({results['definition']}; * = no cap reaches its accuracy)", ""]
    if results.get("calibration"):
        lines += [*calibration_lines(results), ""]  # the notebook's lines: one report of how it was chosen
    lines.append(
        f"{'reported':26} {results['reported']}  ({results['chosen_by']}; best on these problems: {results['best']})"
    )
    keys = ("matched_fixed", "token_saving", "probe_overhead", "accuracy_delta", "accuracy_vs_full", "saving_vs_full",
            "hindsight_bound", "saving_over_hindsight", "hindsight_probed")  # fmt: skip
    for key in keys:
        value = results[key]
        lines.append(f"{key:26} {round(value, 3) if isinstance(value, float) else value}")
    for name, t in timing.items():
        key = "wall_clock_ratio" if name == "one_row" else "wall_clock_ratio_batched"
        lines.append(
            f"{key:26} {t['ratio']:.3f}  ({name}: {t['problems']} problems at batch {t['batch_size']}, "
            f"{t['seconds'][0]:.2f} s adaptive vs {t['seconds'][1]:.2f} s {t['fixed_setting']}, "
            f"thinking {t['thinking_tokens'][0]:.1f} vs {t['thinking_tokens'][1]:.1f})"
        )
        if "ratio_undrafted" in t:
            lines.append(
                f"{'  probes undrafted':26} {t['ratio_undrafted']:.3f}  ({t['seconds'][2]:.2f} s, the same run: "
                f"each row's previous probe answer did not draft its next probe)"
            )
    drafts = results.get("probe_drafts")
    if drafts and drafts.get("drafted"):
        lines.append(
            f"{'probe drafts (sweep)':26} {drafts['accepted']} of {drafts['drafted']} drafted tokens accepted, "
            f"{drafts['forwards']} probe forward passes"
        )
    bound = results.get("hindsight")
    if bound:
        lines.append(
            f"{'hindsight, probed':26} same answers {_pct(bound['same_answers']['token_saving'])}, first correct "
            f"{_pct(bound['first_correct']['token_saving'])}  ({bound['setting']}, a probe every {bound['stride']} "
            f"tokens, accuracy {_pct(bound['accuracy'])}, thinking {bound['thinking_tokens']:.1f})"
        )
    for alt in results.get("timing_alternatives") or []:
        lines.append(
            f"{'  as accurate: ' + alt['setting']:26} wall clock {alt['ratio']:.3f} one row at a time "
            f"({alt['seconds'][0]:.2f} s vs {alt['seconds'][1]:.2f} s {alt['fixed_setting']}, "
            f"probe tokens {alt['probe_tokens'][0]:.1f})"
        )
    met = results["goals_met"]
    lines.append(
        f"goals: token_saving >= {GOALS['token_saving']} {'met' if met['token_saving'] else 'NOT met'}; "
        f"wall_clock_ratio <= {GOALS['wall_clock_ratio']} {'met' if met['wall_clock_ratio'] else 'NOT met'}"
    )
    seconds = results["seconds"]
    lines.append(
        f"took {seconds['total']} s (calibration {seconds['calibration']} s, sweep {seconds['sweep']} s, "
        f"timing {seconds['timing']} s)"
    )
    return "\n".join(lines)


def run_bench(json_output: bool = False, config: AdaptiveBenchConfig | str | Path | None = None) -> dict[str, Any]:
    """``s1 bench adaptive``; ``config`` is a config or a YAML/JSON file of its fields."""
    if not isinstance(config, AdaptiveBenchConfig):
        config = AdaptiveBenchConfig.from_file(config) if config is not None else AdaptiveBenchConfig()
    results = measure(config)
    print(json.dumps(results, indent=2) if json_output else report(results), flush=True)
    return results
