"""Selection: pre-selection, sampler determinism, the 2^-rank preference, the 700/300 phase mix, ablations."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from s1lib.curation.select import (
    phase2_weights,
    preselect,
    sample,
    select_diverse,
    select_longest,
    select_random,
)


def _rec(i, domain, length, source="MATH", grade=True):
    return {"row_id": str(i), "domain": domain, "trace_length": length, "source_type": source, "trace_grade": grade}


def test_preselect_rule():
    recs = [
        _rec(0, "05", 100, "qq8933/AIME_1983_2024"),
        _rec(1, "05", 100, "AIME", grade=False),
        _rec(2, "81", 10, "Idavidrein/gpqa"),
        _rec(3, "11", 6000, "MATH"),
        _rec(4, "11", 5000, "MATH"),
        _rec(5, "11", 9000, "MATH", grade=False),
        _rec(6, "11", 9000, "olympiad"),
    ]
    chosen, rest = preselect(recs)
    assert [r["row_id"] for r in chosen] == ["0", "2", "3"]
    assert len(chosen) + len(rest) == len(recs)
    chosen, _ = preselect(recs, math_min_length=4000)
    assert [r["row_id"] for r in chosen] == ["0", "2", "3", "4"]


def _pool(n_domains=5, per=40):
    rng = np.random.default_rng(0)
    return [_rec(f"{d}-{i}", f"{d:02d}", int(rng.integers(1, 10000))) for d in range(n_domains) for i in range(per)]


def test_sampler_is_seeded_and_returns_distinct_rows():
    pool = _pool()
    a = [r["row_id"] for r in sample(list(pool), total=60, uniform_until=40, seed=7)]
    b = [r["row_id"] for r in sample(list(pool), total=60, uniform_until=40, seed=7)]
    c = [r["row_id"] for r in sample(list(pool), total=60, uniform_until=40, seed=8)]
    assert a == b and a != c and len(set(a)) == 60


def test_rank_preference_is_two_to_the_minus_rank():
    # One domain with 6 questions of distinct lengths; draw one, over many seeds; chi-square against 2^-rank.
    pool = [_rec(i, "05", 100 * (i + 1)) for i in range(6)]
    draws = 3000
    counts = np.zeros(6)
    for seed in range(draws):
        log: list[dict] = []
        sample(list(pool), total=1, uniform_until=1, seed=seed, log=log)
        counts[log[0]["rank"]] += 1
    expected = np.exp2(-np.arange(6)) / np.exp2(-np.arange(6)).sum() * draws
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 20.5, (counts, expected)  # df = 5, p = 0.001
    assert counts[0] > counts[1] > counts[2]
    # rank 0 is the longest trace
    assert sample(list(pool), total=1, uniform_until=1, seed=0)[0]["trace_length"] in {600, 500, 400, 300, 200, 100}


def test_phase_mix_uniform_then_aime_gpqa_half_mass():
    per = 1500
    pool = [_rec(f"{d}{i}", d, i) for d in ("a", "b", "c") for i in range(per)]
    for r in pool[:10]:
        r["source_type"] = "AIME"  # AIME mass in domain a
    for r in pool[per : per + 30]:
        r["source_type"] = "GPQA"  # GPQA mass in domain b (three times as many rows, still half of AIME's mass)
    assert phase2_weights(pool, ["aime"], ["gpqa"]) == pytest.approx({"a": 1.0, "b": 0.5})
    log: list[dict] = []
    sample(list(pool), total=1200, uniform_until=600, seed=3, log=log)
    first = Counter(x["domain"] for x in log if x["position"] < 600)
    second = Counter(x["domain"] for x in log if x["position"] >= 600)
    assert {x["phase"] for x in log if x["position"] < 600} == {"uniform"}
    assert all(150 < first[d] < 250 for d in "abc"), first
    assert second["c"] == 0 and 0.6 < second["a"] / 600 < 0.73, second


def test_preselected_fill_first_positions_and_empty_domains_drop_out():
    pool = [_rec(i, "05" if i < 2 else "11", i) for i in range(10)]
    pre = [_rec("p", "05", 1, "AIME")]
    log: list[dict] = []
    out = sample(list(pool), total=8, uniform_until=8, seed=1, preselected=pre, log=log)
    assert out[0]["row_id"] == "p" and len(out) == 8 and log[0]["position"] == 1
    everything = sample(list(pool), total=100, uniform_until=100, seed=1)
    assert len(everything) == 10


def test_ablation_selectors():
    pool = _pool()
    rnd = select_random(pool, 50, seed=1)
    assert len({r["row_id"] for r in rnd}) == 50 and rnd == select_random(pool, 50, seed=1)
    longest = select_longest(pool, 10)
    assert [r["trace_length"] for r in longest] == sorted((r["trace_length"] for r in pool), reverse=True)[:10]
    diverse = select_diverse(list(pool), 50, seed=2)
    counts = Counter(r["domain"] for r in diverse)
    assert len(diverse) == 50 and max(counts.values()) - min(counts.values()) < 15
