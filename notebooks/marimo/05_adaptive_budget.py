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
    # 5 · Adaptive thinking budgets

    A fixed budget spends the same thinking on every problem; an adaptive rule stops thinking once the answer is
    already there. Both rules are training-free and read **probes**: a branch off the context (never the sequence
    itself) that forces the end-of-thinking delimiter and the answer prefix, then decodes a few greedy answer tokens.
    **probe_consistency** (Dynasor-CoT) probes every `probe_every` thinking tokens and stops when the last `agree`
    probes give the same answer. **answer_confidence** (DEER) probes at each end of thinking budget forcing would
    suppress with "Wait", and stops when the probed answer's mean token probability reaches `threshold` (it needs
    `num_ignore` > 0). Budget forcing still bounds both: no probe runs before `min_thinking_tokens`, and the cap ends
    thinking where no probe did; each rule runs at every budget. Probe tokens are never counted as thinking tokens:
    they are reported apart, and the figure draws each adaptive point at its thinking tokens (filled) and at
    thinking + probe tokens (open). The parameters are the Jupyter notebook's (listed under
    **Parameters** below).
    """)
    return


@app.cell
def _(mo):
    from s1lib.notebook_params import AdaptiveParams

    params = AdaptiveParams.from_cli_args(mo.cli_args())  # the Jupyter notebook's parameters, from the command line
    script_mode = mo.app_meta().mode == "script"
    config = params.sweep_config()
    mo.md(f"Model **{config.model}**; budgets **{params.budgets}**; rules: " + "; ".join(map(str, params.adaptive)))
    return config, params, script_mode


@app.cell(hide_code=True)
def _(mo, params):
    mo.accordion({"Parameters": mo.md(params.usage())})  # each flag with the value in effect and its help
    return


@app.cell
def _(config, mo):
    from s1lib.eval.pareto import engine_for

    with mo.status.spinner(title=f"Loading {config.model} ..."):
        engine = engine_for(config)  # once: the sweep and the live stream run on it
    return (engine,)


@app.cell
def _(mo, params):
    limit = mo.ui.slider(
        1, max(100, params.limit), value=params.limit, label=f"{params.benchmark} problems", show_value=True
    )
    limit  # noqa: B018 (the cell output)
    return (limit,)


@app.cell
def _(mo):
    run = mo.ui.run_button(label="Run fixed budgets and adaptive rules")
    run  # noqa: B018 (the cell output)
    return (run,)


@app.cell
def _(engine, limit, mo, params, run, script_mode):
    from s1lib.eval.pareto import run_pareto

    mo.stop(not (run.value or script_mode), mo.md("Press **Run** (a few minutes on a CPU)."))
    with mo.status.spinner(title="Fixed budgets, then each rule at every budget ..."):
        pareto = run_pareto(params.sweep_config(limit=limit.value), engine, progress=False)
    pareto.save(params.output_dir)  # metrics.json and pareto.html
    print(pareto.table())  # each setting's accuracy and cost, each rule beside its nearest fixed budget
    return (pareto,)


@app.cell
def _(mo, pareto):
    mo.vstack(list(pareto.figures().values()))
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## Seen live

    One question streamed with a rule on: each probe is a badge with its answer and confidence, and the moment the
    rule ends thinking is marked "stopped: answer settled".
    """)
    return


@app.cell
def _(mo):
    from s1lib.widgets import ADAPTIVE_CHOICES

    strategy = mo.ui.dropdown(options=list(ADAPTIVE_CHOICES[1:]), value="probe_consistency", label="Adaptive stop")
    strategy  # noqa: B018 (the cell output)
    return (strategy,)


@app.cell
def _(mo):
    stream = mo.ui.run_button(label="Stream one question")
    stream  # noqa: B018 (the cell output)
    return (stream,)


@app.cell
def _(engine, mo, params, script_mode, strategy, stream):
    from s1lib.widgets import DEMO_QUESTION, StreamRunner, policy_from_controls

    mo.stop(not (stream.value or script_mode), mo.md("Press **Stream one question**."))
    # The first rule of this strategy in params.adaptive, at the largest budget: the stream shows what was measured.
    policy = policy_from_controls(
        max(params.budgets), max_answer_tokens=params.max_answer_tokens, **params.live_controls(strategy.value)
    )
    runner = StreamRunner(engine, lambda view: mo.output.replace(mo.Html(view.html())), thread_factory=mo.Thread)
    view = runner.start(DEMO_QUESTION, policy)
    if script_mode:
        runner.join()
        print(view.text)
        print(view.counter(), "| answer:", view.answer)
    mo.Html(view.html())
    return


if __name__ == "__main__":
    app.run()
