"""Answer extraction from a completion's text: pure string rules, below the forcing layer so a budget policy's
probes extract answers exactly as the evaluation grades them (``s1lib.eval.grading`` re-exports these)."""

from __future__ import annotations

import re

from s1lib.text_format import DELIMITER_PRESETS, Delimiters, get_delimiters

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_SPACE_RE = re.compile(r"\\boxed ([^\s$]+)")
_ANSWER_RE = re.compile(r"(?:final\s+answer|answer)\s*(?:\*\*)?\s*:", re.IGNORECASE)


def _ends(delimiters: str | Delimiters | None) -> set[str]:
    if delimiters is None:
        return {d.think_end for d in DELIMITER_PRESETS.values()}
    return {get_delimiters(delimiters).think_end}


def _answer_section(completion: str, delimiters: str | Delimiters | None) -> str:
    """The answer segment: the text after the end-of-thinking delimiter that ended thinking, which is its FIRST
    occurrence (thinking cannot contain the delimiter that ends it; a model may open it again after answering).
    Any known preset's delimiter when ``delimiters`` is None; the whole completion when none occurs (thinking that
    never closed). The reference reads after the last one, which scores an answer followed by a re-opened
    delimiter as no answer."""
    ends = _ends(delimiters)
    found = [(idx, end) for end in ends if (idx := completion.find(end)) >= 0]
    if not found:
        return completion
    idx, end = min(found)
    return completion[idx + len(end) :]


def _closed_boxes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of every ``\\boxed{...}`` / ``\\fbox{...}`` whose braces close, in order."""
    out = []
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
                    out.append((match.start(), i + 1, text[start:i]))
                    break
    return out


def answer_candidates(text: str) -> list[tuple[int, str]]:
    """Every answer the extraction rules would read in ``text``, as ``(end offset, answer)`` in the order they
    appear: each closed box, and the rest of the line after each ``Final Answer:`` / ``Answer:`` that holds no box.
    The efficiency figures read a thinking text with it, to find where a correct answer first appears."""
    found = [(end, cleaned) for _, end, content in _closed_boxes(text) if (cleaned := _clean(content))]
    for match in _ANSWER_RE.finditer(text):
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end < 0 else line_end
        line = text[match.end() : line_end]
        if line.strip() and not _BOX_RE.search(line) and (cleaned := _clean(line)):
            found.append((line_end, cleaned))
    return sorted(found)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` whose braces close (nested braces allowed)."""
    boxes = _closed_boxes(text)
    found = (boxes[-1][0], boxes[-1][2]) if boxes else None
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

    Looks in the answer segment (after the first end-of-thinking delimiter: ``<|im_start|>answer`` and
    ``</think>`` by default, or only the given preset / Delimiters), then takes the last closed
    ``\\boxed{}``/``\\fbox{}``, else the rest of the line after the last ``Final Answer:`` / ``Answer:`` (trailing
    period and ``$`` stripped). A line whose box the answer budget cut (``\\boxed{12``) gives no answer.
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
    for end in _ends(delimiters):  # a delimiter the model opened again after its answer is not part of it
        rest = rest.split(end)[0]
    lines = [line for line in rest.splitlines() if line.strip()]
    if not lines or _BOX_RE.match(lines[0].strip()):  # nothing, or a box that never closed: no answer
        return None
    return _clean(lines[0])
