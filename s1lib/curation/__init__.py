"""Curation: from a question pool to an s1K-style set, with every row accounted for in a funnel.

Stages: load (``schema``) → decontaminate + dedup (``decontam``) → annotate trace grades, lengths, domains
(``grader``, ``tokencount``, ``domains``) → missing features + formatting (``quality``) → difficulty attempts
(``difficulty``) → pre-select + diversity/length sampling (``select``); ``funnel`` checks the counts and writes the
outputs; ``answer_cache`` keeps every model answer (attempts, labels, verdicts) so a run resumes; ``toy`` makes a
CPU-sized pool; ``config`` holds the settings (``CurationConfig``, ``load_config``) and ``pipeline`` ties it together
(``run_curation``).
"""

from s1lib.curation.config import CurationConfig, load_config
from s1lib.curation.pipeline import CurationResult, run_curation
from s1lib.curation.schema import SchemaError, SourceSpec, load_source

__all__ = [
    "CurationConfig",
    "CurationResult",
    "SchemaError",
    "SourceSpec",
    "load_config",
    "load_source",
    "run_curation",
]
