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
    generated toy pool with a simulated attempt model (`env/curation/toy.yaml`). Parameters:
    `--output-dir DIR --toy-n 600 --total 200 --tokenizer default|estimate`.
    """)
    return


@app.cell
def _(mo):
    args = mo.cli_args()
    output_dir = str(args.get("output-dir") or "runs/marimo/01_curation")
    tokenizer = str(args.get("tokenizer") or "default")
    script_mode = mo.app_meta().mode == "script"
    toy_n = mo.ui.slider(
        100, 2000, value=int(args.get("toy-n") or 600), step=50, label="Toy pool size", show_value=True
    )
    total = mo.ui.slider(
        10, 500, value=int(args.get("total") or 200), step=10, label="Selected set size", show_value=True
    )
    run = mo.ui.run_button(label="Curate")
    mo.vstack([toy_n, total, run])
    return output_dir, run, script_mode, tokenizer, total, toy_n


@app.cell
def _(mo, output_dir, run, script_mode, tokenizer, total, toy_n):
    from pathlib import Path

    import s1lib
    from s1lib.curation import CurationConfig, run_curation

    mo.stop(not (run.value or script_mode), mo.md("Press **Curate** to run the pipeline."))
    repo = Path(next(iter(s1lib.__path__))).resolve().parent
    config = CurationConfig.from_file(repo / "env/curation/toy.yaml")
    config.output_dir = output_dir
    config.toy = {**(config.toy or {}), "n": toy_n.value}
    config.total = total.value
    config.uniform_until = int(total.value * 0.7)
    config.tokenizer = tokenizer
    config.progress = False
    with mo.status.spinner(title="Curating ..."):
        result = run_curation(config)
    print(result.funnel.table())
    return (result,)


@app.cell
def _(mo, output_dir, result):
    import json
    from pathlib import Path as _Path

    from s1lib import viz

    out = _Path(output_dir)
    stages = [("input", result.funnel.n_input)] + [(s.name, s.n_out) for s in result.funnel.stages]
    domains = {}
    for row in result.selected:
        domains[str(row.get("domain"))] = domains.get(str(row.get("domain")), 0) + 1
    funnel_fig = viz.funnel(stages)
    domain_fig = viz.domain_distribution(domains, title="Domains of the selected set")
    viz.save_figure(funnel_fig, out / "funnel.html")
    viz.save_figure(domain_fig, out / "domains.html")
    (out / "metrics.json").write_text(json.dumps({**result.funnel.to_dict(), "domains": domains}, indent=1))
    mo.vstack([funnel_fig, domain_fig])
    return


if __name__ == "__main__":
    app.run()
