"""s1lib: a thin library for s1 (simple test-time scaling): curation, SFT, budget forcing, evaluation."""

__version__ = "0.1.0"
