"""Every metric against numbers worked out by hand in the test."""

from __future__ import annotations

import math

import pytest

from s1lib.eval.metrics import (
    MethodMetrics,
    accuracy,
    avg_at_n,
    chance_levels,
    control,
    cov_at_k,
    maj_at_k,
    majority_vote,
    mean_ci,
    method_metrics,
    paired_difference_interval,
    pass_at_k,
    performance,
    scaling,
    t_quantile,
    wilson_interval,
)


def test_accuracy():
    assert accuracy([True, False, True, True]) == 0.75
    assert accuracy([False]) == 0.0
    with pytest.raises(ValueError):
        accuracy([])


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [(0.975, 1, 12.7062), (0.975, 10, 2.2281), (0.975, 29, 2.0452), (0.95, 5, 2.0150), (0.5, 7, 0.0)],
)
def test_t_quantile_matches_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_avg_at_n_t_interval_by_hand():
    # 3 problems x 4 samples: per-problem means 1.0, 0.5, 0.0 -> mean 0.5, sd 0.5, se 0.5/sqrt(3)
    correct = [[True] * 4, [True, False, True, False], [False] * 4]
    ci = avg_at_n(correct)
    assert ci.mean == pytest.approx(0.5)
    half = 4.302653 * 0.5 / math.sqrt(3)  # t_{0.975, 2} = 4.302653
    assert (ci.low, ci.high) == (pytest.approx(0.5 - half, abs=1e-5), pytest.approx(0.5 + half, abs=1e-5))
    assert (ci.n, ci.method) == (3, "t")
    z = mean_ci([1.0, 0.5, 0.0], method="normal")
    assert z.high - z.mean == pytest.approx(1.959964 * 0.5 / math.sqrt(3), abs=1e-5)


def test_bootstrap_interval_is_seeded_and_brackets_mean():
    values = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1]
    a = mean_ci(values, method="bootstrap", seed=3)
    assert a == mean_ci(values, method="bootstrap", seed=3)
    assert a.low < a.mean == 0.7 < a.high
    assert a.low > 0.35 and a.high <= 1.0  # normal approx: 0.7 ± 1.96*0.145 = [0.42, 0.98]
    with pytest.raises(ValueError, match="method"):
        mean_ci(values, method="magic")


def test_avg_at_n_rejects_ragged_input():
    with pytest.raises(ValueError, match="same non-zero number"):
        avg_at_n([[True, False], [True]])


