"""The training loop: a short ``run_step`` plus hooks for LR, checkpoints, validation and logging.

Resuming is exact: each epoch's data order and RNG streams derive from (RNG_SEED, epoch, rank), and
each clip's random crops from (RNG_SEED, epoch, index) alone, whichever loader worker (persistent or
not) reads it. A mid-epoch checkpoint stores the iteration reached and the RNG state; a resumed run
drops the indices of the batches already done from the epoch's order (nothing is decoded), then
restores the RNG state, so it ends with the same weights as a run that was never interrupted.
"""
import contextlib
import functools
import logging
import math
import random
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy
from torch import nn

from timesformer.checkpoint import Checkpointer, capture_rng_state, restore_rng_state
from timesformer.data import build_loader, build_mixup, normalize, shuffle_dataset, train_batch
from timesformer.solver import build_optimizer, check_solver_config, get_lr_at_epoch
from timesformer.utils import distributed as du
from timesformer.utils.amp import autocast
from timesformer.utils.compile import compile_model
from timesformer.utils.meters import reported_topk, topk_correct

from . import hooks as H
from .checks import check_engine_config
from .divergence import check_saveable, diverged
from .resume import resume_or_load
from .writers import StatsWriter, WandbRun

logger = logging.getLogger(__name__)


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def epoch_seed(cfg, epoch: int) -> int:
    """The seed of one epoch on this rank."""
    return cfg.RNG_SEED + 100_003 * (epoch + 1) + 1_009 * du.get_rank()


