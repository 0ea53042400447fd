"""How the effective batch TRAIN.BATCH_SIZE runs on any number of processes: ``train_batch`` (the plan
of one optimizer step), ``StepBatches`` (a process's batches when the shares are uneven) and
``iterations_per_epoch``.

E = TRAIN.BATCH_SIZE clips make one optimizer step over P processes. Process r's share of a step is
s_r = E // P + (r < E % P) clips (with MIXUP.ENABLE E / 2 pairs are shared out: timm's Mixup needs an
even batch). Every process runs the same A = ceil(max s_r / cap) iterations per step (DDP needs the
same count; cap = TRAIN.MAX_BATCH_PER_PROCESS, 0 = none), its share in A near-equal micro-batches,
the larger first. The mean loss of a micro-batch of n clips is backpropagated with weight n * P / E
(DDP averages the gradients over P), so every step's gradient is the mean over its E clips.

*Uniform* batches, equal shares in equal micro-batches (64 over 1, 2, 4, 8, ... processes), load as
earlier versions did (DistributedSampler, ``build_loader``): same clips, same order, same numbers.
Others load through ``StepBatches``: an epoch's permutation cut into steps of E clips, process r
reading its contiguous slice of each step; the clips after the epoch's last whole step are left out.
"""
import math
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import torch
from fvcore.common.config import CfgNode
from torch.utils.data import Sampler

from timesformer.config import ConfigError, require


