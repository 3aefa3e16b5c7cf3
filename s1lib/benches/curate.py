"""``s1 bench curate``: time the non-LLM curation stages on a generated pool the size of the reference's (59,029).

Questions are random word sequences of a few hundred characters (vocabulary from the shared data when present),
traces are slices of real solution text of 2,000-8,000 characters; 1 % of rows embed a benchmark question (AIME24,
MATH500 from ``../shared/data``) and 1 % are exact duplicates, so decontamination and dedup do real work. Reported:
wall seconds per stage (normalise = import a jsonl into the common schema, decontaminate + dedup, quality, length,
domains with the TF-IDF classifier on 5,000 questions, select), total, and peak RSS (this process, and the largest
worker: forked workers share the parent's pages). Trace length is the exact count of every trace with the real
tokenizer, as the pipeline does it (``tokencount``: tiktoken re-expression in worker processes, checked against the
tokenizer on a sample); for comparison, the tokenizer's own Rust implementation on a subset, extrapolated
(``length_speedup_vs_original``), and the tokenizer-free estimate on every trace (its error, and
``total_seconds_with_estimate``). Setup (generating and writing the pool) is not timed.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from s1lib.paths import data_dir

N_ROWS = 59_029


def _corpus() -> tuple[list[str], str, dict[str, list[str]]]:
    texts, bench = [], {}
    shared = data_dir(required=False)
    if shared is not None and (shared / "s1k_questions.json").exists():
        s1k = json.loads((shared / "s1k_questions.json").read_text())
        texts += [r["solution"] for r in s1k]
        with open(shared / "olympiadbench.jsonl") as fh:
            texts += ["\n".join(json.loads(line)["solution"]) for line in fh]
        for name in ("aime24", "math500"):
            with open(shared / f"{name}.jsonl") as fh:
                bench[name] = [json.loads(line)["problem"] for line in fh]
    if not texts:  # no shared data: a synthetic vocabulary
        rng = np.random.default_rng(0)
        texts = [" ".join("w" + str(int(i)) for i in rng.integers(0, 20000, size=4000)) for _ in range(200)]
    corpus = "\n".join(texts)
    vocab = sorted(set(corpus.split()))
    return vocab, corpus, bench


def make_pool(n: int = N_ROWS, seed: int = 0) -> tuple[list[dict], dict[str, list[str]]]:
    """A synthetic pool with realistic text lengths, plus the benchmark questions it is checked against."""
    from s1lib.curation.domains import MSC2020

    rng = np.random.default_rng(seed)
    vocab, corpus, bench = _corpus()
    vocab_arr = np.array(vocab, dtype=object)
    codes = list(MSC2020)[:50]
    sources = [
        "MATH",
        "AIME",
        "GPQA",
        "olympiad",
        "theoremqa",
        "numina",
        "omni",
        "scieval",
        "jeebench",
        "agieval",
        "s1-prob",
        "crossword",
        "usaco",
        "s1-teasers",
        "livecodebench",
        "olympicarena",
    ]
    bench_qs = [q for qs in bench.values() for q in qs]
    rows = []
    for i in range(n):
        k = int(rng.integers(40, 140))
        question = " ".join(vocab_arr[rng.integers(0, len(vocab_arr), size=k)])
        if bench_qs and i % 100 == 1:
            question = "Consider: " + bench_qs[int(rng.integers(len(bench_qs)))]
        if i % 100 == 2 and rows:
            question = rows[int(rng.integers(len(rows)))]["question"]
        start = int(rng.integers(0, max(1, len(corpus) - 9000)))
        trace = corpus[start : start + int(rng.integers(2000, 8000))]
        src = sources[i * len(sources) // n]
        rows.append(
            {
                "question": question,
                "solution": None if src in ("usaco", "livecodebench") else "The answer is \\boxed{7}.",
                "source_type": src,
                "cot_type": "math",
                "thinking_trajectories": [trace] if i % 50 else None,
                "attempt": "\\boxed{7}",
                "grade": bool(rng.random() < 0.7),
                "domain": codes[int(rng.integers(50))],
            }
        )
    return rows, bench


def run_bench(
    json_output: bool = False, n: int = N_ROWS, tokenizer: str = "default", tokenizer_subset: int = 3000
) -> dict:
    """Run the benchmark; print a table (or one JSON object) and return the numbers."""
    from s1lib.curation import decontam, quality, select, tokencount
    from s1lib.curation.domains import TfidfDomainClassifier
    from s1lib.curation.schema import SourceSpec, load_source

    rows, bench = make_pool(n)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pool.jsonl"
        with open(path, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        del rows
        t = time.perf_counter()
        records = load_source(SourceSpec(str(path), importer="generic"))
        timings["normalise"] = time.perf_counter() - t
    counts["input"] = len(records)

    t = time.perf_counter()
    records, drops = decontam.decontaminate(records, bench)
    counts["decontaminated"] = len(drops)
    records, drops = decontam.dedup_exact(records)
    counts["duplicates"] = len(drops)
    timings["decontaminate+dedup"] = time.perf_counter() - t

    traced = [r for r in records if r["thinking_trajectories"]]
    traces = [r["thinking_trajectories"][0] for r in traced]
    counts["trace_chars"] = sum(map(len, traces))
    from s1lib.models import load_tokenizer

    tok = load_tokenizer(tokenizer)
    t = time.perf_counter()
    lengths = tokencount.trace_lengths(traces, tok)  # exact: tiktoken re-expression, worker processes, verified
    timings["length"] = time.perf_counter() - t

    t = time.perf_counter()
    lengths_est = tokencount.trace_lengths(traces, "estimate")
    timings["length_estimate"] = time.perf_counter() - t

    # The tokenizer's own Rust implementation (batched, its threads) on a subset, extrapolated to all traces.
    subset = traces[:tokenizer_subset]
    backend = tok.backend_tokenizer
    t = time.perf_counter()
    original = [len(e.ids) for e in backend.encode_batch(subset, add_special_tokens=False)]
    dt = time.perf_counter() - t
    timings["length_original_extrapolated"] = dt * len(traces) / max(1, len(subset))
    counts["tokenizer_subset"] = len(subset)
    counts["subset_counts_identical"] = original == lengths[: len(subset)]
    counts["estimate_error_pct"] = round(100 * (sum(lengths_est) - sum(lengths)) / max(1, sum(lengths)), 2)
    for rec, n_tokens in zip(traced, lengths):
        rec["trace_length"] = n_tokens
    counts["trace_tokens_total"] = int(sum(lengths))

    t = time.perf_counter()
    clf = TfidfDomainClassifier().fit()
    sample_qs = [r["question"] for r in records[:5000]]
    clf(sample_qs)
    timings["domains_tfidf_5k"] = time.perf_counter() - t

    t = time.perf_counter()
    records, drops = quality.filter_missing(records)
    counts["missing"] = len(drops)
    records, drops = quality.filter_format(records)
    counts["format"] = len(drops)
    timings["quality"] = time.perf_counter() - t

    t = time.perf_counter()
    pre, rest = select.preselect(records, math_min_length=1500)
    chosen = select.sample(rest, 1000, 700, 42, pre)
    timings["select"] = time.perf_counter() - t
    counts["preselected"], counts["selected"] = len(pre), len(chosen)

    timings = {k: round(v, 2) for k, v in timings.items()}
    result = {
        "rows": n,
        "seconds": timings,
        "total_seconds": round(sum(v for k, v in timings.items() if not k.startswith("length_")), 2),
        "total_seconds_with_estimate": round(
            sum(v for k, v in timings.items() if k != "length" and k != "length_original_extrapolated"), 2
        ),
        "length_speedup_vs_original": round(timings["length_original_extrapolated"] / max(1e-9, timings["length"]), 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "peak_rss_worker_gb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2, 2),
        "counts": counts,
        "tokenizer": tokenizer,
    }
    if json_output:
        print(json.dumps(result))
    else:
        print(f"curation bench on {n} rows (tokenizer {tokenizer})")
        for k, v in timings.items():
            print(f"  {k:<22}{v:>8.2f} s")
        print(
            f"  {'total':<22}{result['total_seconds']:>8.2f} s   peak RSS {result['peak_rss_gb']} GB"
            f" (largest worker {result['peak_rss_worker_gb']} GB, pages shared with this process)"
        )
        print(f"  exact length counting: {result['length_speedup_vs_original']}x the tokenizer's own batch encode")
        print(f"  counts: {counts}")
    return result


if __name__ == "__main__":
    run_bench()