class Trainer:
    """Builds model, optimizer, loaders and hooks from a config and runs the epochs; its records also
    go to ``wandb_run`` (LOG.WANDB, rank 0) when given."""

    def __init__(self, cfg, device: torch.device, model: nn.Module, wandb_run: Optional[WandbRun] = None):
        check_solver_config(cfg)
        check_engine_config(cfg)
        self.cfg, self.device = cfg, device
        self.model = model.to(device)  # the plain module: checkpoints and evaluation use it
        if cfg.TRAIN.ACTIVATION_CHECKPOINTING:
            self.model.model.set_grad_checkpointing(True)
        self.optimizer = build_optimizer(cfg, self.model)
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.TRAIN.MIXED_PRECISION == "fp16")
        net = compile_model(self.model) if cfg.TRAIN.COMPILE else self.model
        if du.get_world_size() > 1:
            net = nn.parallel.DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None)
        self.net = net  # what the step calls: compiled and/or DDP-wrapped
        self.mixup = build_mixup(cfg)
        self.soft_target_loss = SoftTargetCrossEntropy()
        # multi-label: mean BCE over clips and classes; Mixup has smoothed the targets when it is on
        self.multi_label_loss = BinaryCrossEntropy(smoothing=0.0) if cfg.DATA.MULTI_LABEL else None
        self.batch = train_batch(cfg, du.get_world_size())  # TRAIN.BATCH_SIZE over this job's processes
        self.accum = self.batch.accumulation
        self.micro = self.batch.micro_batches(du.get_rank())  # this process's clips in each iteration of a step
        self.checkpointer = Checkpointer(cfg.OUTPUT_DIR, cfg.TRAIN.CHECKPOINT_KEEP_LAST)
        self.writer: Optional[StatsWriter] = None  # opened by train(), at the resume point
        self.wandb_run = wandb_run
        self._loaders: Dict[str, object] = {}
        self.max_epoch = cfg.SOLVER.MAX_EPOCH
        self.epoch, self.epoch_iter, self.iter = 0, 0, 0
        self.stepped, self.step_metrics = False, {}
        self.group_losses: List[float] = []  # mean loss of each iteration of the current accumulation group
        self.rng_to_restore: Optional[dict] = None
        self.hooks: List[H.HookBase] = []
        t = cfg.TRAIN
        self.register_hooks([H.LRScheduler(functools.partial(get_lr_at_epoch, cfg)),
                             H.MetricsWriter(cfg.LOG_PERIOD, clips_per_iter=self.batch.per_iteration),
                             H.PeriodicCheckpointer(t.CHECKPOINT_PERIOD, t.CHECKPOINT_PERIOD_ITERS),
                             H.EvalHook(t.EVAL_PERIOD)])

    # ------------------------------------------------------------------ setup
    def register_hooks(self, hooks: List[H.HookBase]) -> None:
        """Append hooks (each sees this trainer through a weak reference); they run in registration order."""
        for h in hooks:
            h.attach(self)
        self.hooks.extend(hooks)

    def loader(self, split: str):
        """The DataLoader of ``split``, built once (train: when training starts, from the resume
        point's iteration of its epoch)."""
        if split not in self._loaders:
            start = self.epoch_iter if split == "train" else 0
            self._loaders[split] = build_loader(self.cfg, split, start_iter=start)
        return self._loaders[split]

    @property
    def iters_per_epoch(self) -> int:
        """Loader batches per epoch."""
        return len(self.loader("train"))

    def model_for_eval(self) -> nn.Module:
        """The module evaluation runs (compiled when TRAIN.COMPILE, never DDP-wrapped)."""
        return self.net.module if isinstance(self.net, nn.parallel.DistributedDataParallel) else self.net

    def resume(self, start=None) -> None:
        """Auto-resume / load weights as ``start`` (a ``resume.Start``; None: decided here) says."""
        state = resume_or_load(self.cfg, self.checkpointer, self.model, self.optimizer, self.scaler, start=start)
        if state:
            self.epoch = int(state.get("epoch", 0))
            self.iter = int(state.get("iteration", 0))
            self.epoch_iter = self._resumed_epoch_iter(state)
            saved = self._saved_per_rank(state)
            # re-applied once the epoch's loader is set up; an epoch that starts afresh is seeded
            # afresh, as in an uninterrupted run
            self.rng_to_restore = self._rank_rng(saved) if self.epoch_iter else None
            for h in self.hooks:
                states = saved.get("hooks", {}).get(type(h).__name__)
                if states:
                    h.load_state_dict(states)
            if self.epoch >= self.max_epoch:
                done = (f"epoch {self.epoch} of {self.max_epoch}" if self.epoch == self.max_epoch else
                        f"{self.epoch} epochs, more than SOLVER.MAX_EPOCH = {self.max_epoch}")
                logger.info("the run in OUTPUT_DIR already finished (%s): nothing to train; raise "
                            "SOLVER.MAX_EPOCH to train on, or give a new OUTPUT_DIR for a new run", done)
            else:
                logger.info("resuming at epoch %d, iteration %d of the epoch (global %d)",
                            self.epoch + 1, self.epoch_iter, self.iter)

    def _resumed_epoch_iter(self, state: dict) -> int:
        """The checkpoint's iteration of its epoch, in this run's iterations: a run whose clips per
        iteration differ (another process count or TRAIN.MAX_BATCH_PER_PROCESS) continues after the
        same optimizer steps (mid-epoch checkpoints are saved at step boundaries). Clips per iteration
        are a step's mean (TrainBatch.per_iteration): a float with uneven shares."""
        done = int(state.get("epoch_iteration", 0))
        saved = float(state.get("clips_per_iteration") or self.batch.per_iteration)
        if not done or saved == self.batch.per_iteration:
            return done
        steps = round(done * saved / self.batch.effective)
        logger.warning("the checkpoint ran %g clips per iteration, this run %g (%d processes, at most %d clips "
                       "each): continuing after its %d optimizer steps of the epoch, at iteration %d (with another "
                       "process count the epoch's remaining clips are not those of an uninterrupted run)", saved,
                       self.batch.per_iteration, self.batch.processes, self.batch.per_process, steps,
                       steps * self.accum)
        return steps * self.accum

    @staticmethod
    def _saved_per_rank(state: dict) -> dict:
        """The per-rank entries of the checkpoint resumed from ({} for one without a path), as
        resume_or_load returned them: the file is not read again."""
        if not state.get("path"):
            return {}
        return {"rng": state.get("rng_per_rank") or [], "hooks": state.get("hooks") or {}}

    @staticmethod
    def _rank_rng(saved: dict) -> dict:
        """This rank's RNG state at the resume point (resume_or_load restored rank 0's)."""
        if du.get_world_size() == 1 or not saved:
            return capture_rng_state()
        per_rank = saved["rng"]
        if len(per_rank) != du.get_world_size():
            logger.warning("the checkpoint holds RNG states for %d processes, this run has %d: random "
                           "augmentation and drop-path differ from an uninterrupted run", len(per_rank),
                           du.get_world_size())
            return capture_rng_state()
        return per_rank[du.get_rank()]

    @property
    def class_names(self) -> Optional[List[str]]:
        """The training set's class names (None when it names none): every checkpoint stores them, so
        that predict, export and conversions name the classes wherever the weights go."""
        names = getattr(self.loader("train").dataset, "class_names", None)
        return list(names) if names else None

    def save_checkpoint(self, epoch: int, epoch_iteration: int) -> None:
        """Save the full training state (rank 0), with the class names; ``epoch`` is the epoch to continue with."""
        iteration = self.iter + 1 if epoch_iteration else self.iter
        loss = sum(self.group_losses) / len(self.group_losses) if self.group_losses else None
        check_saveable(self, iteration, loss)  # no checkpoint of a blown-up state (engine/divergence.py)
        hooks = {type(h).__name__: h.state_dict() for h in self.hooks}
        hooks = {name: state for name, state in hooks.items() if state is not None}
        ranks = du.all_gather_object((capture_rng_state(), hooks))  # every rank's, for an exact resume
        if du.is_main_process():
            rngs = [rng for rng, _ in ranks]
            state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "scaler": self.scaler.state_dict(), "epoch": epoch, "iteration": iteration,
                     "epoch_iteration": epoch_iteration, "clips_per_iteration": self.batch.per_iteration,
                     "loss": loss,
                     "rng": rngs[0], "rng_per_rank": rngs, "cfg": self.cfg.dump(),
                     "hooks": {name: [h[name] for _, h in ranks] for name in ranks[0][1]}}
            if self.class_names:
                state["class_names"] = self.class_names
            self.checkpointer.save(state, epoch=epoch, iteration=state["iteration"])
        du.synchronize()

    # ------------------------------------------------------------------ loop
    def _call(self, name: str) -> None:
        for h in self.hooks:
            getattr(h, name)()

    def _epoch_batches(self):
        """This epoch's batches from ``epoch_iter`` on, in the order an uninterrupted run sees them."""
        seed = epoch_seed(self.cfg, self.epoch)
        seed_all(seed)
        loader = self.loader("train")  # built at the resume point: its first pass skips the batches done
        shuffle_dataset(loader, self.epoch, seed)  # the order and the workers' seeds start afresh
        it = iter(loader)
        if self.rng_to_restore is not None:
            restore_rng_state(self.rng_to_restore)
            self.rng_to_restore = None
        return it

    def train(self) -> None:
        """Run epochs ``self.epoch .. MAX_EPOCH - 1``, resuming inside an epoch when needed."""
        self.net.train()
        # supersedes the records a killed run wrote after the checkpoint this one resumed from
        self.writer = StatsWriter(self.cfg.OUTPUT_DIR, purge_step=self.iter + 1, wandb=self.wandb_run)
        try:
            self._call("before_train")
            while self.epoch < self.max_epoch:
                batches = self._epoch_batches()
                self._call("before_epoch")
                self._last_end = time.perf_counter()
                for batch in batches:
                    self._call("before_step")
                    self.run_step(batch)
                    self._call("after_step")
                    self.iter += 1
                    self.epoch_iter += 1
                self._call("after_epoch")
                self.epoch += 1
                self.epoch_iter = 0
            self._call("after_train")
        finally:
            self.writer.close()

    def group_start(self) -> int:
        """The first iteration (of the epoch) of the current gradient-accumulation group."""
        return self.epoch_iter - self.epoch_iter % self.accum

    def group_size(self) -> int:
        """Iterations in the current accumulation group: ``accum``, fewer in an epoch's last group."""
        return min(self.accum, self.iters_per_epoch - self.group_start())

    def _is_boundary(self) -> bool:
        return self.epoch_iter + 1 == self.group_start() + self.group_size()

    def run_step(self, batch: Dict[str, torch.Tensor]) -> None:
        """One iteration: forward, loss, backward; an optimizer step every ``accum`` iterations."""
        start = time.perf_counter()
        data_time = start - self._last_end
        x = normalize(batch["frames"].to(self.device, non_blocking=True), self.cfg.DATA.MEAN,
                      self.cfg.DATA.STD)  # (B, C, T, H, W) float
        labels = batch["label"].to(self.device, non_blocking=True)  # (B,), multi-hot (B, C) with DATA.MULTI_LABEL
        target = labels
        if self.mixup is not None:
            x, target = self.mixup(x, labels)  # target (B, C) soft
        boundary = self._is_boundary()
        sync = (self.net.no_sync() if isinstance(self.net, nn.parallel.DistributedDataParallel)
                and not boundary else contextlib.nullcontext())
        mine, clips, share = self._clip_weights(labels.shape[0])
        with sync:
            with autocast(self.device, self.cfg.TRAIN.MIXED_PRECISION):
                logits = self.net(x)  # (B, num_classes)
                loss = self._loss(logits.float(), target)
            # the mean over the iteration's clips (1.0 x each process's mean when they run as many)
            mean_loss = float(du.all_reduce_sum(loss.detach().float() * (mine / clips)) / du.get_world_size())
            done_in_group = self.epoch_iter - self.group_start()
            self.group_losses = self.group_losses[:done_in_group] + [mean_loss]
            if not math.isfinite(mean_loss):  # the weights of the step at global iteration iter - done_in_group
                raise diverged(self, f"non-finite loss {mean_loss} at iteration {self.iter + 1} (epoch "
                               f"{self.epoch + 1}, iteration {self.epoch_iter + 1} of the epoch)",
                               self.iter - done_in_group)
            self.scaler.scale(loss / share).backward()  # the step's mean over its clips, as one batch
        self.stepped = boundary
        if boundary:
            self._optimizer_step()
        ks = reported_topk(logits.shape[1])
        correct = topk_correct(logits.detach().float(), labels, ks)  # multi-label: a top class is one of the clip's
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        end = time.perf_counter()
        self._last_end = end
        errors = {f"top{k}_err": 100.0 * (1 - c / labels.shape[0]) for k, c in zip(ks, correct, strict=True)}
        self.step_metrics = {"loss": mean_loss, **errors, "lr": self.optimizer.param_groups[0]["lr"],
                             "data_time": data_time, "step_time": end - start,
                             "iter_time": end - start + data_time, "clips": mine, "loss_clips": clips,
                             "replaced": int(batch["num_replaced"].sum())}

    def _clip_weights(self, n: int) -> Tuple[int, float, float]:
        """(this process's clips in the iteration, the iteration's clips per process: the weight of
        its mean loss, what its loss is divided by in the backward pass so that the optimizer step
        sees the mean gradient over the step's clips; DDP averages over the processes). Equal
        shares: ``n`` clips of the batch, the accumulation group's mean. Uneven ones: the batch
        plan's clips, the loss weighted n * processes / TRAIN.BATCH_SIZE; a process with no clip in
        the iteration runs one weighted 0 (StepBatches)."""
        if self.batch.uniform:
            return n, n, self.group_size()
        iteration = self.epoch_iter - self.group_start()
        mine, clips = self.micro[iteration], self.batch.iteration_clips(iteration) / self.batch.processes
        return mine, clips, self.batch.effective / (mine * self.batch.processes) if mine else math.inf

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy (DATA.MULTI_LABEL), cross-entropy with Mixup's soft targets (B, C), or
        with class indices (B,)."""
        if self.multi_label_loss is not None:
            return self.multi_label_loss(logits, target)
        if target.dim() == 2:
            return self.soft_target_loss(logits, target)
        return F.cross_entropy(logits, target)

    def _optimizer_step(self) -> None:
        """Unscale, clip, step, zero the gradients."""
        clip = self.cfg.SOLVER.CLIP_GRAD_NORM
        if clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
