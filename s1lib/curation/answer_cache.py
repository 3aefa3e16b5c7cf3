"""The answer cache: what a model said about a question, kept in an append-only jsonl so a crashed run resumes.

Three kinds of answer cost a model or API call and share one file per run (``<output_dir>/attempts.jsonl``):
difficulty attempts (keyed by attempt model and question), LLM domain labels (by labeller and question) and judge
verdicts (by grader signature and question, solution and attempt). Each line is ``{"key", "model", ...}``; the
rest of the fields belong to whoever wrote it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_key(model: str, question: str) -> str:
    """The key of one model's (or labeller's, or judge's) answer to one question."""
    return hashlib.sha1(f"{model}\0{question}".encode()).hexdigest()


class AnswerCache:
    """Answers keyed by ``cache_key(model, question)``; ``path`` None keeps them in memory only.

    Reloaded on start (a line cut by a crash is skipped and its answer recomputed); :meth:`put_many` appends and
    fsyncs, so what was written survives the next crash. A later line for a key replaces an earlier one.
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict] = {}
        if self.path and self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        try:
                            item = json.loads(line)
                        except json.JSONDecodeError:
                            continue  # a line cut by a crash; it is recomputed
                        self.entries[item["key"]] = item

    def get(self, model: str, question: str) -> dict | None:
        return self.entries.get(cache_key(model, question))

    def put_many(self, items: list[dict]) -> None:
        for item in items:
            self.entries[item["key"]] = item
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                for item in items:
                    fh.write(json.dumps(item, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
