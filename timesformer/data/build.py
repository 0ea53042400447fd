"""Datasets and loaders by config: ``build_dataset``, ``build_loader``, ``build_mixup``, ``test_protocol``;
the training batches of each process (``batching.py``: ``train_batch``, ``StepBatches``) and the
evaluation batch (``eval_batch``)."""
import itertools
import logging
import random
from typing import Iterator, List, Optional, Sequence, Type

import numpy as np
import torch
from fvcore.common.config import CfgNode
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler

from timesformer.config import ConfigError, report, require
from timesformer.config.defaults import CHANNEL_ORDERS
from timesformer.utils import distributed as du

from .batching import StepBatches, batch_keys_valid, train_batch
from .datasets import DATASETS, VideoDataset
from .decoding import BACKENDS, torchcodec_problem
from .protocol import EvalProtocol
from .sampling import shard_range
from .torchcodec_reader import DEVICES

logger = logging.getLogger(__name__)


def dataset_class(cfg: CfgNode, split: str) -> Type[VideoDataset]:
    """The dataset class of ``split``: TRAIN.DATASET for train and val, TEST.DATASET for test."""
    name = cfg.TEST.DATASET if split == "test" else cfg.TRAIN.DATASET
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r}: expected one of {sorted(DATASETS)}")
    return DATASETS[name]


def build_dataset(cfg: CfgNode, split: str) -> VideoDataset:
    """The dataset of ``split`` (``dataset_class``)."""
    return dataset_class(cfg, split)(cfg, split)


def test_protocol(cfg: CfgNode) -> EvalProtocol:
    """The clips and crops TEST.DATASET's test split scores per video (tools/predict.py scores so too)."""
    if cfg.TEST.DATASET not in DATASETS:
        raise ValueError(f"TEST.DATASET {cfg.TEST.DATASET!r}: expected one of {sorted(DATASETS)}")
    return DATASETS[cfg.TEST.DATASET].eval_protocol(cfg, "test")


