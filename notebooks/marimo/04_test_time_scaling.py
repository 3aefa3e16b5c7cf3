import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    return (mo,)


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    # 4 · Test-time scaling

    The paper's Figure 1: accuracy rises with thinking tokens under budget forcing, by capping (fewer tokens) and
    by forcing "Wait" (more). Table 3 scores a method by **Control** (share of runs inside the budget),
    **Scaling** (slope of accuracy vs thinking) and **Performance** (best accuracy). A tiny AIME24 sweep on the
    embedded model shows the mechanics (a 135M model solves no AIME problem). Parameters (as notebook 4's papermill
    parameters): `--model NAME --output-dir DIR --benchmark aime24|math500|gpqa_diamond|toy --data PATH
    --caps 16,32,64 --fill-budget true --waits 0,1,2 --wait-cap 64 --baselines token_conditional
    --token-budgets 32,64 --limit 3 --batch-size 8 --max-answer-tokens 24`.
    """)
    return


@app.cell
def _(mo):
    from s1lib.paths import data_dir

    args = mo.cli_args()

    def ints(name, default):
        return [int(v) for v in str(args.get(name) or default).split(",") if v != ""]

    benchmark = str(args.get("benchmark") or "aime24")
    dtype = str(args.get("dtype") or "auto")  # the fastest precision on this machine (measured), or float32
    settings = dict(
        benchmark=benchmark,
        model=str(args.get("model") or "default"),
        data=str(args.get("data") or data_dir()) if benchmark != "toy" else args.get("data"),
        engine_options={"dtype": dtype},
        caps=ints("caps", "16,32,64"),
        fill_budget=str(args.get("fill-budget") or "true").lower() in ("1", "true", "yes"),
        waits=ints("waits", "0,1,2"),
        wait_cap=int(args.get("wait-cap") or 64),
        baselines=[b for b in str(args.get("baselines") or "").split(",") if b],
        token_budgets=ints("token-budgets", "32,64"),
        max_answer_tokens=int(args.get("max-answer-tokens") or 24),
        batch_size=int(args.get("batch-size") or 8),
        output_dir=str(args.get("output-dir") or "runs/marimo/04_test_time_scaling"),
    )
    output_dir = settings["output_dir"]
    script_mode = mo.app_meta().mode == "script"
    limit = mo.ui.slider(1, 30, value=int(args.get("limit") or 3), label=f"{benchmark} problems", show_value=True)
    run = mo.ui.run_button(label="Run sweep")
    summary = f"Caps **{settings['caps']}**, Waits **{settings['waits']}** (under cap {settings['wait_cap']})"
    mo.vstack([mo.md(summary), limit, run])
    return limit, output_dir, run, script_mode, settings


@app.cell
def _(limit, mo, run, script_mode, settings):
    from s1lib.eval.sweep import SweepConfig, run_sweep

    mo.stop(not (run.value or script_mode), mo.md("Press **Run sweep** (minutes on a CPU)."))
    config = SweepConfig(**settings, limit=limit.value)
    with mo.status.spinner(title="Sweeping budgets ..."):
        sweep = run_sweep(config, progress=False)
    mo.ui.table(
        [
            {
                "setting": s["setting"],
                "accuracy": s["accuracy"],
                "95% CI": f"[{s['ci_low']:.2f}, {s['ci_high']:.2f}]",
                "thinking tokens": round(s["avg_thinking_tokens"], 1),
            }
            for s in sweep.results["settings"]
        ],
        selection=None,
    )
    return (sweep,)


@app.cell
def _(mo, output_dir, sweep):
    import json
    from pathlib import Path as _Path

    from s1lib import viz
    from s1lib.eval.summary import headline, write_scaling_summary

    out = _Path(output_dir)
    methods, chance = sweep.results["methods"], sweep.results["chance"]
    curve, table = viz.sweep_figures(methods, references={"chance (best constant answer)": chance["all"]})
    viz.save_figure(curve, out / "scaling_curve.html")
    viz.save_figure(table, out / "metrics_table.html")
    (out / "metrics.json").write_text(json.dumps(methods, indent=1, default=str))
    summary_path = write_scaling_summary(sweep.results, out)
    shown = [mo.md(headline(json.loads(summary_path.read_text()))), curve, table]
    if any(s.get("by_family") for s in sweep.results["settings"]):
        families = viz.family_scaling(sweep.results["settings"], chance)
        viz.save_figure(families, out / "scaling_by_family.html")
        shown.append(families)
    mo.vstack(shown)
    return


if __name__ == "__main__":
    app.run()
