"""Ground-floor pieces: the data folder, the recorded prompt of a trained model, progress lines, the grid's
output follower, and the KV-copy-free attention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s1lib import paths

REPO = Path(__file__).resolve().parents[1]


def test_data_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    assert paths.data_dir() == tmp_path
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "absent"))
    assert paths.data_dir(required=False) is None
    with pytest.raises(paths.DataDirError, match=r"S1_DATA_DIR=.*absent.*does not exist"):
        paths.data_dir()


@pytest.mark.parametrize(("require", "expected"), [("0", "skipped"), ("1", "errors")])  # a failing fixture: errors
def test_data_tests_skip_outside_ci_and_fail_inside(tmp_path, require, expected):
    """A clone with no data beside it: the data tests skip with the reason; under S1_REQUIRE_DATA=1 (.ci/run) the
    same absence fails, so a skip can never hide in CI."""
    env = {**os.environ, paths.DATA_ENV: str(tmp_path / "no-data"), "S1_REQUIRE_DATA": require}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        "tests/eval/test_eval_benchmarks.py",
        "-k",
        "real",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert f"3 {expected}" in done.stdout, done.stdout[-2000:]
    if expected == "skipped":
        assert done.returncode == 0 and "no benchmark data" in done.stdout
    else:
        assert done.returncode != 0 and "CI must have the benchmark data" in done.stdout


def test_ci_script_requires_the_data(tmp_path):
    script = (REPO / ".ci" / "run").read_text()
    assert "S1_REQUIRE_DATA=1" in script and "make test" in script
    env = {**os.environ, paths.DATA_ENV: str(tmp_path / "no-data")}
    done = subprocess.run(["bash", str(REPO / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "benchmark data folder" in done.stderr


def test_prompt_format_is_recorded_and_read(tmp_path):
    from s1lib.text_format import load_prompt_format, save_prompt_format

    save_prompt_format(tmp_path, "", "s1")
    assert load_prompt_format(tmp_path) == {
        "system": "",
        "think_start": "<|im_start|>think",
        "think_end": "<|im_start|>answer",
    }
    assert load_prompt_format(tmp_path / "elsewhere") == {} and load_prompt_format(None) == {}
    (tmp_path / "s1_prompt.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"s1_prompt\.json: not valid JSON"):
        load_prompt_format(tmp_path)
    (tmp_path / "s1_prompt.json").write_text(json.dumps({"system": 3}))
    with pytest.raises(ValueError, match="'system' is a string or null"):
        load_prompt_format(tmp_path)


def test_engine_prompts_a_model_with_its_recorded_system_line(tiny_model_dir, tmp_path):
    import shutil

    from s1lib.backends.hf import HFEngine
    from s1lib.text_format import save_prompt_format

    folder = tmp_path / "trained"
    shutil.copytree(tiny_model_dir, folder)
    plain = HFEngine.from_name(str(tiny_model_dir), dtype="float32")
    assert "You are a helpful AI assistant" in plain.prompt_for("Add: 1 2")  # the template's default line
    save_prompt_format(folder, "")
    trained = HFEngine.from_name(str(folder), dtype="float32")
    assert trained.default_system == ""
    prompt = trained.prompt_for("Add: 1 2")
    assert prompt.startswith("<|im_start|>system\n<|im_end|>\n") and "helpful AI assistant" not in prompt
    assert "Be brief." in trained.prompt_for("Add: 1 2", system="Be brief.")  # an explicit one still wins
    assert trained.precision["dtype"] == "float32" and trained.precision["requested"] == "float32"


def test_progress_lines():
    import io

    from s1lib.progress import LineProgress, format_seconds, sft_step_line

    assert [format_seconds(s) for s in (0, 75, 3725, None)] == ["0:00", "1:15", "1:02:05", "?"]
    row = {"step": 3, "max_steps": 20, "loss": 1.23456, "tokens_per_s": 141.6, "elapsed": 45.2, "eta_seconds": 250.0}
    assert sft_step_line(row) == "SFT step 3/20 · loss 1.2346 · 142 tokens/s · 0:45 elapsed · ETA 4:10"
    stream = io.StringIO()
    bar = LineProgress(10, "sweep toy", unit="samples", every=3600, stream=stream)
    bar.update(4, "group 1/2")  # the first line prints at once
    bar.update(4, "group 1/2")  # throttled
    bar.update(2, "group 2/2")  # the last always prints
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("sweep toy: 4/10 samples · group 1/2") and "ETA" in lines[0]
    assert lines[1].startswith("sweep toy: 10/10 samples · group 2/2") and "ETA" not in lines[1]


def test_output_follower_emits_whole_lines_as_they_arrive(tmp_path):
    from s1lib.batch.scheduler import OutputFollower

    seen: list[tuple[str, str]] = []
    follower = OutputFollower(lambda run, line: seen.append((run, line)))
    log = tmp_path / OutputFollower.LOG
    follower.poll("sft", tmp_path)  # no log yet: nothing
    log.write_text("SFT step 1/3 · loss 2.0\nSFT step 2")
    follower.poll("sft", tmp_path)
    assert seen == [("sft", "SFT step 1/3 · loss 2.0")]  # the unfinished line waits
    with log.open("a") as handle:
        handle.write("/3 · loss 1.5\r\n\nlast line without newline")
    follower.poll("sft", tmp_path, final=True)
    assert seen[1:] == [("sft", "SFT step 2/3 · loss 1.5"), ("sft", "last line without newline")]


def test_s1_sdpa_matches_sdpa_with_grouped_heads_and_padding(tiny_model_dir):
    """The tiny Llama has 4 query heads over 2 KV heads: the native grouped-query call must give transformers'
    sdpa results on a left-padded batch (masked), in prefill and in cached decoding."""
    import torch
    from transformers import AutoModelForCausalLM

    from s1lib.attention import S1_SDPA, use_s1_sdpa

    stock = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    ours = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    assert use_s1_sdpa(ours) and ours.config._attn_implementation == S1_SDPA and not use_s1_sdpa(ours)
    assert stock.config.num_attention_heads // stock.config.num_key_value_heads == 2
    ids = torch.tensor([[0, 0, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        torch.testing.assert_close(
            ours(input_ids=ids, attention_mask=mask).logits, stock(input_ids=ids, attention_mask=mask).logits
        )
        kwargs = {"attention_mask": mask, "max_new_tokens": 6, "do_sample": False, "pad_token_id": 0}
        assert torch.equal(ours.generate(ids, **kwargs), stock.generate(ids, **kwargs))
