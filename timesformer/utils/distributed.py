"""Small helpers over torch.distributed that are no-ops in a single process."""
import os
import socket
from typing import Any, List, Optional

import torch
import torch.distributed as dist


def is_dist() -> bool:
    """True when a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of processes in the job (1 without a process group)."""
    return dist.get_world_size() if is_dist() else 1


def processes_per_machine(cfg) -> int:
    """Processes the config starts on each machine: NUM_GPUS, one on a CPU-only run (NUM_GPUS 0)."""
    return max(1, cfg.NUM_GPUS)


def config_world_size(cfg) -> int:
    """Processes the config's batch sizes are split over: processes per machine x NUM_SHARDS."""
    return processes_per_machine(cfg) * cfg.NUM_SHARDS


def get_rank() -> int:
    """Global rank of this process (0 without a process group)."""
    return dist.get_rank() if is_dist() else 0


def get_local_rank() -> int:
    """Rank of this process on its machine (LOCAL_RANK as torchrun sets it)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    """True on global rank 0: the only process that writes files."""
    return get_rank() == 0


def synchronize() -> None:
    """Barrier over all processes (no-op in a single process)."""
    if is_dist() and get_world_size() > 1:
        dist.barrier()


def all_gather_object(obj: Any) -> List[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in a single process)."""
    if get_world_size() == 1:
        return [obj]
    out: List[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_object(obj: Any, dst: int = 0) -> Optional[List[Any]]:
    """Every rank's ``obj`` in rank order on rank ``dst``, None on the others: only ``dst`` holds
    them all (``[obj]`` in a single process)."""
    if get_world_size() == 1:
        return [obj]
    out: Optional[List[Any]] = [None] * get_world_size() if get_rank() == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over all ranks (a copy; ``t`` itself is left alone)."""
    t = t.clone()
    if get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def find_free_port() -> int:
    """A TCP port that is free on this machine right now (for a single-machine rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_launched() -> bool:
    """True when torchrun (or SLURM via submitit) set the env:// rendezvous variables."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))
