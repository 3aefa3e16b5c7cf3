"""Answer extraction from a completion's text: pure string rules, below the forcing layer so a budget policy's
probes extract answers exactly as the evaluation grades them (``s1lib.eval.grading`` re-exports these)."""

from __future__ import annotations

import re

from s1lib.format import DELIMITER_PRESETS, Delimiters, get_delimiters

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_SPACE_RE = re.compile(r"\\boxed ([^\s$]+)")
_ANSWER_RE = re.compile(r"(?:final\s+answer|answer)\s*(?:\*\*)?\s*:", re.IGNORECASE)


def _answer_section(completion: str, delimiters: str | Delimiters | None) -> str:
    """Text after the last end-of-thinking delimiter (any known preset when ``delimiters`` is None)."""
    if delimiters is None:
        ends = {d.think_end for d in DELIMITER_PRESETS.values()}
    else:
        ends = {get_delimiters(delimiters).think_end}
    best = -1
    for end in ends:
        idx = completion.rfind(end)
        if idx >= 0:
            best = max(best, idx + len(end))
    return completion if best < 0 else completion[best:]


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` whose braces close (nested braces allowed)."""
    found = None
    for match in _BOX_RE.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
                continue
            if ch == "{" and text[i - 1] != "\\":
                depth += 1
            elif ch == "}" and text[i - 1] != "\\":
                depth -= 1
                if depth == 0:
                    found = (match.start(), text[start:i])
                    break
    spaced = list(_BOX_SPACE_RE.finditer(text))
    if spaced and (found is None or spaced[-1].start() > found[0]):
        return spaced[-1].group(1)
    return None if found is None else found[1]


def _clean(answer: str) -> str | None:
    answer = answer.strip().strip("*").strip()
    for _ in range(3):
        before = answer
        answer = answer.rstrip(".").strip()
        for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if answer.startswith(left) and answer.endswith(right) and len(answer) >= len(left) + len(right):
                answer = answer[len(left) : len(answer) - len(right)].strip()
        answer = answer.strip("$").strip()
        if answer == before:
            break
    return answer or None


def extract_answer(completion: str, delimiters: str | Delimiters | None = None) -> str | None:
    """The final answer of a completion, or None if it gives none.

    Looks after the last end-of-thinking delimiter (``<|im_start|>answer`` and ``</think>`` by default; or only
    the given preset / Delimiters), then takes the last closed ``\\boxed{}``/``\\fbox{}``, else the rest of the line
    after the last ``Final Answer:`` / ``Answer:`` (trailing period and ``$`` stripped).
    """
    if not completion:
        return None
    section = _answer_section(completion, delimiters)
    boxed = last_boxed(section)
    if boxed is not None:
        return _clean(boxed)
    matches = list(_ANSWER_RE.finditer(section))
    if not matches:
        return None
    rest = section[matches[-1].end() :]
    lines = [line for line in rest.splitlines() if line.strip()]
    return _clean(lines[0]) if lines else None