@dataclass(frozen=True)
class TrainBatch:
    """The effective batch (TRAIN.BATCH_SIZE) of one optimizer step over ``processes``, each running
    ``accumulation`` iterations per step; ``pairs``: shares and micro-batches in pairs (MIXUP.ENABLE)."""

    effective: int
    processes: int
    accumulation: int
    pairs: bool = False

    @property
    def _unit(self) -> int:
        return 2 if self.pairs else 1

    def share(self, rank: int) -> int:
        """Clips of process ``rank`` per optimizer step."""
        units, rest = divmod(self.effective // self._unit, self.processes)
        return self._unit * (units + (rank < rest))

    def offset(self, rank: int) -> int:
        """Where the slice of process ``rank`` starts in a step's clips (the shares of the ranks before it)."""
        units, rest = divmod(self.effective // self._unit, self.processes)
        return self._unit * (rank * units + min(rank, rest))

    def micro_batches(self, rank: int) -> Tuple[int, ...]:
        """Clips of process ``rank`` in each iteration of a step (0: it runs a clip weighted 0,
        ``StepBatches``; only where its share has fewer clips, or pairs, than iterations)."""
        units, rest = divmod(self.share(rank) // self._unit, self.accumulation)
        return tuple(self._unit * (units + (a < rest)) for a in range(self.accumulation))

    def iteration_clips(self, iteration: int) -> int:
        """Clips of iteration ``iteration`` (0 .. accumulation - 1) of a step over all processes."""
        return sum(self.micro_batches(r)[iteration] for r in range(self.processes))

    @property
    def uniform(self) -> bool:
        """Every process runs the same number of clips in every iteration."""
        return self.effective % (self._unit * self.processes * self.accumulation) == 0

    @property
    def per_process(self) -> int:
        """The most clips one process runs at once."""
        return self.micro_batches(0)[0]

    @property
    def per_iteration(self) -> float:
        """Clips of one iteration over all processes, on average over a step."""
        return self.effective / self.accumulation


def split_train_batch(effective: int, processes: int, cap: int, even: bool = False) -> Optional[TrainBatch]:
    """``effective`` clips per step over ``processes``, at most ``cap`` (0: no limit) per process and
    iteration, in pairs when ``even``; None when a process would get no clip (or pair), or ``even``
    with an odd ``effective`` or a ``cap`` of 1."""
    unit = 2 if even else 1
    units = effective // unit
    if effective % unit or units < processes or processes < 1:
        return None
    most = -(-units // processes)  # the largest share, in units
    limit = cap // unit if cap > 0 else most
    if limit < 1:
        return None
    return TrainBatch(effective, processes, math.ceil(most / limit), even)


def batch_keys_valid(cfg: CfgNode) -> bool:
    """TRAIN.BATCH_SIZE > 0 and TRAIN.MAX_BATCH_PER_PROCESS >= 0 (each a problem when not)."""
    t = cfg.TRAIN
    ok = require(t.BATCH_SIZE > 0, "TRAIN.BATCH_SIZE", t.BATCH_SIZE, "a positive integer: the effective batch")
    return require(t.MAX_BATCH_PER_PROCESS >= 0, "TRAIN.MAX_BATCH_PER_PROCESS", t.MAX_BATCH_PER_PROCESS,
                   "0 (no limit) or the most clips one process holds at once") and ok


def train_batch(cfg: CfgNode, processes: int) -> TrainBatch:
    """How TRAIN.BATCH_SIZE runs on ``processes`` processes (see the module docstring and
    config/defaults.py); a ConfigError naming the keys to change when it cannot run there."""
    t, mixup = cfg.TRAIN, cfg.MIXUP.ENABLE
    batch_keys_valid(cfg)
    batch = split_train_batch(t.BATCH_SIZE, processes, t.MAX_BATCH_PER_PROCESS, mixup)
    if batch is not None:
        return batch
    if mixup and t.BATCH_SIZE % 2:
        raise ConfigError(f"config key TRAIN.BATCH_SIZE = {t.BATCH_SIZE} is invalid: expected an even number with "
                          "MIXUP.ENABLE (timm's Mixup pairs the clips: an even number of clips per process)")
    least = processes * (2 if mixup else 1)
    if least > t.BATCH_SIZE:
        clips = "2 clips (a pair for MIXUP.ENABLE)" if mixup else "a clip"
        raise ConfigError(f"config key TRAIN.BATCH_SIZE = {t.BATCH_SIZE} is invalid: expected at least {least}: "
                          f"each of the {processes} processes (NUM_GPUS x NUM_SHARDS) needs {clips} per optimizer "
                          "step; lower NUM_GPUS or NUM_SHARDS, or raise TRAIN.BATCH_SIZE (another recipe: scale "
                          "SOLVER.BASE_LR with it)")
    raise ConfigError(f"config key TRAIN.MAX_BATCH_PER_PROCESS = {t.MAX_BATCH_PER_PROCESS} is invalid: expected at "
                      "least 2 with MIXUP.ENABLE (timm's Mixup pairs the clips of a batch), or 0 (no limit)")


class StepBatches(Sampler):
    """The batches of process ``rank`` over an epoch of ``size`` items with uneven shares (see the
    module docstring): the order is a permutation from ``generator`` (TrainSampler seeds it per
    epoch, as RandomSampler's), cut into ``size // effective`` steps. An iteration in which the
    process has no clip (``TrainBatch.micro_batches``) reads the last clip (pair) of its slice again,
    for the trainer to weight 0: DDP needs every process in every iteration."""

    def __init__(self, size: int, batch: TrainBatch, rank: int):
        self.size, self.batch, self.rank = size, batch, rank
        self.generator = torch.Generator()

    def __iter__(self) -> Iterator[List[int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        sizes, filler = self.batch.micro_batches(self.rank), 2 if self.batch.pairs else 1
        for step in range(self.size // self.batch.effective):
            start = step * self.batch.effective + self.batch.offset(self.rank)
            for n in sizes:  # the empty ones come last: the slice lies before ``start``
                yield order[start:start + n] if n else order[start - filler:start]
                start += n

    def __len__(self) -> int:
        return self.size // self.batch.effective * self.batch.accumulation


def iterations_per_epoch(videos: int, batch: TrainBatch) -> int:
    """Iterations of a training epoch over ``videos`` (what ``len(build_loader(cfg, 'train'))`` is).
    Uniform: each process gets ``videos // processes`` of them (DistributedSampler, drop_last), in
    batches of ``per_process``, the last partial batch dropped unless the epoch has fewer videos
    than a batch (an epoch's last accumulation group may be shorter). Uneven: whole steps only."""
    if not batch.uniform:
        return videos // batch.effective * batch.accumulation
    per_process = batch.per_process
    mine = videos // batch.processes
    return mine // per_process if videos >= per_process else -(-mine // per_process)
