"""The sweep runner on the tiny model: settings, validation before generation, records, resume after a crash."""

from __future__ import annotations

import json

import pytest

from s1lib.backends.hf import HFEngine
from s1lib.eval.sweep import SweepConfig, build_settings, run_sweep


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return HFEngine(*tiny_model)


def _config(shared_data, tmp_path, **changes):
    values = dict(benchmark="aime24", data=str(shared_data), caps=[4, 8], waits=[1], wait_cap=12, limit=2,
                  max_answer_tokens=3, batch_size=2, output_dir=str(tmp_path / "run"))  # fmt: skip
    values.update(changes)
    return SweepConfig(**values)


def test_config_errors_before_any_generation(shared_data, tmp_path):
    with pytest.raises(ValueError, match="grid is empty"):
        _config(shared_data, tmp_path, caps=[], waits=[])
    with pytest.raises(ValueError, match="unknown benchmark 'aime26'"):
        _config(shared_data, tmp_path, benchmark="aime26")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _config(shared_data, tmp_path, data=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="baselines: unknown"):
        _config(shared_data, tmp_path, baselines=["best_of_n"])
    with pytest.raises(ValueError, match="temperature"):
        _config(shared_data, tmp_path, samples=4)
    with pytest.raises(ValueError, match="appear twice"):
        build_settings(_config(shared_data, tmp_path, caps=[4, 4]))
    with pytest.raises(ValueError, match="unknown field"):
        SweepConfig.from_dict({"capz": [1]})


def test_budget_beyond_context_fails_before_generation(shared_data, tmp_path, tiny_engine):
    config = _config(shared_data, tmp_path, caps=[4, 5000])

    class NoGenerate:
        def __getattr__(self, name):
            if name == "generate":
                raise AssertionError("generated before validating")
            return getattr(tiny_engine, name)

    with pytest.raises(ValueError, match=r"cap=5000.*context"):
        run_sweep(config, engine=NoGenerate(), progress=False)
    assert not (tmp_path / "run" / "results.json").exists()


def test_settings_of_a_grid(shared_data, tmp_path):
    config = _config(shared_data, tmp_path, fill_budget=True, waits=[1, 2], ignore_strings=["Wait", None],
                     baselines=["token_conditional", "class_conditional", "rejection", "majority"],
                     token_budgets=[16], rejection_budgets=[8], majority_k=4)  # fmt: skip
    settings = {s.label: s for s in build_settings(config)}
    assert settings["cap=8"].policy.min_thinking_tokens == 8 and settings["cap=8"].budget == (0, 8)
    assert settings["wait×2 ignore=none"].policy.ignore_strings is None
    assert settings["token-cond 16"].suffix == "\n\nThink for up to 16 tokens."
    assert settings["rejection 8"].sampling.temperature == 1.0 and settings["majority@4"].samples == 4
    assert {s.method for s in settings.values()} >= {"budget forcing", "extrapolation (Wait)", "class-conditional"}


