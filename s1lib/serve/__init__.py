"""Serving budget forcing: ``s1 serve`` (vLLM's OpenAI server with the forcing processor) and the lm-eval task."""