def test_pass_and_cov_at_k_by_hand():
    # n=4, c=1, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 0, 3) == 0.0
    assert pass_at_k(4, 2, 3) == 1.0  # n - c < k
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)  # k=1 is plain accuracy
    rows = [[True, False, False, False], [False] * 4, [True, True, False, False]]
    # per problem: 0.5, 0, 1 - C(2,2)/C(4,2) = 5/6
    assert cov_at_k(rows, 2) == pytest.approx((0.5 + 0 + 5 / 6) / 3)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (4, 1, 1, 1 / 4),
        (4, 1, 2, 1 - 3 / 6),  # 1 - C(3,2)/C(4,2)
        (4, 1, 4, 1.0),
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (64, 30, 1, 30 / 64),
        (64, 0, 64, 0.0),
        (64, 1, 64, 1.0),
    ],
)
def test_pass_at_k_table(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


@pytest.mark.parametrize("n", [1, 2, 5, 16, 64])
def test_pass_at_k_never_falls_as_k_grows(n):
    for c in range(n + 1):
        values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert values == sorted(values), (n, c)
        assert values[0] == pytest.approx(c / n)


@pytest.mark.parametrize("k_samples", [1, 2, 4, 8, 16, 32, 64])
def test_pass_at_1_from_k_samples_stays_the_mean_correctness(k_samples):
    """lighteval's ``pass@1:k_samples`` fell from 0.47 at k = 1 to 0.05 at k = 64 (lighteval issue 771, open-r1
    issue 655): pass@1 estimated from k samples must stay the mean of per-sample correctness however many samples
    there are. Each problem here has 47% of its samples right, spread over the first k."""
    rows = [[(j * 47 + p) % 100 < 47 for j in range(k_samples)] for p in range(100)]
    mean = sum(map(sum, rows)) / (100 * k_samples)
    assert cov_at_k(rows, 1) == pytest.approx(mean)
    assert cov_at_k(rows, 1) == pytest.approx(avg_at_n(rows).mean)
    assert abs(mean - 0.47) < 0.5 / k_samples + 0.01  # the share right is about 47% at every k


def test_majority_vote_and_maj_at_k_by_hand():
    assert majority_vote(["7", "5", "5", None, None, None]) == "5"  # None never wins
    assert majority_vote(["a", "b", "b", "a"]) == "a"  # tie -> first seen
    assert majority_vote([None, None]) is None
    samples = [
        [("5", True), ("4", False), ("5", True), ("4", False), ("4", False)],  # k=3: 5 wins (right); k=5: 4 wins
        [("1", False), (None, False), ("2", True)],  # k=3: tie 1 vs 2 -> 1 (wrong)
        [(None, False), (None, False), (None, False)],  # nothing parsed -> wrong
    ]
    assert maj_at_k(samples, 1) == pytest.approx(1 / 3)
    assert maj_at_k(samples, 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="fewer than k=5"):
        maj_at_k(samples, 5)
    assert maj_at_k([samples[0]], 5) == 0.0


def test_control_by_hand():
    # budgets 100, 200, 400 requested as a_max; runs measured 90, 210, 400 -> 2 of 3 within [0, budget]
    assert control([90, 210, 400], 0, [100, 200, 400]) == pytest.approx(2 / 3)
    assert control([90, 210, 400], 100, 400) == pytest.approx(2 / 3)  # scalar bounds, inclusive
    assert control([5], 0, 4) == 0.0
    with pytest.raises(ValueError, match="expected 3"):
        control([1, 2, 3], 0, [1, 2])


def test_scaling_is_the_mean_pairwise_slope():
    points = [(1000, 0.2), (2000, 0.4), (4000, 0.5)]
    # slopes: (0.4-0.2)/1000 = 2e-4, (0.5-0.2)/3000 = 1e-4, (0.5-0.4)/2000 = 5e-5 -> mean 1.1666e-4
    expected = (2e-4 + 1e-4 + 5e-5) / 3
    assert scaling(points) == pytest.approx(expected)
    assert scaling(points[::-1]) == pytest.approx(expected)  # order of input does not matter
    assert scaling(points, per_tokens=1000) == pytest.approx(expected * 1000)
    # per doubling: log2 gaps 1, 2, 1 -> slopes 0.2, 0.15, 0.1 -> mean 0.15
    assert scaling(points, x_scale="log2") == pytest.approx(0.15)
    assert scaling([(100, 0.5), (200, 0.3)]) == pytest.approx(-0.002)  # negative when accuracy falls
    assert math.isnan(scaling([(100, 0.5)]))
    assert scaling([(100, 0.5), (100, 0.7), (200, 0.7)]) == pytest.approx((0.002 + 0.0) / 2)  # equal-x pair skipped


def test_performance_and_method_metrics():
    points = [(1000, 0.2), (2000, 0.567), (4000, 0.5)]
    assert performance(points) == 0.567
    m = method_metrics("budget forcing", points, [900, 1900, 4100], 0, [1000, 2000, 4000])
    assert isinstance(m, MethodMetrics)
    assert m.control == pytest.approx(2 / 3)
    assert m.scaling == pytest.approx(((0.367 / 1000) + (0.3 / 3000) + (-0.067 / 2000)) / 3)
    assert m.performance_pct == pytest.approx(56.7)
    assert m.to_dict()["scaling_x100"] == pytest.approx(100 * m.scaling)


# Wilson score intervals (95%), worked out from the closed form: center (p + z²/2n)/(1 + z²/n) and half-width
# z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n), z = 1.959964; the values also appear in standard tables.
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_known_values(k, n, low, high):
    ci = wilson_interval(k, n)
    assert (ci.low, ci.high) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))
    assert ci.low <= ci.mean == k / n <= ci.high and ci.method == "wilson"


def test_wilson_interval_rejects_impossible_counts():
    for k, n in ((3, 2), (-1, 4), (0, 0)):
        with pytest.raises(ValueError, match="wilson_interval"):
            wilson_interval(k, n)


def test_paired_difference_altman_example():
    """Altman et al., Statistics with Confidence (2000), Table 6.2: 14 pairs both positive, 5 only the first, none
    only the second, 22 neither; Newcombe's paired interval of the difference is 0.0115 to 0.2265."""
    first = [True] * 19 + [False] * 22
    second = [True] * 14 + [False] * 27
    diff = paired_difference_interval(first, second)
    assert diff.difference == pytest.approx(5 / 41)
    assert (diff.low, diff.high) == (pytest.approx(0.0115, abs=1e-4), pytest.approx(0.2265, abs=1e-4))
    reverse = paired_difference_interval(second, first)  # swapping the settings mirrors the interval
    assert (reverse.low, reverse.high) == (pytest.approx(-diff.high), pytest.approx(-diff.low))


def test_paired_difference_edges():
    same = paired_difference_interval([True, False] * 20, [True, False] * 20)
    assert same.difference == 0 and same.low < 0 < same.high
    all_gain = paired_difference_interval([True] * 30, [False] * 30)
    assert all_gain.difference == 1.0 and all_gain.low > 0.8 and all_gain.high == 1.0
    with pytest.raises(ValueError, match="pair them by problem"):
        paired_difference_interval([True], [True, False])


def test_chance_levels_are_the_best_constant_answer():
    answers = ["A", "A", "B", "3", "3", "4", "7"]
    groups = ["parity", "parity", "parity", "count", "count", "count", "count"]
    levels = chance_levels(answers, groups)
    assert levels["parity"] == pytest.approx(2 / 3) and levels["count"] == pytest.approx(2 / 4)
    assert levels["all"] == pytest.approx((2 + 2) / 7)
    assert chance_levels(["5", "5", "6"]) == {"all": pytest.approx(2 / 3)}
