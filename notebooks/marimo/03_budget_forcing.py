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
    # 3 · Budget forcing, live

    The paper's method controls how long a model thinks, at test time, with no training:
    **maximum**: once thinking reaches the budget, force the end-of-thinking delimiter and `Final Answer:`;
    **minimum**: when the model tries to stop thinking too early, suppress the delimiter and append **"Wait"**.

    Set the budget and press **Run**: the thinking streams token by token, forced "Wait"s, forced ends and
    "Final Answer:" are highlighted as they happen, and the counter shows thinking tokens against the budget.
    The default question is for the model fine-tuned in notebook 2: at 8 thinking tokens the running maximum has
    read one number when the cap forces the answer (wrong); from about 32 it answers 95 (right).
    **Stop** interrupts within a token. **Adaptive stop** turns on a probe rule (notebook 5): each probe appears as
    a badge with its answer and confidence, and the stop as "stopped: answer settled". The parameters are the
    Jupyter notebook's (listed under **Parameters** below).
    """)
    return


@app.cell
def _(mo):
    from s1lib.notebook_params import BudgetForcingParams

    params = BudgetForcingParams.from_cli_args(mo.cli_args())  # the Jupyter notebook's parameters
    script_mode = mo.app_meta().mode == "script"
    return params, script_mode


@app.cell(hide_code=True)
def _(mo, params):
    mo.accordion({"Parameters": mo.md(params.usage())})  # each flag with the value in effect and its help
    return


@app.cell
def _(mo, params):
    from s1lib.backends.hf import HFEngine

    with mo.status.spinner(title=f"Loading {params.model} ..."):
        engine = HFEngine.from_name(params.model, dtype=params.dtype, device=params.device)
    return (engine,)


@app.cell
def _(mo, params):
    from s1lib.widgets import marimo_controls

    # params.question defaults to widgets.DEMO_QUESTION: for the demo's fine-tuned model it is answered wrongly at
    # 8 thinking tokens and rightly from about 32 (drag the budget). An adaptive stop (notebook 5) shows its probes
    # as badges in the stream, the stop as "stopped: answer settled". Each control sets one config field.
    question = mo.ui.text_area(value=params.question, label="Question", full_width=True)
    controls = marimo_controls(
        mo, max_budget=max(256, *params.budgets), max_thinking_tokens=params.max_thinking_tokens,
        num_ignore=params.num_ignore,
    )  # fmt: skip
    run = mo.ui.run_button(label="Run", kind="success")
    stop = mo.ui.run_button(label="Stop", kind="danger")
    mo.vstack([question, controls.vstack(), mo.hstack([run, stop], justify="start")])
    return controls, question, run, stop


@app.cell
def _(engine, mo):
    from s1lib.widgets import StreamRunner

    # One runner for the session: starting a run stops the previous one first.
    runner = StreamRunner(engine, lambda view: mo.output.replace(mo.Html(view.html())), thread_factory=mo.Thread)
    return (runner,)


@app.cell
def _(runner, stop):
    if stop.value:
        runner.stop()
    return


@app.cell
def _(controls, mo, params, question, run, runner, script_mode):
    from s1lib.widgets import idle_html, policy_from_controls, sampling_from_controls

    runner.stop(wait=True)  # changed settings or a new Run: the old stream ends here
    mo.stop(not (run.value or script_mode), mo.Html(idle_html("Press Run to generate.")))
    values = dict(controls.value)
    policy = policy_from_controls(**values, max_answer_tokens=params.max_answer_tokens)
    sampling = sampling_from_controls(values["temperature"], values["temperature_thinking"])  # both 0: greedy
    view = runner.start(question.value, policy, sampling)  # streams into this cell's output from a mo.Thread
    if script_mode:
        runner.join()
        print(view.text)
        print(view.counter(), "| answer:", view.answer)
    mo.Html(view.html())
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## The same question at several budgets

    Thinking stops exactly at each cap (Control = 100%); with `num_ignore` ≥ 1 the model's attempts to stop early
    are replaced by "Wait".
    """)
    return


@app.cell
def _(mo):
    compare = mo.ui.run_button(label="Compare budgets")
    compare  # noqa: B018 (the cell output)
    return (compare,)


@app.cell
def _(compare, controls, engine, mo, params, question, script_mode):
    from s1lib.eval.budgets import compare_budgets

    mo.stop(not (compare.value or script_mode), mo.md(f"Press **Compare budgets** to run caps {params.budgets}."))
    with mo.status.progress_bar(total=len(params.budgets), title="Budgets") as bar:
        comparison = compare_budgets(
            engine,
            question.value,
            params.budgets,
            num_ignore=controls.value["num_ignore"],
            max_answer_tokens=params.max_answer_tokens,
            on_run=lambda _run: bar.update(),
        )
    comparison.save(params.output_dir)  # the same files as the Jupyter notebook
    print(comparison.table())
    mo.vstack([mo.ui.table(comparison.rows(), selection=None), *comparison.figures().values()])
    return


if __name__ == "__main__":
    app.run()
