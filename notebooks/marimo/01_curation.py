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
    # 1 · Curation: from a question pool to an s1K-style set

    The paper builds **s1K** (1,000 questions with reasoning traces) from 59K candidates with three filters:
    **quality** (missing traces, formatting problems), **difficulty** (drop what Qwen2.5-7B/32B already solves,
    prefer long traces) and **diversity** (sample uniformly over domains). Here the same pipeline runs on a
    generated toy pool with a simulated attempt model (`env/curation/toy.yaml`). Parameters: the Jupyter
    notebook's, as `--output-dir DIR --config-path YAML --toy-n 600 --total 200 --tokenizer default|estimate`.
    """)
    return


@app.cell
def _(mo):
    from s1lib.curation import load_config, run_curation
    from s1lib.notebook_params import CurationParams

    params = CurationParams.from_cli_args(mo.cli_args())  # the Jupyter notebook's parameters, from the command line
    base = load_config(params.config_path)  # the sliders start from the config's own values
    script_mode = mo.app_meta().mode == "script"
    toy_n = mo.ui.slider(
        100,
        2000,
        value=params.toy_n or (base.toy or {}).get("n", 600),
        step=50,
        label="Toy pool size",
        show_value=True,
    )
    total = mo.ui.slider(
        10,
        max(1000, base.total),
        value=params.total or base.total,
        step=10,
        label="Selected set size",
        show_value=True,
    )
    run = mo.ui.run_button(label="Curate")
    mo.vstack([toy_n, total, run] if base.toy else [total, run])
    return base, load_config, params, run, run_curation, script_mode, total, toy_n


@app.cell
def _(base, load_config, mo, params, run, run_curation, script_mode, total, toy_n):
    mo.stop(not (run.value or script_mode), mo.md("Press **Curate** to run the pipeline."))
    config = load_config(
        params.config_path,
        toy_n=toy_n.value if base.toy else None,
        total=total.value,
        tokenizer=params.tokenizer,
        output_dir=params.output_dir,
        progress=False,
        **params.curation_options,
    )
    with mo.status.spinner(title="Curating ..."):
        result = run_curation(config)
    print(result.funnel.table())
    return (result,)


@app.cell
def _(mo, params, result):
    import json
    from pathlib import Path

    (Path(params.output_dir) / "metrics.json").write_text(json.dumps(result.metrics(), indent=1))
    mo.vstack(list(result.figures().values()))
    return


if __name__ == "__main__":
    app.run()
