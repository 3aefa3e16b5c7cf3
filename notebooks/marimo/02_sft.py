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
    # 2 · SFT: teach a model the s1 format

    s1-32B is Qwen2.5-32B-Instruct fine-tuned on s1K for 5 epochs (lr 1e-5, cosine, batch 16, loss on thinking
    and answer only), so that it writes `<|im_start|>think` … `<|im_start|>answer`, which budget forcing then
    controls. Here the embedded SmolLM2-135M trains for a few steps on synthetic s1-format records (the
    `cpu-demo` preset). The parameters are the Jupyter notebook's (listed under **Parameters** below).
    """)
    return


@app.cell
def _(mo):
    from s1lib.notebook_params import SFTParams

    params = SFTParams.from_cli_args(mo.cli_args())  # the Jupyter notebook's parameters, from the command line
    script_mode = mo.app_meta().mode == "script"
    max_steps = mo.ui.slider(1, 64, value=params.max_steps, label="Optimizer steps", show_value=True)
    train = mo.ui.run_button(label="Train")
    mo.vstack([max_steps, train])
    return max_steps, params, script_mode, train


@app.cell(hide_code=True)
def _(mo, params):
    mo.accordion({"Parameters": mo.md(params.usage())})  # each flag with the value in effect and its help
    return


@app.cell
def _(max_steps, mo, params, script_mode, train):
    from s1lib.train import run_training

    mo.stop(not (train.value or script_mode), mo.md("Press **Train** to fine-tune (minutes on a CPU)."))
    config = params.train_config(max_steps=max_steps.value)
    with mo.status.progress_bar(total=max_steps.value, title="Training") as bar:
        seen = []

        def on_row(row):
            if "loss" in row and len(seen) < max_steps.value:
                seen.append(row)
                bar.update()

        result = run_training(config, on_row=on_row)
    result.save(params.output_dir)  # metrics.json and loss_curve.html
    print(result.table())
    return (result,)


@app.cell
def _(result):
    result.figures()["loss_curve"]
    return


@app.cell
def _(mo, params, result):
    from s1lib.backends.hf import HFEngine
    from s1lib.forcing import BudgetPolicy
    from s1lib.forcing.trace import render_marked

    engine = HFEngine.from_name(result.model_dir)
    policy = BudgetPolicy(max_thinking_tokens=params.max_thinking_tokens, max_answer_tokens=32)
    questions = params.eval_questions
    traces = engine.generate([engine.prompt_for(q, policy) for q in questions], policy)
    mo.md(
        "\n\n".join(
            f"**{q}**\n\n```\n{render_marked(t, engine.tokenizer).strip()}\n```" for q, t in zip(questions, traces)
        )
    )
    return


if __name__ == "__main__":
    app.run()