def test_run_records_and_resume(shared_data, tmp_path, tiny_engine):
    config = _config(shared_data, tmp_path, baselines=["token_conditional", "rejection", "majority"],
                     token_budgets=[6], rejection_budgets=[3], rejection_max_tries=2, majority_k=2)  # fmt: skip
    run = run_sweep(config, engine=tiny_engine, progress=False)
    samples = tmp_path / "run" / "samples.jsonl"
    lines = samples.read_text().splitlines()
    # caps 4, 8 + wait×1 + token-cond + rejection: 2 problems each; majority: 2 problems × 2 samples.
    assert len(lines) == 5 * 2 + 4
    rows = [json.loads(line) for line in lines]
    for row in rows:
        assert row["status"] in ("correct", "wrong", "unparsed", "timeout")
        assert {"prompt_hash", "completion", "gold", "thinking_tokens", "forced", "finish_reason"} <= set(row)
    caps = [r for r in rows if r["setting"] == "cap=4"]
    assert all(r["thinking_tokens"] == 4 or r["thinking_end_reason"] == "natural" for r in caps)
    assert all("tries" in r and "fit" in r for r in rows if r["setting"] == "rejection 3")
    majority_seeds = [r["seed"] for r in rows if r["setting"] == "majority@2"]
    assert len(set(majority_seeds)) == 4
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [s["setting"] for s in results["settings"]][:3] == ["cap=4", "cap=8", "wait×1"]
    assert {m["method"] for m in results["methods"]} >= {"budget forcing", "rejection sampling", "majority voting"}
    assert run.stats["envelope_tokens"] > 0  # greedy settings shared their prefix

    # Crash simulation: lose the last 3 lines and tear the one before; resume recomputes only those.
    kept, torn = lines[:-4], lines[-4]
    samples.write_text("\n".join(kept) + "\n" + torn[: len(torn) // 2])
    again = run_sweep(config, engine=tiny_engine, progress=False)
    assert again.torn_lines == 1
    rows_again = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rows_again) == len(rows)
    assert [r["completion"] for r in rows_again[: len(kept)]] == [r["completion"] for r in rows[: len(kept)]]
    key = lambda r: (r["setting"], r["problem_id"], r["sample"])  # noqa: E731
    assert sorted(map(key, rows_again)) == sorted(map(key, rows))
    assert {key(r): r["completion"] for r in rows_again} == {key(r): r["completion"] for r in rows}
    assert again.stats["envelope_tokens"] == 0  # the greedy settings were all finished: nothing regenerated

    with pytest.raises(ValueError, match="different configuration"):
        run_sweep(_config(shared_data, tmp_path, max_answer_tokens=5), engine=tiny_engine, progress=False)


def test_unparsable_answers_are_recorded_not_raised(shared_data, tmp_path, tiny_engine, monkeypatch):
    import s1lib.eval.records as records_module

    def broken_grade(*args, **kwargs):
        raise RuntimeError("grader bug")

    monkeypatch.setattr(records_module, "grade", broken_grade)
    run = run_sweep(_config(shared_data, tmp_path, caps=[3], waits=[], limit=1), engine=tiny_engine, progress=False)
    (setting,) = run.results["settings"]
    assert setting["status"] == {"unparsed": 1}
    row = json.loads((tmp_path / "run" / "samples.jsonl").read_text())
    assert row["error"] == "RuntimeError: grader bug"


def test_a_model_trained_again_into_its_folder_is_not_resumed(shared_data, tmp_path, tiny_engine, tiny_model_dir):
    """Same folder, other weights (a retrained demo model): its stored samples are another model's, so resuming is
    refused by name; the same weights resume."""
    import os
    import shutil

    from s1lib.models import model_fingerprint

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = _config(shared_data, tmp_path, caps=[4], waits=[], model=str(folder))
    run_sweep(config, engine=tiny_engine, progress=False)
    assert run_sweep(config, engine=tiny_engine, progress=False).stats["envelope_tokens"] == 0  # resumed: all done
    before = model_fingerprint(str(folder))
    weights = next(folder.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # written again
    assert model_fingerprint(str(folder)) != before
    with pytest.raises(ValueError, match="model_fingerprint"):
        run_sweep(config, engine=tiny_engine, progress=False)
    assert model_fingerprint("default") is None and model_fingerprint("owner/name") is None


def test_results_record_versions_and_a_resume_under_other_versions_says_so(
    shared_data, tmp_path, tiny_engine, monkeypatch, capsys
):
    from s1lib.eval import sweep as sweep_module
    from s1lib.versions import software_versions

    config = _config(shared_data, tmp_path, caps=[3], waits=[], limit=1)
    results = run_sweep(config, engine=tiny_engine, progress=False).results
    first = results["run"]
    efficiency = results["settings"][0]["efficiency"]  # measured from the samples' text
    assert {"cut_by_cap_rate", "never_closed_rate", "first_correct_in_thinking_rate"} <= set(efficiency)
    assert efficiency["cut_by_cap_rate"] + efficiency["never_closed_rate"] <= 1.0
    assert first["versions"] == software_versions(config.backend) and "versions_seen" not in first
    assert first["versions"]["torch"] and first["versions"]["transformers"] and "vllm" not in first["versions"]
    assert "model_fingerprint" in first
    upgraded = {**first["versions"], "torch": "9.9.9"}
    monkeypatch.setattr(sweep_module, "software_versions", lambda backend=None: upgraded)
    again = run_sweep(config, engine=tiny_engine, progress=False).results["run"]
    said = capsys.readouterr().out
    assert "other versions" in said and f"torch {first['versions']['torch']} -> 9.9.9" in said
    assert again["versions"] == upgraded and again["versions_seen"] == [first["versions"], upgraded]
    assert run_sweep(config, engine=tiny_engine, progress=False).results["run"]["versions_seen"][-1] == upgraded
