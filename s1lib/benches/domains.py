"""``s1 bench domains``: how well the offline domain classifier agrees with human labels on real questions.

MATH500's ``subject`` and OlympiadBench's ``subfield`` (``../shared/data``, read by path) are the labels. Three
settings: MSC descriptions only, descriptions plus OlympiadBench examples tested on MATH500, and plus MATH500
examples tested on OlympiadBench (each time on a data set it was not fitted on). Reported per setting: balanced
four-area agreement (``domains.area_agreement``; a constant answer scores 25 %), its per-area recalls, the lenient
accepted-code agreement (``domains.agreement``), the same two numbers for the best constant answer, and speed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from s1lib.curation.domains import PRIMARY_CODE, TfidfDomainClassifier, agreement, area_agreement
from s1lib.curation.schema import SourceSpec, load_source
from s1lib.paths import data_dir


def _labelled(path: Path, importer: str, label: str) -> tuple[list[str], list[str]]:
    records = load_source(SourceSpec(str(path), importer=importer))
    return [r["question"] for r in records], [json.loads(r["metadata"])[label] for r in records]


def _scores(predicted: Sequence[str], subjects: Sequence[str]) -> dict:
    areas = area_agreement(predicted, subjects)
    return {
        "balanced": areas.pop("balanced"),
        "areas": areas,
        "accepted_code": agreement(predicted, subjects)["overall"],
    }


def _best_constant(subjects: Sequence[str]) -> dict:
    """The constant MSC answer with the highest accepted-code agreement (the lenient metric's floor)."""
    from s1lib.curation.domains import MSC2020

    best = max(MSC2020, key=lambda code: agreement([code] * len(subjects), subjects)["overall"])
    return {"code": best, **_scores([best] * len(subjects), subjects)}


def run_bench(json_output: bool = False, data: Path | None = None) -> dict:
    """Measure, print a table (or one JSON object) and return the numbers (``data``: the benchmark folder)."""
    data = Path(data) if data is not None else data_dir()
    math_q, math_s = _labelled(data / "math500.jsonl", "math", "subject")
    olymp_q, olymp_s = _labelled(data / "olympiadbench.jsonl", "olympiadbench", "subfield")
    zero_shot = TfidfDomainClassifier().fit()
    t = time.perf_counter()
    zero_math = zero_shot(math_q)
    per_second = len(math_q) / (time.perf_counter() - t)
    settings = {
        "descriptions -> MATH500": _scores(zero_math, math_s),
        "descriptions -> OlympiadBench": _scores(zero_shot(olymp_q), olymp_s),
        "+OlympiadBench -> MATH500": _scores(
            TfidfDomainClassifier().fit(olymp_q, [PRIMARY_CODE[s] for s in olymp_s])(math_q), math_s
        ),
        "+MATH500 -> OlympiadBench": _scores(
            TfidfDomainClassifier().fit(math_q, [PRIMARY_CODE[s] for s in math_s])(olymp_q), olymp_s
        ),
    }
    result = {
        "settings": settings,
        "constant": {"MATH500": _best_constant(math_s), "OlympiadBench": _best_constant(olymp_s)},
        "questions_per_second": per_second,
        "labelled": {"MATH500": len(math_q), "OlympiadBench": len(olymp_q)},
    }
    if json_output:
        print(json.dumps(result, indent=2))
        return result
    print(f"offline domain classifier (TF-IDF) on {len(math_q)} MATH500 + {len(olymp_q)} OlympiadBench questions")
    print(f"  {'setting':32s} {'balanced 4-area':>16s} {'accepted code':>14s}   per area")
    for name, score in settings.items():
        areas = ", ".join(f"{a} {v:.0%}" for a, v in score["areas"].items())
        print(f"  {name:32s} {score['balanced']:16.1%} {score['accepted_code']:14.1%}   {areas}")
    for name, const in result["constant"].items():
        label = f"constant {const['code']} -> {name}"
        print(f"  {label:32s} {const['balanced']:16.1%} {const['accepted_code']:14.1%}")
    print(f"  speed: {per_second:,.0f} questions/s")
    return result
