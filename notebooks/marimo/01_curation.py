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
    generated toy pool with a simulated attempt model (`env/curation/toy.yaml`). The parameters are the Jupyter
    notebook's (listed under **Parameters** below).
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


@app.cell(hide_code=True)
def _(mo, params):
    mo.accordion({"Parameters": mo.md(params.usage())})  # each flag with the value in effect and its help
    return


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
    result.save(params.output_dir)  # metrics.json and the figures
    print(result.table())
    return config, result


@app.cell
def _(mo, result):
    mo.vstack(list(result.figures().values()))
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## s1 and LIMO on the same pool

    LIMO's recipe (`--limo-config-path`; `none` skips it) curates the same
    pool: pass-rate bands, the best chain per question by its chain score, the top K. `compare_selections` matches
    both sets by row id: overlap, where the other recipe dropped each row only one kept, thinking lengths, domain
    and family mix, both funnels.
    """)
    return


@app.cell
def _(mo):
    compare = mo.ui.run_button(label="Curate with LIMO and compare")
    mo.hstack([compare])
    return (compare,)


@app.cell
def _(compare, config, load_config, mo, params, result, run_curation, script_mode):
    mo.stop(not params.limo_config_path, mo.md("No LIMO config (`--limo-config-path none`): no comparison."))
    mo.stop(not (compare.value or script_mode), mo.md("Press **Curate with LIMO and compare**."))
    import json as _json
    from pathlib import Path as _Path

    import s1lib
    from s1lib.curation.compare import compare_selections

    _repo = _Path(next(iter(s1lib.__path__))).resolve().parent
    _out = _Path(params.output_dir)
    assert result.selected is not None  # the s1 selection above is written to output_dir first
    limo_config = load_config(  # the same pool (and token counts) as the s1 run above
        _repo / params.limo_config_path,
        toy=config.toy,
        tokenizer=config.tokenizer,
        output_dir=str(_out / "limo"),
        progress=False,
    )
    with mo.status.spinner(title="Curating with LIMO ..."):
        run_curation(limo_config)
    comparison = compare_selections(_out, _out / "limo")
    (_out / "selection_comparison.json").write_text(_json.dumps(comparison.to_dict(), indent=1))
    print(comparison.table())
    mo.vstack([mo.md("Where the two recipes agree and why they differ:"), *comparison.figures().values()])
    return


if __name__ == "__main__":
    app.run()
