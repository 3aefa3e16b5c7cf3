"""Full SFT with the s1 recipe: config (paper defaults and presets), data encoding, TRL training (its bench:
``s1lib.benches.train``).

Heavy imports (torch, transformers, trl) happen inside the functions, so ``import s1lib.train`` is cheap.
"""

from s1lib.train.config import PRESETS, TrainConfig
from s1lib.train.data import DataError, LengthReport, build_examples, encode_example, load_records


def run_training(*args, **kwargs):
    """See :func:`s1lib.train.trainer.run_training`."""
    from s1lib.train.trainer import run_training as _run

    return _run(*args, **kwargs)


__all__ = [
    "PRESETS",
    "DataError",
    "LengthReport",
    "TrainConfig",
    "build_examples",
    "encode_example",
    "load_records",
    "run_training",
]
