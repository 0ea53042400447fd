"""Start one process per device: spawned locally, or as torchrun / SLURM (env://) started them.

- torchrun / submitit set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK): used as they are,
  for one machine or many; WORLD_SIZE must be ``NUM_GPUS * NUM_SHARDS`` (NUM_GPUS 0 counts as 1).
- otherwise ``NUM_GPUS * NUM_SHARDS`` processes: NUM_GPUS of them spawned here; with NUM_SHARDS > 1
  each machine runs the same command with its SHARD_ID and MASTER_ADDR / MASTER_PORT set.
- without CUDA (or NUM_GPUS 0) everything runs on the CPU with gloo; NUM_GPUS N > 1 on such a machine
  starts N CPU processes.

Errors whose message already says what to fix (``USER_ERRORS``) leave a spawned process as
``error: ...`` on its stderr and exit status 1, and the launch as :class:`JobFailed`. The tools print
them with :func:`error_line`: one line, no traceback.
"""
import logging
import os
from datetime import timedelta
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from timesformer.errors import USER_ERRORS, ConfigError, JobFailed, error_line
from timesformer.utils import distributed as du

logger = logging.getLogger(__name__)

def use_cuda(cfg) -> bool:
    """True when the run uses GPUs (NUM_GPUS > 0 and CUDA is available)."""
    return cfg.NUM_GPUS > 0 and torch.cuda.is_available()


def check_env_world(cfg, world: int) -> None:
    """torchrun / SLURM started ``world`` processes: the number the config's batch sizes assume."""
    expected = du.config_world_size(cfg)
    if world != expected:
        raise ConfigError(
            f"the launcher started WORLD_SIZE = {world} processes (LOCAL_WORLD_SIZE = "
            f"{os.environ.get('LOCAL_WORLD_SIZE', 'unset')}), but NUM_GPUS x NUM_SHARDS = "
            f"{du.processes_per_machine(cfg)} x {cfg.NUM_SHARDS} = {expected} (NUM_GPUS is the processes per "
            "machine, also on the CPU; 0 counts as 1); set NUM_GPUS to torchrun's --nproc_per_node and "
            "NUM_SHARDS to its --nnodes")


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
            "LOCAL_WORLD_SIZE", du.processes_per_machine(cfg))))))
    if world > 1:
        backend = cfg.DIST_BACKEND if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=init_method, world_size=world, rank=rank,
                                timeout=timedelta(minutes=30))
    return device


def _run(fn: Callable, cfg, device: torch.device) -> None:
    try:
        fn(cfg, device)
    finally:
        if du.is_dist():
            dist.destroy_process_group()


def _worker(local_rank: int, fn: Callable, cfg, world: int, init_method: str) -> None:
    os.environ["LOCAL_RANK"] = str(local_rank)
    rank = cfg.SHARD_ID * du.processes_per_machine(cfg) + local_rank
    _run(fn, cfg, _init(cfg, rank, world, local_rank, init_method))


def _spawned(local_rank: int, fn: Callable, cfg, world: int, init_method: str) -> None:
    """A process of ``mp.start_processes``: an explained error ends it as one line, exit status 1."""
    try:
        _worker(local_rank, fn, cfg, world, init_method)
    except USER_ERRORS as e:
        raise SystemExit(error_line(e)) from e  # multiprocessing prints the message


def launch(fn: Callable, cfg) -> None:
    """Run ``fn(cfg, device)`` in every process of the job; returns when all have finished."""
    if du.env_launched():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        check_env_world(cfg, world)
        local_rank = du.get_local_rank()
        os.environ.setdefault("LOCAL_RANK", str(local_rank))
        _run(fn, cfg, _init(cfg, rank, world, local_rank, "env://"))
        return
    nprocs = du.processes_per_machine(cfg)
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
        return
    logger.info("starting %d processes on %s", nprocs, "GPUs" if use_cuda(cfg) else "the CPU (gloo)")
    try:
        mp.start_processes(_spawned, args=(fn, cfg, world, init_method), nprocs=nprocs, join=True,
                           start_method="spawn")
    except mp.ProcessExitedException as e:  # not a Python exception: those carry their traceback
        signal = f" ({e.signal_name})" if e.signal_name else ""
        raise JobFailed(f"process {e.error_index} of {nprocs} stopped with exit status "
                        f"{e.exit_code}{signal}; its output above says why") from e
