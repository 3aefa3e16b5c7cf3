"""LIMO's rule-based chain score: four weighted criteria, keyword counts normalised by length (LIMO-v2 §3.1).

| criterion | weight | measured by |
|---|---|---|
| elaborated reasoning | 30 % | length in words |
| self-verification | 20 % | verification words ("check", "verify", ...) per 100 words |
| exploratory approach | 25 % | tentative words ("perhaps", "might", ...) per 100 words |
| adaptive granularity | 25 % | connectives ("therefore", "since", ...) per 100 words |

LIMO published the criteria and weights but neither the full keyword lists nor the combination rule, so both are
settings here. **Documented default** (ours, not LIMO's): each criterion's raw value ``x`` (words, or matches per 100
words) is mapped to ``x / (x + scale)`` in [0, 1), which rises with ``x`` and saturates, so one criterion cannot
swamp the others; the score is the weighted sum (weights normalised to 1). Keywords match whole words or phrases,
case-insensitively, longest first and without overlap ("double-check" counts once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from s1lib.configfile import config_from_dict

CRITERIA = ("elaborated", "verification", "exploration", "granularity")


@dataclass
class ChainScoreConfig:
    """Weights, keyword lists and scales of the chain score; the defaults are LIMO's weights and our lists."""

    weight_elaborated: float = field(default=0.30, metadata={"help": "weight of chain length (LIMO: 30 %)"})
    weight_verification: float = field(default=0.20, metadata={"help": "weight of self-verification (LIMO: 20 %)"})
    weight_exploration: float = field(default=0.25, metadata={"help": "weight of exploratory words (LIMO: 25 %)"})
    weight_granularity: float = field(default=0.25, metadata={"help": "weight of connectives (LIMO: 25 %)"})
    verification_words: list[str] = field(
        default_factory=lambda: [
            "check",
            "verify",
            "verified",
            "double-check",
            "confirm",
            "make sure",
            "sanity check",
            "let me check",
        ],
        metadata={"help": "self-verification keywords (LIMO names 'check', 'verify'; the rest is our default)"},
    )
    exploration_words: list[str] = field(
        default_factory=lambda: ["perhaps", "might", "maybe", "alternatively", "what if", "suppose", "let's try"],
        metadata={"help": "exploratory keywords (LIMO names 'perhaps', 'might'; the rest is our default)"},
    )
    granularity_words: list[str] = field(
        default_factory=lambda: ["therefore", "since", "thus", "hence", "because", "which means", "it follows"],
        metadata={"help": "connectives (LIMO names 'therefore', 'since'; the rest is our default)"},
    )
    length_scale: float = field(
        default=2000.0,
        metadata={"help": "words at which the length criterion is 0.5 (x / (x + scale)); toy chains are short"},
    )
    keyword_scale: float = field(
        default=1.0, metadata={"help": "keyword matches per 100 words at which a keyword criterion is 0.5"}
    )

    def __post_init__(self) -> None:
        for name in CRITERIA:
            weight = getattr(self, f"weight_{name}")
            if not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f"chain_score.weight_{name} must be a number >= 0, got {weight!r}")
        if sum(getattr(self, f"weight_{name}") for name in CRITERIA) <= 0:
            raise ValueError("chain_score: the four weights sum to 0; give at least one a positive weight")
        for name in ("verification_words", "exploration_words", "granularity_words"):
            words = getattr(self, name)
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
                raise ValueError(f"chain_score.{name} must be a non-empty list of words, got {words!r}")
        for name in ("length_scale", "keyword_scale"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) <= 0:
                raise ValueError(f"chain_score.{name} must be a number > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_any(cls, value: dict | ChainScoreConfig | None) -> ChainScoreConfig:
        if isinstance(value, ChainScoreConfig):
            return value
        return config_from_dict(cls, value or {}, noun="chain_score option")


_WORD = re.compile(r"\w+(?:[-']\w+)*")


@lru_cache(maxsize=64)
def _pattern(words: tuple[str, ...]) -> re.Pattern:
    ordered = sorted({w.strip().lower() for w in words}, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in ordered) + r")(?![\w-])", re.IGNORECASE)


