"""The curation benchmark runs on a small pool with exact lengths, and the length estimate tracks the tokenizer."""

from __future__ import annotations

import json

import numpy as np

from s1lib.curation.tokencount import estimate_tokens, trace_lengths


def test_estimate_tracks_tokenizer(shared_data, smollm_tokenizer):
    texts = [r["solution"] for r in json.loads((shared_data / "s1k_questions.json").read_text())[:300]]
    real = np.array(trace_lengths(texts, smollm_tokenizer))
    est = np.array([estimate_tokens(t) for t in texts])
    assert abs(est.sum() / real.sum() - 1) < 0.05
    assert np.median(np.abs(est - real) / real) < 0.05
    assert estimate_tokens("") == 0 and estimate_tokens("abc 12") == 3


def test_run_bench_small(shared_data, capsys):  # the bench draws its vocabulary from the shared data
    from s1lib.benches.curate import run_bench

    result = run_bench(json_output=True, n=1500, tokenizer_subset=100)
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["rows"] == 1500 and printed["counts"]["selected"] == 1000
    # 1 % benchmark copies and 1 % copies of earlier rows (caught as cross-source overlap or exact duplicates)
    assert printed["counts"]["decontaminated"] + printed["counts"]["duplicates"] >= 25
    assert set(result["seconds"]) >= {"normalise", "decontaminate+dedup", "quality", "length", "select"}
    # The exact counts (the fast path) equal the tokenizer's own on the compared subset.
    assert result["counts"]["subset_counts_identical"] is True
    assert result["counts"]["trace_tokens_total"] > 0 and abs(result["counts"]["estimate_error_pct"]) < 5
    assert result["peak_rss_gb"] > 0
