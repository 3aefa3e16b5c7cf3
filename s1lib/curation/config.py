"""The settings of one curation run, as data: ``CurationConfig`` (the paper's defaults, a help string per field),
loaded from YAML/JSON by ``s1 curate``, from notebook parameters by :func:`load_config`, or built in Python.

Checks that need no model or network run when the config is built, so a bad entry fails before any work, naming
the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from s1lib.configfile import config_from_dict, read_config
from s1lib.curation import chainscore, difficulty, grader, passrate, quality


@dataclass
class CurationConfig:
    """Settings of one curation run; defaults follow the s1 paper and reference code."""

    sources: list[Any] = field(
        default_factory=list,
        metadata={"help": "pool sources, in processing order: paths or {path, importer, name, cot_type, trace, split}"},
    )
    benchmarks: list[Any] = field(
        default_factory=list,
        metadata={
            "help": "test sets to decontaminate against: {name, path, importer, split, subset} (e.g. AIME24, "
            "MATH500, GPQA Diamond)"
        },
    )
    toy: dict | None = field(
        default=None,
        metadata={
            "help": "generate the toy pool instead of/in addition to sources: {n, seed, benchmark_n, benchmark_seed}"
        },
    )
    output_dir: str = field(default="curation_out", metadata={"help": "folder for the parquet, funnel and caches"})
    on_error: str = field(
        default="raise", metadata={"help": "bad rows: raise, or quarantine (write them with reasons)"}
    )
    ngram: int = field(default=8, metadata={"help": "word n-gram size of decontamination (reference: 8)"})
    cross_source: bool = field(
        default=True,
        metadata={"help": "add each processed source to the test list, so later sources are deduplicated against it"},
    )
    required_features: list[str] = field(
        default_factory=lambda: list(quality.MISSING_REASONS),
        metadata={"help": "missing-feature checks: no_trace, no_solution, no_grade, no_domain, no_length"},
    )
    default_format_rules: bool = field(
        default=True,
        metadata={"help": "apply the reference's rules ([asy] except AIME, ![Image], p1. lists, bold with digits)"},
    )
    format_rules: list[dict] = field(
        default_factory=list, metadata={"help": "extra formatting rules: {name, regex, exempt_sources}"}
    )
    grade_traces: bool = field(
        default=True,
        metadata={
            "help": "grade each trace's attempt against the reference solution where no grade is given (by grader)"
        },
    )
    grader: str = field(
        default="symbolic",
        metadata={
            "help": "'symbolic' (s1lib's deterministic grader; open answers without a gold value are ungradable) or "
            "'judge:<base_url>|<model>' (the reference's Yes/No grader prompt over an OpenAI-compatible endpoint; "
            "API key from the env var named by judge_api_key_env); grades trace attempts and difficulty attempts"
        },
    )
    judge_for: str = field(
        default="open",
        metadata={
            "help": "with a judge grader: 'open' asks it only where the symbolic grader cannot decide (no closed "
            "gold answer, an unparsable gold, a math-verify timeout); 'all' asks it for every attempt (reference)"
        },
    )
    judge_api_key_env: str | None = field(
        default="OPENAI_API_KEY",
        metadata={
            "help": "name of the environment variable holding the judge's API key (the key itself is never read "
            "from the config); null or '' sends no key (a local server)"
        },
    )
    judge_max_calls: int | None = field(
        default=None,
        metadata={
            "help": "at most this many judge requests per run (cached verdicts are free); attempts past it are "
            "ungradable with reason judge_budget; null: no cap (each attempt is asked at most once)"
        },
    )
    judge_retries: int = field(default=2, metadata={"help": "judge retries after HTTP 429/5xx or network errors"})
    llm_concurrency: int = field(
        default=8,
        metadata={
            "help": "requests in flight at once to OpenAI-compatible endpoints (judge grades, LLM domain labels, "
            "API attempt models); results keep their order, so the outcome does not depend on it"
        },
    )
    tokenizer: str = field(
        default="default",
        metadata={
            "help": "tokenizer for trace length: a model name (default = embedded SmolLM2; byte-level BPE tokenizers"
            " are counted exactly through tiktoken in worker processes), or 'estimate' (letter runs + symbols,"
            " about 1 % off)"
        },
    )
    length_batch_size: int = field(default=512, metadata={"help": "texts per tokenizer batch call"})
    length_workers: int | None = field(
        default=None, metadata={"help": "processes for exact token counting of large pools (None = usable cores)"}
    )
    domain_classifier: str = field(
        default="tfidf",
        metadata={
            "help": "tfidf (offline), llm (OpenAI-compatible endpoint), or precomputed (use the rows' domain only)"
        },
    )
    domain_train: list[dict] = field(
        default_factory=list,
        metadata={
            "help": "labelled examples for tfidf: {path, importer, label_field} with subjects like MATH's 'subject'"
        },
    )
    domain_llm_base_url: str | None = field(default=None, metadata={"help": "endpoint for domain_classifier=llm"})
    domain_llm_model: str | None = field(default=None, metadata={"help": "model name for domain_classifier=llm"})
    domain_llm_api_key_env: str | None = field(
        default="OPENAI_API_KEY",
        metadata={"help": "environment variable with the domain endpoint's API key (null: send none)"},
    )
    domain_retries: int = field(default=2, metadata={"help": "LLM retries when the last line has no valid code"})
    attempt_models: list[str] = field(
        default_factory=list,
        metadata={
            "help": "difficulty models: toy-solver[:N], hf:<model>, vllm:<model>, openai:<base_url>|<model>; a "
            "question any of them solves is dropped (reference: Qwen2.5-7B- and 32B-Instruct)"
        },
    )
    attempt_batch_size: int = field(default=64, metadata={"help": "questions per attempt_fn call"})
    attempt_api_key_env: str | None = field(
        default="OPENAI_API_KEY",
        metadata={"help": "environment variable with the API key of openai: attempt models (null: send none)"},
    )
    attempt_temperature: float = field(
        default=difficulty.ATTEMPT_TEMPERATURE,
        metadata={"help": "sampling temperature of the attempt models (reference: 0.05; 0 = greedy)"},
    )
    attempt_max_tokens: int = field(
        default=difficulty.ATTEMPT_MAX_TOKENS,
        metadata={"help": "generation limit of each attempt (reference: 32,768 tokens)"},
    )
    attempt_engine_options: dict = field(
        default_factory=dict,
        metadata={
            "help": "options for hf:/vllm: attempt models' load_engine, e.g. {tensor_parallel_size: 4, "
            "max_model_len: 32768, dtype: bfloat16}; hf: and vllm: models answer the plain chat prompt (no thinking "
            "phase), as the reference's Qwen2.5-Instruct attempts did"
        },
    )
    pass_bands: list[dict] = field(
        default_factory=list,
        metadata={
            "help": "LIMO's difficulty: {model, samples, min_correct, max_correct} filters run in order after "
            "attempt_models, each keeping a question when min..max of its samples are right (LIMO: "
            "Qwen2.5-Math-7B-Instruct 4 samples 0-0, then R1-Distill-Qwen-32B 32 samples 1-3); empty: s1's rule only"
        },
    )
    chain_models: list[str] = field(
        default_factory=list,
        metadata={
            "help": "LIMO's candidate chains: the right sampled attempts of these models (a pass_bands model reuses "
            "its samples; others are sampled chain_samples times); empty: no chain stage"
        },
    )
    chain_samples: int = field(
        default=4, metadata={"help": "samples per question of a chain model that is not in pass_bands"}
    )
    chain_from_trace: bool = field(
        default=False, metadata={"help": "a row's own trace, graded right, is a candidate chain too"}
    )
    chain_score: dict = field(
        default_factory=dict,
        metadata={"help": "ChainScoreConfig fields: weights, keyword lists, scales (s1lib/curation/chainscore.py)"},
    )
    aime_sources: list[str] = field(
        default_factory=lambda: ["aime"],
        metadata={"help": "source_type substrings counted as AIME (pre-selection and the second sampling phase)"},
    )
    gpqa_sources: list[str] = field(default_factory=lambda: ["gpqa"], metadata={"help": "... counted as GPQA"})
    math_sources: list[str] = field(default_factory=lambda: ["math"], metadata={"help": "... counted as MATH"})
    math_min_length: int = field(
        default=5600,
        metadata={"help": "MATH questions are pre-selected when their correct trace is longer than this (tokens)"},
    )
    selector: str = field(
        default="s1k",
        metadata={
            "help": "s1k (pre-select + sampler), random, diverse, longest, full, limo (top total by chain score)"
        },
    )
    total: int = field(default=1000, metadata={"help": "size of the selected set"})
    uniform_until: int = field(
        default=700,
        metadata={
            "help": "positions below this draw a domain uniformly; later ones by the AIME/GPQA domain distribution"
        },
    )
    gpqa_scale: float = field(default=0.5, metadata={"help": "GPQA's total mass relative to AIME's in phase two"})
    seed: int = field(default=42, metadata={"help": "seed of the sampler (the reference set none)"})
    progress: bool = field(default=True, metadata={"help": "show tqdm progress bars"})
    write_figures: bool = field(default=True, metadata={"help": "write funnel/domain/length figures as HTML"})

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the grading options; a ValueError names the field."""
        parse_grader(self.grader)
        if self.judge_for not in grader.JUDGE_FOR:
            raise ValueError(f"judge_for must be one of {grader.JUDGE_FOR}, got {self.judge_for!r}")
        if self.judge_max_calls is not None and (not isinstance(self.judge_max_calls, int) or self.judge_max_calls < 0):
            raise ValueError(f"judge_max_calls must be null or an integer >= 0, got {self.judge_max_calls!r}")
        if not isinstance(self.attempt_max_tokens, int) or self.attempt_max_tokens < 1:
            raise ValueError(f"attempt_max_tokens must be an integer >= 1, got {self.attempt_max_tokens!r}")
        if not isinstance(self.attempt_temperature, (int, float)) or self.attempt_temperature < 0:
            raise ValueError(f"attempt_temperature must be a number >= 0, got {self.attempt_temperature!r}")
        if not isinstance(self.attempt_engine_options, dict):
            raise ValueError(f"attempt_engine_options must be a mapping, got {self.attempt_engine_options!r}")
        for name in self.attempt_models:
            attempt_model_kind(name)
        for band in self.bands():
            attempt_model_kind(band.model)
        for name in self.chain_models:
            attempt_model_kind(name)
        if not isinstance(self.chain_samples, int) or self.chain_samples < 1:
            raise ValueError(f"chain_samples must be an integer >= 1, got {self.chain_samples!r}")
        chainscore.ChainScoreConfig.from_any(self.chain_score)
        if not isinstance(self.llm_concurrency, int) or self.llm_concurrency < 1:
            raise ValueError(f"llm_concurrency must be an integer >= 1, got {self.llm_concurrency!r}")
        if not isinstance(self.judge_retries, int) or self.judge_retries < 0:
            raise ValueError(f"judge_retries must be an integer >= 0, got {self.judge_retries!r}")
        for name in ("judge_api_key_env", "domain_llm_api_key_env", "attempt_api_key_env"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be an environment variable name, got {value!r}")

    def bands(self) -> list[passrate.PassBand]:
        """``pass_bands`` as :class:`~s1lib.curation.passrate.PassBand` objects (a bad entry raises, naming it)."""
        if not isinstance(self.pass_bands, list):
            raise ValueError(
                f"pass_bands must be a list of {{model, samples, min_correct, max_correct}}, got {self.pass_bands!r}"
            )
        return [passrate.PassBand.from_any(b) for b in self.pass_bands]

    @classmethod
    def from_dict(cls, data: dict, origin: str | None = None) -> CurationConfig:
        """From a mapping; an unknown option raises naming it (and ``origin``, the file it came from)."""
        return config_from_dict(cls, data, origin, noun="curation option")

    @classmethod
    def from_file(cls, path: str | Path) -> CurationConfig:
        """Load from YAML or JSON; relative source paths are taken relative to the config file."""
        path = Path(path)
        data = read_config(path, "curation config", "a mapping of CurationConfig fields")
        for key in ("sources", "benchmarks", "domain_train"):
            data[key] = [_relative_to(item, path.parent) for item in data.get(key) or []]
        return cls.from_dict(data, str(path))


def _relative_to(item: Any, folder: Path) -> Any:
    """A relative source path that does not exist from the working folder is taken relative to the config file."""
    raw = item if isinstance(item, str) else item.get("path") if isinstance(item, dict) else None
    if not raw or Path(raw).is_absolute() or Path(raw).exists() or not (folder / raw).exists():
        return item
    resolved = str(folder / raw)
    return resolved if isinstance(item, str) else {**item, "path": resolved}


def parse_endpoint(text: str) -> tuple[str, str] | None:
    """``'<base_url>|<model>'`` as ``(base_url, model)``, or None unless the URL is http(s) and a model is named.

    The one reading of an endpoint entry, shared by ``grader: judge:...`` and ``openai:...`` attempt models.
    """
    base_url, _, model = text.rpartition("|")
    if base_url.startswith(("http://", "https://")) and model.strip():
        return base_url, model.strip()
    return None


def attempt_model_kind(name: Any) -> str:
    """The kind of a ``CurationConfig.attempt_models`` entry; a ValueError shows the accepted forms."""
    if isinstance(name, str):
        kind, sep, rest = name.partition(":")
        if kind in ("toy-solver", "toy-sampler") and (not sep or rest.isdigit()):
            return kind
        if kind in ("hf", "vllm") and rest.strip():
            return kind
        if kind == "openai" and parse_endpoint(rest):
            return kind
    raise ValueError(
        f"attempt_models: {name!r} is not an attempt model; expected toy-solver[:N], toy-sampler[:N], hf:<model>, "
        "vllm:<model> or openai:<base_url>|<model>"
    )


def parse_grader(value: Any) -> tuple[str, str] | None:
    """``CurationConfig.grader``: None for 'symbolic', ``(base_url, model)`` for 'judge:<base_url>|<model>'."""
    if value == "symbolic":
        return None
    endpoint = parse_endpoint(value[6:]) if isinstance(value, str) and value.startswith("judge:") else None
    if endpoint:
        return endpoint
    raise ValueError(
        f"grader must be 'symbolic' or 'judge:<base_url>|<model>' (base_url starting with http:// or https://), "
        f"got {value!r}"
    )


TOY_CONFIG = Path(__file__).resolve().parents[2] / "env" / "curation" / "toy.yaml"
"""The CPU-sized toy run (the demo's); ``env/curation/s1k-paper.yaml`` is the paper's."""


def load_config(
    path: str | Path | None = None, *, toy_n: int | None = None, total: int | None = None, **overrides: Any
) -> CurationConfig:
    """A curation config from ``path`` (None: the toy config) with overrides, as notebooks and grids pass them.

    An override that is None leaves the config's value; a ``toy`` override changes only the toy fields it names.
    ``toy_n`` sizes the toy pool (toy configs only; a ``toy`` override naming another ``n`` raises); ``total``
    sets the selected set's size and, unless ``uniform_until`` is given too, scales the uniform phase with it (the
    paper's config: 70 %; the toy config: all of it). Any other name is a ``CurationConfig`` field; an unknown
    one raises, naming it.
    """
    config = CurationConfig.from_file(path or TOY_CONFIG)
    changes = {name: value for name, value in overrides.items() if value is not None}
    if "toy" in changes and config.toy:  # a toy override changes the file's toy fields, keeping the others
        changes["toy"] = {**config.toy, **changes["toy"]}
    if toy_n is not None:
        toy = changes.get("toy", config.toy)
        if not toy:
            raise ValueError(f"toy_n sizes the toy pool, but {path} has no toy pool (its 'toy' field is empty)")
        named = (overrides.get("toy") or {}).get("n")
        if named is not None and int(named) != int(toy_n):
            raise ValueError(f"toy_n is {toy_n} but the toy override's n is {named}: give the pool size once")
        changes["toy"] = {**toy, "n": int(toy_n)}
    if total is not None:
        changes["total"] = int(total)
        ratio = config.uniform_until / config.total if config.total else 0.7  # the file's own share (paper: 70 %)
        changes.setdefault("uniform_until", round(int(total) * ratio))
    return CurationConfig.from_dict({**{f.name: getattr(config, f.name) for f in fields(config)}, **changes})
