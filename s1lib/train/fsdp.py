"""FSDP on CPU processes, so the sharded path the paper's 16 GPUs take is tested on 2 cores (gloo).

``accelerate launch --config_file env/accelerate/fsdp-cpu.yaml`` starts the processes and exports the FSDP settings
(``ACCELERATE_USE_FSDP``, ``FSDP_*``), but accelerate 1.16 then ignores them on CPU: ``AcceleratorState`` turns
``ACCELERATE_USE_FSDP`` into ``DistributedType.FSDP`` only for accelerator devices (``accelerate/state.py``, the
``elif self.distributed_type in [DistributedType.MULTI_GPU, ...]`` branch, lines 947-977), so gloo processes stay
``MULTI_CPU`` and the Trainer wraps the model in DDP without a word. :func:`promote_cpu_fsdp` takes that one step
for CPU processes; from there on accelerate's and transformers' own FSDP code runs (``fully_shard`` per decoder layer,
sharded optimizer, DCP checkpoints and their resume, the full-state-dict save): the code a GPU run takes. Nothing
changes where accelerate chose FSDP itself, or where FSDP was not asked for.

FSDP2 only: FSDP1 (``fsdp_version: 1``) trains on CPU but cannot save there. accelerate refuses its
``sync_module_states`` on CPU (``RuntimeError: FSDP parameter initialization with `sync_module_states=True` is not
supported on cpu.``, ``accelerate/utils/dataclasses.py`` line 1878; ``cpu_ram_efficient_loading`` forces it on), and
every full state dict (``Accelerator.get_state_dict``, ``save_fsdp_model``) asks FSDP1 to offload to the CPU, whose
``FlatParamHandle.to_cpu`` (``torch/distributed/fsdp/_flat_param.py`` lines 1750-1751) frees the gathered parameter it
did not copy: the process dies with SIGSEGV in ``_full_post_state_dict_hook`` (``_state_dict_utils.py`` line 332).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FSDP_ENV = "ACCELERATE_USE_FSDP"


def fsdp_requested() -> bool:
    """Whether the launcher asked for FSDP (``accelerate launch`` with a ``distributed_type: FSDP`` config)."""
    return os.environ.get(FSDP_ENV, "false").lower() == "true"


def promote_cpu_fsdp(accelerator: Any) -> bool:
    """Make CPU processes that were asked for FSDP run FSDP, not DDP; True if it did.

    The plugin is built as accelerate builds it on a GPU (``FullyShardedDataParallelPlugin()`` reads the ``FSDP_*``
    variables), with its own checks; the distributed type and device are set as accelerate's FSDP branch sets them."""
    import torch
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = accelerator.state
    if not fsdp_requested() or state.distributed_type != DistributedType.MULTI_CPU:
        return False
    plugin = FullyShardedDataParallelPlugin()
    if state.mixed_precision != "no":
        plugin.set_mixed_precision(state.mixed_precision)
    # Both shared states, as accelerate's own FSDP branch does: every later AcceleratorState() copies PartialState's.
    for shared in (PartialState(), state):
        shared.distributed_type = DistributedType.FSDP
        # accelerate names the CPU "cpu:0" (an index from torch.cpu.device_count()); FSDP compares that with its
        # own "cpu" and refuses: "Inconsistent compute device and `device_id` on rank 0: cpu vs cpu:0"
        # (torch/distributed/fsdp/_init_utils.py, _get_compute_device)
        shared.device = torch.device("cpu")
    state.fsdp_plugin = plugin
    return True


def distributed_record(accelerator: Any) -> dict[str, Any]:
    """How the run was spread (recorded in the summary): a test or a reader sees FSDP really ran, with what."""
    state = accelerator.state
    record: dict[str, Any] = {
        "type": str(state.distributed_type).rsplit(".", 1)[-1],
        "processes": state.num_processes,
        "backend": state.backend,
        "device": str(state.device),
    }
    plugin = getattr(state, "fsdp_plugin", None)
    if record["type"] == "FSDP" and plugin is not None:
        if plugin.fsdp_version == 1:
            sharding = str(plugin.sharding_strategy).rsplit(".", 1)[-1]
        else:  # FSDP2 names FULL_SHARD / SHARD_GRAD_OP by whether parameters are resharded after the forward
            sharding = "FULL_SHARD" if plugin.reshard_after_forward is True else "SHARD_GRAD_OP"
        record["fsdp"] = {
            "version": plugin.fsdp_version,
            "sharding": sharding,
            "state_dict_type": str(plugin.state_dict_type).rsplit(".", 1)[-1],
            "wrap": plugin.transformer_cls_names_to_wrap,
        }
    return record


@contextmanager
def full_state_dict(accelerator: Any) -> Iterator[None]:
    """Inside, an FSDP run saves a full state dict, whatever its checkpoints use.

    ``SHARDED_STATE_DICT`` keeps each checkpoint a set of per-rank shards (no rank gathers the 32B model and its
    optimizer state), but transformers' ``save_model`` then writes no weights at all; the final model must be a
    plain safetensors folder that ``load_model`` and the engines read. Outside FSDP, or already full: nothing."""
    from accelerate.utils import DistributedType

    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    if accelerator.distributed_type != DistributedType.FSDP or plugin is None or "FULL" in str(plugin.state_dict_type):
        yield
        return
    saved = plugin.state_dict_type, plugin.state_dict_config, plugin.optim_state_dict_config
    plugin.state_dict_config = plugin.optim_state_dict_config = None  # set_state_dict_type keeps configs it finds
    plugin.set_state_dict_type("FULL_STATE_DICT")
    try:
        yield
    finally:
        plugin.state_dict_type, plugin.state_dict_config, plugin.optim_state_dict_config = saved
