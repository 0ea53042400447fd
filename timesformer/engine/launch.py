"""Start one process per device: spawned locally, or as torchrun / SLURM (env://) started them.

- torchrun / submitit set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK): used as they are,
  for one machine or many.
- otherwise ``NUM_GPUS * NUM_SHARDS`` processes: NUM_GPUS of them spawned here; with NUM_SHARDS > 1
  each machine runs the same command with its SHARD_ID and MASTER_ADDR / MASTER_PORT set.
- without CUDA (or NUM_GPUS 0) everything runs on the CPU with gloo; NUM_GPUS N > 1 on such a machine
  starts N CPU processes.
"""
import logging
import os
from datetime import timedelta
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from timesformer.utils import distributed as du

logger = logging.getLogger(__name__)


def use_cuda(cfg) -> bool:
    """True when the run uses GPUs (NUM_GPUS > 0 and CUDA is available)."""
    return cfg.NUM_GPUS > 0 and torch.cuda.is_available()


def procs_per_machine(cfg) -> int:
    """Processes this machine runs when not started by torchrun."""
    return max(1, cfg.NUM_GPUS)


def device_for(cfg, local_rank: int) -> torch.device:
    """``cuda:<local_rank>`` on GPUs, else the CPU."""
    return torch.device("cuda", local_rank) if use_cuda(cfg) else torch.device("cpu")


def _init(cfg, rank: int, world: int, local_rank: int, init_method: str) -> torch.device:
    device = device_for(cfg, local_rank)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"local rank {local_rank} needs GPU {local_rank}, but only "
                               f"{torch.cuda.device_count()} are visible; lower NUM_GPUS")
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get(
            "LOCAL_WORLD_SIZE", procs_per_machine(cfg))))))
    if world > 1:
        backend = cfg.DIST_BACKEND if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=init_method, world_size=world, rank=rank,
                                timeout=timedelta(minutes=30))
    return device


def _worker(local_rank: int, fn: Callable, cfg, world: int, init_method: str) -> None:
    os.environ["LOCAL_RANK"] = str(local_rank)
    rank = cfg.SHARD_ID * procs_per_machine(cfg) + local_rank
    device = _init(cfg, rank, world, local_rank, init_method)
    try:
        fn(cfg, device)
    finally:
        if du.is_dist():
            dist.destroy_process_group()


def launch(fn: Callable, cfg) -> None:
    """Run ``fn(cfg, device)`` in every process of the job; returns when all have finished."""
    if du.env_launched():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        os.environ.setdefault("LOCAL_RANK", str(local_rank))
        device = _init(cfg, rank, world, local_rank, "env://")
        try:
            fn(cfg, device)
        finally:
            if du.is_dist():
                dist.destroy_process_group()
        return
    nprocs = procs_per_machine(cfg)
    world = nprocs * cfg.NUM_SHARDS
    if cfg.NUM_SHARDS > 1:
        if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
            raise RuntimeError(f"NUM_SHARDS = {cfg.NUM_SHARDS} needs MASTER_ADDR and MASTER_PORT set to "
                               "shard 0's address and a free port on every machine (or use torchrun "
                               "/ tools/submit.py)")
        init_method = f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    else:
        init_method = f"tcp://127.0.0.1:{du.find_free_port()}"
    if nprocs == 1:
        _worker(0, fn, cfg, world, init_method)
    else:
        logger.info("starting %d processes on %s", nprocs, "GPUs" if use_cuda(cfg) else "the CPU (gloo)")
        mp.start_processes(_worker, args=(fn, cfg, world, init_method), nprocs=nprocs, join=True,
                           start_method="spawn")