def count_keywords(text: str, words: list[str]) -> int:
    """Whole-word, case-insensitive, non-overlapping matches of ``words`` (phrases allowed), longest first."""
    return len(_pattern(tuple(words)).findall(text))


def chain_features(text: str, config: ChainScoreConfig | None = None) -> dict[str, float]:
    """The raw criteria of one chain: ``elaborated`` in words, the keyword criteria in matches per 100 words."""
    config = config or ChainScoreConfig()
    n_words = len(_WORD.findall(text))
    per_100 = 100.0 / n_words if n_words else 0.0
    return {
        "elaborated": float(n_words),
        "verification": count_keywords(text, config.verification_words) * per_100,
        "exploration": count_keywords(text, config.exploration_words) * per_100,
        "granularity": count_keywords(text, config.granularity_words) * per_100,
    }


def chain_criteria(text: str, config: ChainScoreConfig | None = None) -> dict[str, float]:
    """Each criterion mapped to [0, 1) by ``x / (x + scale)`` (see the module docstring)."""
    config = config or ChainScoreConfig()
    raw = chain_features(text, config)
    out = {}
    for name, value in raw.items():
        scale = config.length_scale if name == "elaborated" else config.keyword_scale
        out[name] = value / (value + scale)
    return out


def chain_score(text: str, config: ChainScoreConfig | None = None) -> float:
    """The weighted sum of the four criteria, weights normalised to 1: a number in [0, 1)."""
    config = config or ChainScoreConfig()
    criteria = chain_criteria(text, config)
    weights = {name: float(getattr(config, f"weight_{name}")) for name in CRITERIA}
    return sum(weights[n] * criteria[n] for n in CRITERIA) / sum(weights.values())


def best_chain(candidates: list[dict[str, Any]], config: ChainScoreConfig | None = None) -> dict[str, Any] | None:
    """The highest-scoring of ``{"chain", ...}`` candidates (ties: the first), with ``score`` set on each."""
    config = config or ChainScoreConfig()
    best = None
    for cand in candidates:
        cand["score"] = chain_score(cand["chain"], config)
        if best is None or cand["score"] > best["score"]:
            best = cand
    return best


def pick_chains(
    records: list[dict],
    chain_models: list[tuple[str, int]],
    from_trace: bool = False,
    config: ChainScoreConfig | None = None,
) -> tuple[list[dict], list[Any]]:
    """Each question's best correct chain (LIMO steps 5-6); a question without one is dropped as ``no_correct_chain``.

    Candidates are the right samples ``model#j`` of each ``(model, samples)`` already on the record (see
    ``passrate.sample_attempts``) and, with ``from_trace``, the record's own trace when it was graded right. The
    winner becomes the record's trace, its boxed answer the attempt; ``chain_score``, ``chain_source`` and
    ``chain_candidates`` say how it won.
    """
    from s1lib.curation.decontam import Drop
    from s1lib.curation.passrate import sample_names
    from s1lib.eval.grading import last_boxed

    config = config or ChainScoreConfig()
    kept, drops = [], []
    for rec in records:
        candidates = []
        trace = (rec.get("thinking_trajectories") or [None])[0]
        if from_trace and trace and rec.get("trace_grade") is True:
            candidates.append({"chain": trace, "source": "trace", "attempt": rec.get("attempt")})
        for model, samples in chain_models:
            for name in sample_names(model, samples):
                entry = rec.get("attempts", {}).get(name) or {}
                if entry.get("correct") is True:
                    boxed = last_boxed(entry["attempt"])
                    attempt = f"\\boxed{{{boxed}}}" if boxed is not None else entry["attempt"]
                    candidates.append({"chain": entry["attempt"], "source": name, "attempt": attempt})
        best = best_chain(candidates, config)
        if best is None:
            drops.append(Drop(rec["row_id"], "chains", "no_correct_chain", f"{len(chain_models)} chain model(s)"))
            continue
        rec.update(
            thinking_trajectories=[best["chain"]],
            attempt=best["attempt"],
            chain_score=round(best["score"], 6),
            chain_source=best["source"],
            chain_candidates=len(candidates),
        )
        kept.append(rec)
    return kept, drops
