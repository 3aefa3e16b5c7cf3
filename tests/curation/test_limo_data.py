"""LIMO data: the importers on rows in LIMO's fields and on bad rows, and LIMO's SFT text (plain, or s1 delimiters)."""

from __future__ import annotations

import json

import pytest

from s1lib.curation.schema import LIMO_DATASETS, Quarantine, SchemaError, SourceSpec, load_source
from s1lib.text_format import LIMO_SYSTEM_PROMPT, PLAIN, assistant_content, get_delimiters, record_sft_text

CHAIN = "We need 3 + 4. Let me verify: 3 + 4 = 7. Therefore the answer is \\boxed{7}."
ROWS = [
    {"question": "What is 3 + 4?", "solution": CHAIN, "answer": "7"},
    {"question": "Half of 3?", "solution": "3 / 2 = 1.5, so \\boxed{\\frac{3}{2}}.", "answer": "\\frac{3}{2}"},
    {"question": "AMC: 27?", "solution": "It is \\boxed{27}.", "answer": 27},
]


def _jsonl(tmp_path, rows, name="limo.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(("importer", "source"), [("limo", "LIMO"), ("limo-v2", "LIMO-v2")])
def test_limo_rows_map_to_the_common_schema(tmp_path, importer, source):
    recs = load_source(SourceSpec(str(_jsonl(tmp_path, ROWS)), importer=importer))
    assert [r["question"] for r in recs] == [r["question"] for r in ROWS]
    assert [r["thinking_trajectories"] for r in recs] == [[r["solution"]] for r in ROWS]
    assert [r["answer"] for r in recs] == ["7", "\\frac{3}{2}", "27"]
    assert [r["answer_kind"] for r in recs] == ["integer", "math", "integer"]
    assert [r["attempt"] for r in recs] == ["\\boxed{7}", "\\boxed{\\frac{3}{2}}", "\\boxed{27}"]
    assert {r["source_type"] for r in recs} == {source}
    assert recs[0]["row_id"] == f"{importer}:limo.jsonl:1"
    assert "solution" not in json.loads(recs[0]["metadata"])  # the chain is stored once as trace, not again
    assert json.loads(recs[0]["metadata"])["answer"] == "7"


def test_the_hub_ids_and_sizes_are_the_released_sets():
    assert LIMO_DATASETS == {"limo": ("GAIR/LIMO", "LIMO", 817), "limo-v2": ("GAIR/LIMO-v2", "LIMO-v2", 800)}


BAD = [
    ({"solution": CHAIN, "answer": "7"}, "question", "present"),
    ({"question": "Q?", "answer": "7"}, "solution", "present"),
    ({"question": "Q?", "solution": "  ", "answer": "7"}, "solution", "non-empty"),
    ({"question": "Q?", "solution": CHAIN}, "answer", "missing"),
    ({"question": "Q?", "solution": CHAIN, "answer": None}, "answer", "got NoneType"),
    ({"question": "Q?", "solution": CHAIN, "answer": ["7"]}, "answer", "got list"),
    ({"question": "Q?", "solution": CHAIN, "answer": " "}, "answer", "non-empty"),
    ({"question": 3, "solution": CHAIN, "answer": "7"}, "question", "a string, got int"),
]


@pytest.mark.parametrize(("row", "field", "expected"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_row_names_file_line_and_field(tmp_path, row, field, expected):
    path = _jsonl(tmp_path, [ROWS[0], row])
    with pytest.raises(SchemaError) as err:
        load_source(SourceSpec(str(path), importer="limo"))
    assert (err.value.file, err.value.location, err.value.field) == (str(path), "line 2", field)
    assert expected in err.value.expected and str(path) in str(err.value)


def test_bad_rows_are_quarantined_with_reasons_and_the_rest_kept(tmp_path):
    rows = [ROWS[0], BAD[3][0], "{not json", ROWS[1], '"a string"']
    quarantine = Quarantine(tmp_path / "q.jsonl")
    recs = load_source(SourceSpec(str(_jsonl(tmp_path, rows)), importer="limo-v2"), "quarantine", quarantine)
    assert [r["answer"] for r in recs] == ["7", "\\frac{3}{2}"]
    assert [(q["location"], q["field"]) for q in quarantine.items] == [
        ("line 2", "answer"),
        ("line 3", "<json>"),
        ("line 5", "<row>"),
    ]
    assert len((tmp_path / "q.jsonl").read_text().splitlines()) == 3


# ---------------------------------------------------------------- SFT text


@pytest.mark.parametrize(
    ("thinking", "attempt", "content"),
    [
        (CHAIN, "\\boxed{7}", CHAIN),  # LIMO: the chain already ends with its answer
        (CHAIN, "7", CHAIN),  # LIMO's raw rows (attempt_field: answer)
        (CHAIN.replace("{7}", "{\\dfrac{14}{2}}"), "\\boxed{7}", CHAIN.replace("{7}", "{\\dfrac{14}{2}}")),
        ("  " + CHAIN + "\n", "", CHAIN),
        ("2 plus 2 is 4.", "\\boxed{4}", "2 plus 2 is 4.\n\n\\boxed{4}"),  # an s1K record in LIMO's format
    ],
)
def test_plain_content_is_the_chain_as_limo_writes_it(thinking, attempt, content):
    assert assistant_content(thinking, attempt, PLAIN) == content


def test_limo_sft_text_is_system_prompt_question_and_plain_chain(smollm_tokenizer, tmp_path):
    [rec] = load_source(SourceSpec(str(_jsonl(tmp_path, ROWS[:1])), importer="limo"))
    text = record_sft_text(smollm_tokenizer, rec, delimiters=PLAIN, system=LIMO_SYSTEM_PROMPT)
    assert text.text == (
        f"<|im_start|>system\n{LIMO_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n"
        f"<|im_start|>assistant\n{CHAIN}<|im_end|>\n"
    )
    assert text.completion == CHAIN + "<|im_end|>\n"
    assert "<|im_start|>think" not in text.text


def test_limo_records_in_the_s1_format_can_be_budget_forced(smollm_tokenizer, tmp_path):
    [rec] = load_source(SourceSpec(str(_jsonl(tmp_path, ROWS[:1])), importer="limo"))
    text = record_sft_text(smollm_tokenizer, rec, delimiters="s1", system=LIMO_SYSTEM_PROMPT)
    assert text.completion == f"<|im_start|>think\n{CHAIN}\n<|im_start|>answer\nAnswer: \\boxed{{7}}<|im_end|>\n"


def test_plain_has_no_delimiters_to_force():
    with pytest.raises(ValueError, match="plain.*no end of thinking"):
        get_delimiters(PLAIN)


def test_limo_system_prompt_is_the_readmes():
    assert LIMO_SYSTEM_PROMPT == "Please reason step by step, and put your final answer within \\boxed{}."