class ShardSampler(Sampler):
    """Evaluation: this rank's contiguous share of the items, each item on exactly one rank."""

    def __init__(self, total: int, rank: int, world_size: int):
        self.indices = shard_range(total, rank, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EvalBatchSampler(Sampler):
    """Evaluation batches of ``batch`` consecutive items of ``items`` (this rank's ShardSampler),
    handed out so that each loader worker reads one contiguous run of them.

    A DataLoader gives its workers the batches in turn (batch k to worker k mod ``workers``, the
    turn starting anew with each pass); yielding the batches of run w at turns w, w + workers, ...
    makes worker w read run w in order. The crops of a temporal clip are consecutive items, so they
    meet in one worker, which decodes the clip once for all of them (VideoDataset keeps its last
    clip), whatever the batch size. The batches are those of plain order; only the order they
    arrive in differs, and the evaluator keys views by (video, view), not by order.
    """

    def __init__(self, items: Sequence[int], batch: int, workers: int):
        items = list(items)
        self.batches = [items[i:i + batch] for i in range(0, len(items), batch)]
        self.workers = max(1, workers)

    def __iter__(self) -> Iterator[List[int]]:
        size, extra = divmod(len(self.batches), self.workers)  # the first `extra` runs are one longer
        starts = [w * size + min(w, extra) for w in range(self.workers + 1)]
        runs = [self.batches[starts[w]:starts[w + 1]] for w in range(self.workers)]
        for turn in range(size + (extra > 0)):  # every turn but the last is full: worker w gets run w
            yield from (run[turn] for run in runs if turn < len(run))

    def __len__(self) -> int:
        return len(self.batches)


class TrainSampler(Sampler):
    """The training order: ``sampler`` (RandomSampler, or DistributedSampler across ranks, of indices;
    StepBatches, of batches) seeded per epoch by :meth:`set_epoch`, its first pass starting ``skip``
    items in (a run resumed inside an epoch: nothing is read for the batches already done); later
    passes are whole. ``len`` stays the whole epoch's, which the trainer counts iterations against."""

    def __init__(self, sampler: Sampler, seed: int, skip: int = 0):
        self.sampler, self.seed, self.skip = sampler, seed, skip

    def set_epoch(self, epoch: int) -> None:
        """The order of ``epoch``: from (RNG_SEED, epoch) alone, however many epochs came before."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        if getattr(self.sampler, "generator", None) is not None:
            self.sampler.generator.manual_seed(self.seed + epoch)

    def __iter__(self) -> Iterator:
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)

    def __len__(self) -> int:
        return len(self.sampler)


def worker_init(worker_id: int) -> None:
    """Seed python and numpy in a loader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2 ** 32
    random.seed(seed)
    np.random.seed(seed)


def eval_batch(cfg: CfgNode, processes: int) -> int:
    """Clips one process evaluates at a time: its share of TEST.BATCH_SIZE, at least 1 (any split
    works: each process scores its own videos, ``ShardSampler``)."""
    return max(1, cfg.TEST.BATCH_SIZE // processes)


def worker_context(cfg: CfgNode) -> Optional[str]:
    """How loader workers start: "spawn" when they decode on a GPU (CUDA does not survive a fork), else
    the platform's default."""
    return "spawn" if cfg.DATA_LOADER.NUM_WORKERS and cfg.DATA.DECODING_DEVICE != "cpu" else None


def build_loader(cfg: CfgNode, split: str, dataset: Optional[VideoDataset] = None,
                 start_iter: int = 0) -> DataLoader:
    """A DataLoader of dict batches for ``split`` (see the package docstring), distributed-aware.

    Train: shuffled (:class:`TrainSampler`; call ``shuffle_dataset(loader, epoch, seed)`` each epoch),
    drop_last, its first pass starting at batch ``start_iter`` of the epoch (a resumed run's
    position); uneven shares of the batch (``batching.py``) in this process's micro-batches.
    Val/test: every (video, view) item exactly once over all ranks, in batches
    of consecutive items, each worker reading one run of them (``EvalBatchSampler``). With
    DATA.DECODING_DEVICE cuda the workers start with "spawn": CUDA does not survive a fork.
    The data keys are checked first (``check_data_config``).
    """
    check_data_config(cfg)
    dataset = dataset or build_dataset(cfg, split)
    rank, world = du.get_rank(), du.get_world_size()
    train = split == "train"
    plan = train_batch(cfg, world) if train else None
    batch = plan.per_process if plan else eval_batch(cfg, world)
    seed, workers = cfg.RNG_SEED, cfg.DATA_LOADER.NUM_WORKERS
    common = dict(num_workers=workers, pin_memory=cfg.DATA_LOADER.PIN_MEMORY and torch.cuda.is_available(),
                  worker_init_fn=worker_init, persistent_workers=cfg.DATA_LOADER.PERSISTENT_WORKERS and workers > 0,
                  generator=torch.Generator().manual_seed(seed + rank),
                  multiprocessing_context=worker_context(cfg))
    if not train:
        batches = EvalBatchSampler(ShardSampler(len(dataset), rank, world), batch, workers)
        return DataLoader(dataset, batch_sampler=batches, **common)
    if not plan.uniform:  # uneven shares: this process's slice of each step, in its micro-batches
        if len(dataset) < plan.effective:
            raise ConfigError(f"config key TRAIN.BATCH_SIZE = {plan.effective} is invalid: expected at most the "
                              f"{len(dataset)} videos of the {cfg.TRAIN.DATASET} train split: split unevenly over "
                              f"{world} processes (at most {plan.per_process} clips at once) an epoch runs whole "
                              "optimizer steps only; lower TRAIN.BATCH_SIZE (scale SOLVER.BASE_LR with it)")
        steps = TrainSampler(StepBatches(len(dataset), plan, rank), seed, skip=start_iter)
        return DataLoader(dataset, batch_sampler=steps, **common)
    order = (DistributedSampler(dataset, world, rank, shuffle=True, seed=seed, drop_last=True)
             if world > 1 else RandomSampler(dataset, generator=torch.Generator().manual_seed(seed)))
    sampler = TrainSampler(order, seed, skip=start_iter * batch)
    return DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=len(dataset) >= batch, **common)


def shuffle_dataset(loader: DataLoader, epoch: int, seed: Optional[int] = None) -> None:
    """Give the training sampler and dataset the epoch: every epoch (and rank) sees a new order and
    new random clips; ``seed`` (the epoch's, on this rank) restarts the generator the workers'
    seeds come from."""
    for sampler in (loader.sampler, loader.batch_sampler):  # TrainSampler: one or the other
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
    if seed is not None and loader.generator is not None:
        loader.generator.manual_seed(seed)
    loader.dataset.set_epoch(epoch)


def build_mixup(cfg: CfgNode):
    """timm Mixup/CutMix with label smoothing for (B, C, T, H, W) clips, or None when off; with
    DATA.MULTI_LABEL timm's multi-label mode (multi-hot targets, each smoothed towards 0.5)."""
    if not cfg.MIXUP.ENABLE:
        return None
    from .mixup import VideoMixup

    m = cfg.MIXUP
    return VideoMixup(mixup_alpha=m.ALPHA, cutmix_alpha=m.CUTMIX_ALPHA, prob=m.PROB,
                      switch_prob=m.SWITCH_PROB, label_smoothing=m.LABEL_SMOOTH_VALUE,
                      num_classes=cfg.MODEL.NUM_CLASSES, multi_label=cfg.DATA.MULTI_LABEL)


def check_data_config(cfg: CfgNode) -> None:
    """Raise ConfigError for a DATA, DATA_LOADER, AUG, MIXUP or dataset key that cannot work (run by
    ``build_loader``, and by ``timesformer.engine.check_config`` before a run starts)."""
    d = cfg.DATA
    known = [require(name in DATASETS, key, name, f"one of {sorted(DATASETS)}")
             for key, name in (("TRAIN.DATASET", cfg.TRAIN.DATASET), ("TEST.DATASET", cfg.TEST.DATASET))]
    require(d.DECODING_BACKEND in BACKENDS, "DATA.DECODING_BACKEND", d.DECODING_BACKEND, f"one of {BACKENDS}")
    require(d.DECODING_DEVICE in DEVICES, "DATA.DECODING_DEVICE", d.DECODING_DEVICE, f"one of {DEVICES}")
    require(d.DECODING_DEVICE == "cpu" or d.DECODING_BACKEND == "torchcodec", "DATA.DECODING_DEVICE",
            d.DECODING_DEVICE, f"'cpu' with DATA.DECODING_BACKEND {d.DECODING_BACKEND!r}: only torchcodec "
            "decodes on a GPU (set DATA.DECODING_BACKEND torchcodec)")
    require(d.DECODING_DEVICE == "cpu" or torch.cuda.is_available(), "DATA.DECODING_DEVICE", d.DECODING_DEVICE,
            "'cpu': torch sees no CUDA GPU here (torch.cuda.is_available() is False)")
    if d.DECODING_BACKEND == "torchcodec":  # the GPU itself is tried where the datasets are built
        problem = torchcodec_problem("cpu")
        require(not problem, "DATA.DECODING_BACKEND", d.DECODING_BACKEND, f"a backend that works here: {problem}")
    scales = d.TRAIN_JITTER_SCALES
    if require(len(scales) == 2 and 0 < scales[0] <= scales[1], "DATA.TRAIN_JITTER_SCALES", scales,
               "[min, max] with 0 < min <= max"):
        require(scales[0] >= d.TRAIN_CROP_SIZE, "DATA.TRAIN_JITTER_SCALES", scales,
                f"a minimum of at least DATA.TRAIN_CROP_SIZE = {d.TRAIN_CROP_SIZE}")
    for key in ("SAMPLING_RATE", "TARGET_FPS", "FRAMES_FPS"):
        require(d[key] > 0, f"DATA.{key}", d[key], "a positive number")
    for key in ("MEAN", "STD"):
        require(len(d[key]) == 3, f"DATA.{key}", d[key], "three values, one per channel")
    require(d.INPUT_CHANNEL_ORDER in CHANNEL_ORDERS, "DATA.INPUT_CHANNEL_ORDER", d.INPUT_CHANNEL_ORDER,
            " or ".join(repr(o) for o in CHANNEL_ORDERS) + " (lower case)")
    require(all(v > 0 for v in d.STD), "DATA.STD", d.STD, "positive values")
    require(d.MAX_BAD_VIDEO_RETRIES >= 0, "DATA.MAX_BAD_VIDEO_RETRIES", d.MAX_BAD_VIDEO_RETRIES, ">= 0")
    fraction = d.MAX_BAD_VIDEO_FRACTION
    require(0.0 <= fraction <= 1.0, "DATA.MAX_BAD_VIDEO_FRACTION", fraction,
            "a fraction in [0, 1] (0 stops at the first bad file, 1 never)")
    require(cfg.TEST.NUM_SPATIAL_CROPS in (1, 3), "TEST.NUM_SPATIAL_CROPS", cfg.TEST.NUM_SPATIAL_CROPS, "1 or 3")
    require(cfg.TEST.NUM_ENSEMBLE_VIEWS >= 1, "TEST.NUM_ENSEMBLE_VIEWS", cfg.TEST.NUM_ENSEMBLE_VIEWS, ">= 1")
    require(cfg.DATA_LOADER.NUM_WORKERS >= 0, "DATA_LOADER.NUM_WORKERS", cfg.DATA_LOADER.NUM_WORKERS, ">= 0")
    require(not (known[0] and DATASETS[cfg.TRAIN.DATASET].flip_changes_label and d.RANDOM_FLIP), "DATA.RANDOM_FLIP",
            d.RANDOM_FLIP, f"False for TRAIN.DATASET = {cfg.TRAIN.DATASET!r}: flipping changes its labels "
            "(left/right is part of the class)")
    require(0.0 <= cfg.AUG.RE_PROB <= 1.0, "AUG.RE_PROB", cfg.AUG.RE_PROB, "a probability in [0, 1]")
    require(d.OFFICIAL_SPLIT in (1, 2, 3), "DATA.OFFICIAL_SPLIT", d.OFFICIAL_SPLIT,
            "1, 2 or 3 (UCF101 and HMDB51 have three official splits)")
    require(cfg.DATA.SYNTHETIC_NUM_VIDEOS >= 4, "DATA.SYNTHETIC_NUM_VIDEOS", d.SYNTHETIC_NUM_VIDEOS, ">= 4")
    if cfg.MIXUP.ENABLE:
        require(cfg.MIXUP.ALPHA > 0 or cfg.MIXUP.CUTMIX_ALPHA > 0, "MIXUP.ALPHA", cfg.MIXUP.ALPHA,
                "> 0 (or MIXUP.CUTMIX_ALPHA > 0) when MIXUP.ENABLE is True")
    check_batch_config(cfg)


def check_batch_config(cfg: CfgNode) -> None:
    """TRAIN.BATCH_SIZE splits over the config's processes (``train_batch``), TEST.BATCH_SIZE > 0."""
    require(cfg.TEST.BATCH_SIZE > 0, "TEST.BATCH_SIZE", cfg.TEST.BATCH_SIZE, "a positive integer")
    processes = du.config_world_size(cfg)
    if batch_keys_valid(cfg) and processes >= 1:  # NUM_SHARDS < 1 is the engine's to report
        try:
            train_batch(cfg, processes)
        except ConfigError as e:
            report(str(e))
