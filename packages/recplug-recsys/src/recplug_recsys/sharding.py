"""Sharding the two-tower model with a torchrec planner plan and ``DistributedModelParallel``.

Every embedding table gets the one configured sharding type (``data_parallel``, ``table_wise``,
``column_wise`` on CPU with gloo; also ``row_wise`` on CUDA with nccl). Embedding tables are trained by
torchrec's fused optimizer inside backward (sharded tables have no ``.grad``); dense parameters (MLPs) by
a plain optimizer, combined in a ``CombinedOptimizer``.

The sharded model starts from the weights of the unsharded one (:func:`copy_into_sharded`), so the same
seed gives the same initial model on any number of ranks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import torch
from recplug.errors import ConfigError
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from recplug_recsys.model import TwoTowerModel

CPU_SHARDING_TYPES = ("data_parallel", "table_wise", "column_wise")
CUDA_ONLY_SHARDING_TYPES = ("row_wise",)
TABLE_OPTIMIZERS = {"adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def init_distributed() -> tuple[int, int, torch.device]:
    """Join (or start) the default process group: gloo on CPU, nccl on CUDA.

    Without ``torchrun`` variables it starts a single-process group on a local TCP port.
    Returns ``(rank, world_size, device)``.
    """
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun
            dist.init_process_group(backend=backend)
        else:  # one local process; leaves os.environ alone
            dist.init_process_group(backend=backend, init_method=f"tcp://127.0.0.1:{_free_port()}",
                                    rank=0, world_size=1)
    rank, world = dist.get_rank(), dist.get_world_size()
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sharding_plan(model: nn.Module, sharding_type: str, world_size: int, device: torch.device) -> Any:
    """A torchrec ``ShardingPlan`` putting every table of ``model`` under ``sharding_type``."""
    import torch.distributed as dist
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints, Topology
    from torchrec.distributed.types import ShardingType

    allowed = CPU_SHARDING_TYPES + (CUDA_ONLY_SHARDING_TYPES if device.type == "cuda" else ())
    if sharding_type not in allowed:
        raise ConfigError(
            f"sharding type {sharding_type!r} is not supported on {device.type}; choose one of {', '.join(allowed)}"
        )
    value = ShardingType(sharding_type).value
    tower = cast("TwoTowerModel", model)  # the model is a TwoTowerModel
    tables = [t.name for t in (*tower.user_tables, *tower.item_tables)]
    constraints = {name: ParameterConstraints(sharding_types=[value]) for name in tables}
    topology = Topology(world_size=world_size, compute_device=device.type)
    planner = EmbeddingShardingPlanner(topology=topology, constraints=constraints)
    sharders = [EmbeddingBagCollectionSharder()]
    if dist.is_initialized():
        return planner.collective_plan(model, sharders, dist.GroupMember.WORLD)
    return planner.plan(model, sharders)


def copy_into_sharded(sharded_state: Mapping[str, Any], full_state: Mapping[str, torch.Tensor]) -> None:
    """Copy full (unsharded) tensors into the matching local shards of a sharded model's state dict."""
    from torch.distributed._shard.sharded_tensor import ShardedTensor

    for name, tensor in sharded_state.items():
        if name not in full_state:
            continue
        source = full_state[name]
        with torch.no_grad():
            if isinstance(tensor, ShardedTensor):
                for shard in tensor.local_shards():
                    offsets = shard.metadata.shard_offsets
                    sizes = shard.metadata.shard_sizes
                    index = tuple(slice(o, o + s) for o, s in zip(offsets, sizes, strict=True))
                    shard.tensor.copy_(source[index])
            elif hasattr(tensor, "to_local"):  # DTensor
                raise ConfigError(f"{name}: DTensor state is not supported by this trainer")
            else:
                tensor.copy_(source)


def shard_model(
    model: nn.Module, sharding_type: str, lr: float, table_optimizer: str = "adagrad", table_lr: float = 0.05,
    weight_decay: float = 0.0,
) -> tuple[nn.Module, Any]:
    """Wrap ``model`` (a :class:`recplug_recsys.model.TwoTowerModel`) in ``DistributedModelParallel``.

    Returns ``(dmp, optimizer)``: tables use ``table_optimizer`` (fused, applied in backward; fbgemm on CPU
    supports only ``adagrad`` and ``sgd``, CUDA also ``adam``), dense parameters Adam with ``lr``.
    ``dmp.module`` is the model with sharded ``user_ebc`` / ``item_ebc``.
    """
    import torch.distributed as dist
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
    from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper
    from torchrec.optim.optimizers import in_backward_optimizer_filter

    if not dist.is_initialized():
        raise ConfigError("sharding needs torch.distributed: call init_distributed() or run under torchrun")
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    full_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tower = cast("TwoTowerModel", model)  # the model is a TwoTowerModel (see above)
    table_params = [*tower.user_ebc.parameters(), *tower.item_ebc.parameters()]
    if table_optimizer == "adam" and not torch.cuda.is_available():
        raise ConfigError("table_optimizer 'adam' is not supported by fbgemm on CPU; use 'adagrad' or 'sgd'")
    apply_optimizer_in_backward(TABLE_OPTIMIZERS[table_optimizer], table_params, {"lr": table_lr})
    plan = sharding_plan(model, sharding_type, dist.get_world_size(), device)
    dmp = DistributedModelParallel(
        module=model, device=device, plan=plan, sharders=[EmbeddingBagCollectionSharder()]
    )
    copy_into_sharded(dmp.state_dict(), {f"{k}": v for k, v in full_state.items()})
    rest = dict(in_backward_optimizer_filter(dmp.named_parameters(), include=False))
    # data_parallel tables are plain replicated parameters: give them the table optimizer too
    tables = {k: v for k, v in rest.items() if k.startswith(("user_ebc.", "item_ebc."))}
    dense = {k: v for k, v in rest.items() if k not in tables}
    optimizers: list[Any] = [dmp.fused_optimizer]
    if tables:
        optimizers.append(KeyedOptimizerWrapper(
            tables, lambda params: TABLE_OPTIMIZERS[table_optimizer](params, lr=table_lr)))
    optimizers.append(KeyedOptimizerWrapper(
        dense, lambda params: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)))
    return dmp, CombinedOptimizer(optimizers)


def unwrap(model: nn.Module) -> TwoTowerModel:
    """The :class:`TwoTowerModel` inside a ``DistributedModelParallel`` (or ``model`` itself)."""
    return cast("TwoTowerModel", getattr(model, "module", model))
