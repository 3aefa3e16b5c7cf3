"""Where a run computes: ``device: auto``, the default of every engine, ``s1 eval``/``s1 sweep``/``s1 generate``
(``--device``), the notebooks and training, is CUDA when torch sees a GPU, else the CPU.

A researcher who brings the workspace to a GPU node should get the GPU without a setting; one who asks for
``cuda`` on a machine without one should hear so before a model loads, not from deep inside torch. So the names
are checked here (:func:`check_device`, when a config is made) and resolved here (:func:`resolve_device`, when a
model is placed), once for every caller, and what a run resolved is what it records beside its precision.
"""

from __future__ import annotations

from typing import Any

from s1lib.machine import default_device
from s1lib.named import Named


class Device(Named):
    """The device names a setting may hold; ``cuda:N`` (one GPU of several) is also accepted where a device is."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


DEVICE_HELP = "auto (CUDA when torch sees a GPU, else the CPU), cpu, cuda or cuda:N"
"""What a device setting accepts, for the help of the configs that hold one."""


def check_device(value: Any, where: str = "device") -> str:
    """``value`` (a :class:`Device`, its name, ``cuda:N`` or a ``torch.device``) as its canonical string; anything
    else is an error naming ``where`` (the field) and the names allowed. Needs no torch and no GPU."""
    text = str(value).strip().lower()
    kind, colon, index = text.partition(":")
    if kind == Device.CUDA and colon and index.isdigit():
        return f"cuda:{int(index)}"
    if text in {device.value for device in Device}:
        return text
    raise ValueError(f"{where} must be {DEVICE_HELP}, got {value!r}")


def resolve_device(value: Any = Device.AUTO, where: str = "device") -> str:
    """The device a model goes to: ``auto`` becomes ``cuda`` where torch sees a GPU, else ``cpu``; an explicit
    ``cuda`` (or ``cuda:N``) where torch sees none (or fewer) is an error that says what torch sees."""
    text = check_device(value, where)
    if text == Device.AUTO:
        return default_device()
    if text.startswith(Device.CUDA):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(text.partition(":")[2] or 0)
        if index >= count:
            seen = f"{count} GPU(s)" if count else "no GPU"
            raise ValueError(
                f"{where}={text!r}, but torch {torch.__version__} (CUDA {torch.version.cuda}) sees {seen}; use "
                f"'auto' or 'cpu', or install the GPU build (make setup GPU=1, docs/gpu.md)"
            )
    return text


def device_kind(device: Any) -> str:
    """``cpu`` or ``cuda`` of a resolved device (``cuda:1`` is ``cuda``): what precision and reports key on."""
    return str(device).partition(":")[0]
