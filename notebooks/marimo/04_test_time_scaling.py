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
    embedded model shows the mechanics (a 135M model solves no AIME problem). The parameters are the Jupyter
    notebook's (listed under **Parameters** below).
    """)
    return


@app.cell
def _(mo):
    from s1lib.notebook_params import ScalingParams

    params = ScalingParams.from_cli_args(mo.cli_args())  # the Jupyter notebook's parameters, from the command line
    script_mode = mo.app_meta().mode == "script"
    limit = mo.ui.slider(
        1, max(30, params.limit), value=params.limit, label=f"{params.benchmark} problems", show_value=True
    )
    run = mo.ui.run_button(label="Run sweep")
    summary = f"Caps **{params.caps}**, Waits **{params.waits}** (under cap {params.wait_cap})"
    mo.vstack([mo.md(summary), limit, run])
    return limit, params, run, script_mode


@app.cell(hide_code=True)
def _(mo, params):
    mo.accordion({"Parameters": mo.md(params.usage())})  # each flag with the value in effect and its help
    return


@app.cell
def _(limit, mo, params, run, script_mode):
    from s1lib.eval.sweep import run_sweep

    mo.stop(not (run.value or script_mode), mo.md("Press **Run sweep** (minutes on a CPU)."))
    config = params.sweep_config(limit=limit.value)
    with mo.status.spinner(title="Sweeping budgets ..."):
        sweep = run_sweep(config, progress=False)
    sweep.save(params.output_dir)  # metrics.json, scaling_summary.json and the figures
    print(sweep.table())
    return (sweep,)


@app.cell
def _(mo, sweep):
    mo.vstack(list(sweep.figures().values()))
    return


if __name__ == "__main__":
    app.run()
