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
    embedded model shows the mechanics (a 135M model solves no AIME problem). Parameters: `--model NAME
    --output-dir DIR --data FOLDER --caps 16,32,64 --waits 0,1,2 --wait-cap 64 --limit 3 --max-answer-tokens 24`.
    """)
    return


@app.cell
def _(mo):
    from pathlib import Path

    import s1lib

    args = mo.cli_args()

    def ints(name, default):
        return [int(v) for v in str(args.get(name) or default).split(",") if v != ""]

    repo = Path(next(iter(s1lib.__path__))).resolve().parent
    model = str(args.get("model") or "default")
    output_dir = str(args.get("output-dir") or "runs/marimo/04_test_time_scaling")
    data = str(args.get("data") or repo.parent / "shared" / "data")
    caps, waits = ints("caps", "16,32,64"), ints("waits", "0,1,2")
    wait_cap = int(args.get("wait-cap") or 64)
    max_answer_tokens = int(args.get("max-answer-tokens") or 24)
    script_mode = mo.app_meta().mode == "script"
    limit = mo.ui.slider(1, 30, value=int(args.get("limit") or 3), label="AIME24 problems", show_value=True)
    run = mo.ui.run_button(label="Run sweep")
    mo.vstack([mo.md(f"Caps **{caps}**, Waits **{waits}** (under cap {wait_cap})"), limit, run])
    return caps, data, limit, max_answer_tokens, model, output_dir, run, script_mode, wait_cap, waits


@app.cell
def _(caps, data, limit, max_answer_tokens, mo, model, output_dir, run, script_mode, wait_cap, waits):
    from s1lib.eval.sweep import SweepConfig, run_sweep

    mo.stop(not (run.value or script_mode), mo.md("Press **Run sweep** (minutes on a CPU)."))
    config = SweepConfig(
        benchmark="aime24",
        data=data,
        model=model,
        caps=caps,
        fill_budget=True,
        waits=waits,
        wait_cap=wait_cap,
        max_answer_tokens=max_answer_tokens,
        limit=limit.value,
        batch_size=limit.value,
        output_dir=output_dir,
    )
    with mo.status.spinner(title="Sweeping budgets ..."):
        sweep = run_sweep(config, progress=False)
    mo.ui.table(
        [
            {"setting": s["setting"], "accuracy": s["accuracy"], "thinking tokens": round(s["avg_thinking_tokens"], 1)}
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

    out = _Path(output_dir)
    methods = sweep.results["methods"]
    nan = float("nan")
    curve = viz.scaling_curve(
        {m["method"]: m["points"] for m in methods}, labels_by_method={m["method"]: m["settings"] for m in methods}
    )
    table = viz.metrics_table(
        [
            {
                "method": m["method"],
                "control": nan if m["control"] is None else m["control"],
                "scaling": nan if m["scaling_log2_pp"] is None else m["scaling_log2_pp"] / 100,
                "performance": m["performance"],
            }
            for m in methods
        ]
    )
    viz.save_figure(curve, out / "scaling_curve.html")
    viz.save_figure(table, out / "metrics_table.html")
    (out / "metrics.json").write_text(json.dumps(methods, indent=1, default=str))
    mo.vstack([curve, table])
    return


if __name__ == "__main__":
    app.run()
