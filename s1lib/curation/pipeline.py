"""The curation pipeline: config (paper defaults) → load → decontaminate → dedup → annotate → missing features →
formatting → difficulty → [chains] → select, with a funnel that accounts for every input row.

The same stages run s1's recipe and LIMO's (``env/curation/limo*.yaml``): LIMO's difficulty is a pass-rate band
(``pass_bands``, ``passrate``), its chains stage keeps each question's best-scoring correct chain (``chain_models``,
``chainscore``) and its selector takes the top ``total`` by chain score.

Annotation (trace grades, trace lengths, domains) adds features and drops nothing; rows where a feature could not
be computed are charged to their own ``no_*`` reason at the missing-feature stage, as in the reference's
"API errors" stage (**fix**: with the reasons reported separately). Attempts, judge verdicts and LLM domain labels
are cached in ``<output_dir>/attempts.jsonl`` as they come, so a crashed run resumes without repeating model or
API calls.

Trace grades and difficulty attempts are graded by one ``grader.Grader``: symbolic by default, or with the
reference's Yes/No LLM grader over an OpenAI-compatible endpoint (``grader: judge:<base_url>|<model>``) for open
answers only or for every attempt (``judge_for``). Judge verdicts share the attempts cache; judge requests, errors
and their reasons are in ``stats["grading"]`` (``stats["judge_calls"]`` is the total).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s1lib.curation import chainscore, decontam, difficulty, passrate, quality, select, tokencount
from s1lib.curation.answer_cache import AnswerCache
from s1lib.curation.config import CurationConfig, attempt_model_kind, parse_endpoint, parse_grader
from s1lib.curation.funnel import Funnel, figures, write_parquet
from s1lib.curation.grader import Grader, grade_traces
from s1lib.curation.schema import Quarantine, SchemaError, SourceSpec, load_source
from s1lib.results import StageResult


@dataclass
class CurationResult(StageResult):
    """A curation run: the selected set, the candidates it came from, the funnel, and where the files went."""

    selected: list[dict]
    candidates: list[dict]
    funnel: Funnel
    stats: dict[str, Any]
    paths: dict[str, str]

    def summary(self) -> dict[str, Any]:
        return {"funnel": self.funnel.to_dict(), "stats": self.stats, "paths": self.paths}

    def figures(self) -> dict[str, Any]:
        """Plotly figures of the run: the ``funnel``, and the ``domains`` and trace ``lengths`` of the selected set."""
        return figures(self.funnel, self.selected)

    def metrics(self) -> dict[str, Any]:
        """The funnel's counts and the selected set's domain counts (what a notebook run reports)."""
        return {**self.funnel.to_dict(), "domains": dict(Counter(str(r.get("domain")) for r in self.selected))}

    def table(self) -> str:
        """The funnel: rows kept after each stage, and why the others were dropped."""
        return self.funnel.table()


def _benchmark_questions(config: CurationConfig, out: Path) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for item in config.benchmarks:
        if not isinstance(item, dict) or "path" not in item:
            raise ValueError(f"A benchmark needs at least {{name, path}} (and any source option), got {item!r}")
        spec = SourceSpec.from_any({"importer": "generic", **item})
        result[item.get("name") or Path(item["path"]).stem] = [r["question"] for r in load_source(spec)]
    if config.toy:
        from s1lib.toy import toy_benchmark

        bench = toy_benchmark(config.toy.get("benchmark_n", 100), config.toy.get("benchmark_seed", 1234))
        result["toy-benchmark"] = [b["question"] for b in bench]
    return result


def _toy_source(config: CurationConfig, out: Path) -> SourceSpec:
    from s1lib.tables import write_jsonl
    from s1lib.toy import toy_benchmark, toy_pool

    toy = dict(config.toy or {})
    bench = toy_benchmark(toy.pop("benchmark_n", 100), toy.pop("benchmark_seed", 1234))
    path = write_jsonl(toy_pool(benchmark=bench, **toy), out / "toy_pool.jsonl")
    write_jsonl(bench, out / "toy_benchmark.jsonl")
    return SourceSpec(path=str(path), importer="toy")


def resolve_attempt_model(name: str, config: CurationConfig | None = None) -> Callable[[list[str]], list[str]]:
    """Turn a config entry into an attempt_fn (see ``CurationConfig.attempt_models``), with the config's attempt
    temperature, token limit, engine options and endpoint concurrency. Engines load on the first call."""
    config = config or CurationConfig()
    kind = attempt_model_kind(name)
    rest = name.partition(":")[2]
    if kind == "toy-solver":
        from s1lib.toy import toy_solver

        return toy_solver(int(rest) if rest else 5)
    if kind == "toy-sampler":
        from s1lib.toy import toy_sampler

        return toy_sampler(int(rest) if rest else 4, seed=config.seed)
    if kind == "openai":
        base_url, model = parse_endpoint(rest)
        return difficulty.openai_attempt_fn(
            base_url,
            model,
            temperature=config.attempt_temperature,
            max_tokens=config.attempt_max_tokens,
            api_key=api_key_from(config, "attempt_api_key_env", f"attempt model {name!r}"),
            concurrency=config.llm_concurrency,
        )
    from s1lib.forcing import SamplingConfig

    return difficulty.lazy_engine_attempt_fn(
        rest.strip(),
        policy=difficulty.instruct_policy(config.attempt_max_tokens),
        batch_size=config.attempt_batch_size,
        backend="vllm" if kind == "vllm" else "transformers",
        sampling=SamplingConfig(temperature=float(config.attempt_temperature), seed=config.seed),
        **config.attempt_engine_options,
    )


def api_key_from(config: CurationConfig, field_name: str, what: str) -> str | None:
    """The API key in the environment variable that ``config.<field_name>`` names (None when it names none).

    Keys never live in config files. A named variable that is not set fails before any work, not as one
    authentication error per request.
    """
    env = getattr(config, field_name) or None
    if env is None:
        return None
    key = os.environ.get(env)
    if not key:
        raise ValueError(
            f"{what} reads its API key from the environment variable {env} ({field_name}), which is not set; "
            f"set it, or set {field_name}: null for a local server"
        )
    return key


def make_grader(config: CurationConfig, cache: AnswerCache | None = None, judge: Any = None):
    """The ``Grader`` of a run; ``judge`` (an object with ``grade_attempt``) overrides ``config.grader``.

    The API key is read from the environment variable ``config.judge_api_key_env`` only; a missing key fails here,
    before any work, rather than as one judge error per attempt.
    """
    config.validate()
    target = parse_grader(config.grader)
    if judge is None and target is not None:
        from s1lib.eval.judge import JudgeConfig, LLMJudge

        api_key_from(config, "judge_api_key_env", f"grader={config.grader!r}")
        env = config.judge_api_key_env or None
        base_url, model = target
        judge = LLMJudge(JudgeConfig(base_url=base_url, model=model, api_key_env=env, max_retries=config.judge_retries))
    return Grader(judge, config.judge_for, config.judge_max_calls, cache, concurrency=config.llm_concurrency)


def _domain_classifier(config: CurationConfig):
    from s1lib.curation import domains

    if config.domain_classifier == "precomputed":
        return None
    if config.domain_classifier == "llm":
        if not (config.domain_llm_base_url and config.domain_llm_model):
            raise ValueError("domain_classifier=llm needs domain_llm_base_url and domain_llm_model")
        return domains.LLMDomainClassifier(
            config.domain_llm_base_url,
            config.domain_llm_model,
            config.domain_retries,
            api_key=api_key_from(config, "domain_llm_api_key_env", "domain_classifier=llm"),
            concurrency=config.llm_concurrency,
        )
    if config.domain_classifier == "tfidf":
        texts, labels = [], []
        for item in config.domain_train:
            spec = SourceSpec.from_any({"importer": "generic", **{k: v for k, v in item.items() if k != "label_field"}})
            label_field = item.get("label_field", "subject")
            for rec in load_source(spec):
                subject = json.loads(rec["metadata"]).get(label_field)
                code = subject if domains.is_code(subject) else domains.PRIMARY_CODE.get(subject)
                if code is None:
                    raise ValueError(
                        f"{item['path']}: label {subject!r} of {rec['row_id']} is neither an MSC code "
                        f"nor a known subject {sorted(domains.PRIMARY_CODE)}"
                    )
                texts.append(rec["question"])
                labels.append(code)
        return domains.TfidfDomainClassifier().fit(texts, labels)
    raise ValueError(f"domain_classifier must be tfidf, llm or precomputed, got {config.domain_classifier!r}")


def run_curation(
    config: CurationConfig,
    attempt_fns: dict[str, Callable[[list[str]], list[str]]] | None = None,
    tokenizer: Any = None,
    domain_classifier: Any = None,
    judge: Any = None,
) -> CurationResult:
    """Run every stage and write ``selected.parquet``, ``candidates.parquet``, ``funnel.json``, ``drops.jsonl``.

    ``attempt_fns`` (name → callable) are used in addition to ``config.attempt_models``; ``tokenizer`` (any object
    with ``encode``) and ``domain_classifier`` (callable list[str] → list[code|None]) override the config, as does
    ``judge`` (an object with ``grade_attempt(question, solution, attempt)``, e.g. ``s1lib.eval.judge.LLMJudge``).
    """
    out = Path(config.output_dir)
    cache = AnswerCache(out / "attempts.jsonl")
    grader = make_grader(config, cache, judge)
    out.mkdir(parents=True, exist_ok=True)
    funnel = Funnel()
    stats: dict[str, Any] = {}

    def stage(name: str, fn, records):
        t0 = time.perf_counter()
        kept, drops = fn(records)
        funnel.record(name, len(records), len(kept), drops, time.perf_counter() - t0)
        return kept

    # 1. load
    t0 = time.perf_counter()
    specs = [SourceSpec.from_any(s) for s in config.sources]
    if config.toy:
        specs.append(_toy_source(config, out))
    if not specs:
        raise ValueError("No sources: give config.sources or config.toy")
    quarantine = Quarantine(out / "quarantine.jsonl") if config.on_error == "quarantine" else None
    records: list[dict] = []
    for spec in specs:
        records.extend(load_source(spec, config.on_error, quarantine))
    q_items = quarantine.items if quarantine else []
    funnel.n_input = len(records) + len(q_items)
    load_drops = [decontam.Drop(q["row_id"], "load", f"schema:{q['field']}", q["reason"]) for q in q_items]
    funnel.record("load", funnel.n_input, len(records), load_drops, time.perf_counter() - t0)
    ids = [r["row_id"] for r in records]
    if len(set(ids)) != len(ids):
        raise SchemaError("sources", "row ids", "name", "unique source names (two sources share a name and file)")

    # 2-3. decontaminate, dedup
    benchmarks = _benchmark_questions(config, out)
    stats["benchmarks"] = {k: len(v) for k, v in benchmarks.items()}
    records = stage(
        "decontaminate", lambda rs: decontam.decontaminate(rs, benchmarks, config.ngram, config.cross_source), records
    )
    records = stage("dedup", decontam.dedup_exact, records)

    # annotate: trace grades, lengths, domains (no drops)
    t0 = time.perf_counter()
    if config.grade_traces:
        stats["traces_graded"] = grade_traces(records, grader)
    tokencount.add_trace_lengths(
        records, tokenizer or config.tokenizer, config.length_batch_size, config.length_workers, config.progress
    )
    classifier = domain_classifier if domain_classifier is not None else _domain_classifier(config)
    if classifier is not None:
        from s1lib.curation.domains import label_domains

        stats["domains"] = label_domains(records, classifier, cache, progress=config.progress)
    stats["annotate_seconds"] = round(time.perf_counter() - t0, 3)

    # 4-5. quality
    records = stage("missing", lambda rs: quality.filter_missing(rs, config.required_features), records)
    rules = (list(quality.DEFAULT_RULES) if config.default_format_rules else []) + [
        quality.rule_from_config(r) for r in config.format_rules
    ]
    records = stage("format", lambda rs: quality.filter_format(rs, rules), records)

    # 6. difficulty
    given = dict(attempt_fns or {})  # by name: extra s1-rule models, or the functions of named band/chain models
    bands = config.bands()
    sampled = list(dict.fromkeys([b.model for b in bands] + list(config.chain_models)))
    samplers = {name: given.pop(name, None) or resolve_attempt_model(name, config) for name in sampled}
    models = {name: given.pop(name, None) or resolve_attempt_model(name, config) for name in config.attempt_models}
    models.update(given)
    if models or bands:

        def run(rs):
            kept, drops = rs, []
            if models:
                kept, drops, stats["attempts"] = difficulty.run_attempts(
                    rs, models, cache, config.attempt_batch_size, config.progress, grader
                )
            if bands:
                kept, band_drops, stats["pass_bands"] = passrate.run_pass_bands(
                    kept, bands, samplers, cache, grader, config.attempt_batch_size, config.progress
                )
                drops = drops + band_drops
            return kept, drops

        records = stage("difficulty", run, records)

    # LIMO: candidate chains, the best per question
    if config.chain_models:
        samples = {b.model: b.samples for b in bands}
        for name in config.chain_models:
            if name not in samples:
                samples[name] = config.chain_samples
                stats.setdefault("chain_sampling", {})[name] = passrate.sample_attempts(
                    records,
                    name,
                    samplers[name],
                    config.chain_samples,
                    cache,
                    grader,
                    config.attempt_batch_size,
                    config.progress,
                )
        score = chainscore.ChainScoreConfig.from_any(config.chain_score)
        chain_sources = [(name, samples[name]) for name in config.chain_models]
        records = stage(
            "chains", lambda rs: chainscore.pick_chains(rs, chain_sources, config.chain_from_trace, score), records
        )
        tokencount.add_trace_lengths(  # the chosen chain's length, not the pool trace's
            records, tokenizer or config.tokenizer, config.length_batch_size, config.length_workers, config.progress
        )
    candidates = list(records)
    stats["grading"] = grader.summary()
    stats["judge_calls"] = grader.calls

    # 7. selection
    log: list[dict] = []

    def choose(rs):
        if config.selector == "s1k":
            pre, rest = select.preselect(
                rs, config.aime_sources, config.gpqa_sources, config.math_sources, config.math_min_length
            )
            stats["preselected"] = len(pre)
            chosen = select.sample(
                rest,
                config.total,
                config.uniform_until,
                config.seed,
                pre,
                config.aime_sources,
                config.gpqa_sources,
                config.gpqa_scale,
                log,
            )
        elif config.selector == "random":
            chosen = select.select_random(rs, config.total, config.seed)
        elif config.selector == "diverse":
            chosen = select.select_diverse(rs, config.total, config.seed)
        elif config.selector == "longest":
            chosen = select.select_longest(rs, config.total)
        elif config.selector == "full":
            chosen = list(rs)
        elif config.selector == "limo":
            chosen = select.select_top_score(rs, config.total)
        else:
            raise ValueError(f"selector must be one of {select.SELECTORS}, got {config.selector!r}")
        chosen_ids = {id(r) for r in chosen}
        drops = [decontam.Drop(r["row_id"], "select", "not_selected") for r in rs if id(r) not in chosen_ids]
        return chosen, drops

    selected = stage("select", choose, records)
    stats["sampler_phases"] = dict(Counter(x["phase"] for x in log))  # in draw order: the same in every run
    funnel.check([r["row_id"] for r in selected])

    paths = {
        "selected": str(write_parquet(selected, out / "selected.parquet")),
        "candidates": str(write_parquet(candidates, out / "candidates.parquet")),
        "funnel": str(out / "funnel.json"),
        "drops": str(out / "drops.jsonl"),
    }
    (out / "funnel.json").write_text(
        json.dumps({"config": asdict(config), **funnel.to_dict(), "stats": stats}, indent=2, default=str)
    )
    funnel.write_drops(out / "drops.jsonl")
    if quarantine:
        paths["quarantine"] = str(quarantine.path)
    if config.write_figures:
        from s1lib.viz import save_figure

        for name, fig in figures(funnel, selected).items():  # plotly.js embedded: the pages open offline
            paths[f"figure_{name}"] = str(save_figure(fig, out / f"{name}.html"))
    return CurationResult(selected, candidates, funnel, stats, paths)
