"""Quality filters: missing features (the reference's "API errors" stage, split by reason) and formatting rules.

**fix**: the reference drops a row with any missing feature in one step, which also silently removes every question
without a reference solution (the coding sources). Here each reason (``no_trace``, ``no_solution``, ``no_grade``,
``no_domain``, ``no_length``) is its own funnel category; a row is charged to the first missing one in that order.
The formatting rules are the reference's four; users add their own (a name plus a regex or a callable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from s1lib.curation.decontam import Drop

MISSING_REASONS = ("no_trace", "no_solution", "no_grade", "no_domain", "no_length")


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def missing_reason(rec: dict, required: Iterable[str] = MISSING_REASONS) -> str | None:
    """The first missing feature of a record among ``required`` (in the canonical order), or None."""
    required = set(required)
    checks = {
        "no_trace": lambda r: not r.get("thinking_trajectories") or _empty(r["thinking_trajectories"][0]),
        "no_solution": lambda r: _empty(r.get("solution")),
        "no_grade": lambda r: r.get("trace_grade") is None,
        "no_domain": lambda r: _empty(r.get("domain")),
        "no_length": lambda r: r.get("trace_length") is None,
    }
    for reason in MISSING_REASONS:
        if reason in required and checks[reason](rec):
            return reason
    return None


def filter_missing(records: list[dict], required: Iterable[str] = MISSING_REASONS) -> tuple[list[dict], list[Drop]]:
    """Drop records missing any required feature; each drop names its first missing feature."""
    required = tuple(required)
    unknown = set(required) - set(MISSING_REASONS)
    if unknown:
        raise ValueError(f"Unknown missing-feature check(s) {sorted(unknown)}; expected {MISSING_REASONS}")
    kept, drops = [], []
    for rec in records:
        reason = missing_reason(rec, required)
        if reason is None:
            kept.append(rec)
        else:
            drops.append(Drop(rec["row_id"], "missing", reason))
    return kept, drops


@dataclass(frozen=True)
class FormatRule:
    """A named test on a record's question; ``exempt_sources`` are source_type substrings the rule skips."""

    name: str
    pattern: str | Callable[[str], bool]
    exempt_sources: tuple[str, ...] = ()

    def matches(self, rec: dict) -> bool:
        source = str(rec.get("source_type", "")).lower()
        if any(s.lower() in source for s in self.exempt_sources):
            return False
        text = rec["question"]
        if callable(self.pattern):
            return bool(self.pattern(text))
        return _compiled(self.pattern).search(text) is not None


_CACHE: dict[str, re.Pattern] = {}


def _compiled(pattern: str) -> re.Pattern:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(pattern)
    return _CACHE[pattern]


# The reference's rules: [asy] figures (kept for AIME), image links, p1./p2. problem lists, bold markup with digits.
DEFAULT_RULES: tuple[FormatRule, ...] = (
    FormatRule("asy_figure", r"\[asy\]", exempt_sources=("aime",)),
    FormatRule("image_link", r"!\[Image\]"),
    FormatRule("p_enumeration", r"(?<![A-Za-z0-9])p[1-9][0-9]{0,2}\."),
    FormatRule("bold_with_digits", r"\*\*(?=.*\d)[^\s\]]*\*\*"),
)


def rule_from_config(item: dict | FormatRule) -> FormatRule:
    """Build a rule from ``{"name": ..., "regex": ..., "exempt_sources": [...]}`` (config files)."""
    if isinstance(item, FormatRule):
        return item
    if "name" not in item or not ("regex" in item or "pattern" in item):
        raise ValueError(f"A formatting rule needs 'name' and 'regex', got {item!r}")
    pattern = item.get("regex", item.get("pattern"))
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"Formatting rule {item['name']!r}: bad regex {pattern!r}: {exc}") from exc
    return FormatRule(item["name"], pattern, tuple(item.get("exempt_sources", ())))


def filter_format(records: list[dict], rules: Iterable[FormatRule] = DEFAULT_RULES) -> tuple[list[dict], list[Drop]]:
    """Drop records whose question matches a rule; the reason is ``format:<rule name>`` (first rule that fires)."""
    rules = tuple(rules)
    kept, drops = [], []
    for rec in records:
        fired = next((rule for rule in rules if rule.matches(rec)), None)
        if fired is None:
            kept.append(rec)
        else:
            drops.append(Drop(rec["row_id"], "format", f"format:{fired.name}"))
    return kept, drops
